// Package bundle writes a diagnosis's evidence bundle: one .tar.gz (mode 0600) with the report as
// text, JSON and HTML, the kernel's drop events, the captures (pcap) of capture localisation, the node-view snapshots of the namespaces on the
// path, and the cluster objects involved — never Secrets, never container environment values (they hold passwords and tokens).
package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/netdoctor/netdoctor/internal/diag"
	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/report"
)

// Contents is what goes into a bundle.
type Contents struct {
	Report *diag.Report
	// Snapshots are node/pod/netns snapshots by a name ("node/node1", "pod/default/web-1").
	Snapshots map[string]any
	Cluster   *kube.Cluster
	// Namespaces selects the Kubernetes namespaces whose objects are included (nodes always are).
	Namespaces []string
	// Files are files to include as they are, by their name in the bundle ("captures/node1_eth0.pcap").
	Files map[string]string
}

// Write writes the bundle to path atomically (a temporary file in the same directory, renamed), mode
// 0600. It refuses to overwrite an existing file.
func Write(path string, c Contents) error {
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("bundle: %s exists: give a new file name", path)
	}
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	now := time.Now()
	add := func(name string, data []byte) error {
		hdr := &tar.Header{Name: "netdoctor-bundle/" + name, Mode: 0o600, Size: int64(len(data)), ModTime: now, Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	for _, f := range []string{"text", "json", "html"} {
		var b bytes.Buffer
		if err := report.Write(&b, c.Report, f); err != nil {
			return fmt.Errorf("bundle: render %s: %w", f, err)
		}
		ext := map[string]string{"text": "txt", "json": "json", "html": "html"}[f]
		if err := add("report."+ext, b.Bytes()); err != nil {
			return fmt.Errorf("bundle: %w", err)
		}
	}
	// The kernel's drop events of the flow, as the kernel-drops check reported them.
	var drops []diag.Finding
	for _, f := range c.Report.Findings {
		if f.Check == "kernel-drops" {
			drops = append(drops, f)
		}
	}
	if len(drops) > 0 {
		b, err := json.MarshalIndent(drops, "", "  ")
		if err != nil {
			return fmt.Errorf("bundle: drops: %w", err)
		}
		if err := add("drops.json", b); err != nil {
			return fmt.Errorf("bundle: %w", err)
		}
	}
	var names []string
	for n := range c.Snapshots {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		b, err := json.MarshalIndent(c.Snapshots[n], "", "  ")
		if err != nil {
			return fmt.Errorf("bundle: snapshot %s: %w", n, err)
		}
		if err := add("nodeview/"+safe(n)+".json", b); err != nil {
			return fmt.Errorf("bundle: %w", err)
		}
	}
	var files []string
	for n := range c.Files {
		files = append(files, n)
	}
	sort.Strings(files)
	for _, n := range files {
		b, err := os.ReadFile(c.Files[n])
		if err != nil {
			return fmt.Errorf("bundle: %w", err)
		}
		if err := add(n, b); err != nil {
			return fmt.Errorf("bundle: %w", err)
		}
	}
	if c.Cluster != nil {
		b, err := clusterObjects(c.Cluster, c.Namespaces)
		if err != nil {
			return err
		}
		if err := add("cluster.yaml", b); err != nil {
			return fmt.Errorf("bundle: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	if err := gz.Close(); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".netdoctor-bundle-*")
	if err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("bundle: %w", err)
	}
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("bundle: write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("bundle: write %s: %w", path, err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	return nil
}

func safe(s string) string { return strings.NewReplacer("/", "_", " ", "_", "..", "_").Replace(s) }

// clusterObjects renders the objects of the selected namespaces (and every Node) as a v1 List,
// with container environment values removed.
func clusterObjects(c *kube.Cluster, namespaces []string) ([]byte, error) {
	want := map[string]bool{}
	for _, n := range namespaces {
		want[n] = true
	}
	var items []any
	typed := func(apiVersion, kind string, obj any) map[string]any {
		b, _ := json.Marshal(obj)
		m := map[string]any{}
		_ = json.Unmarshal(b, &m)
		m["apiVersion"], m["kind"] = apiVersion, kind
		return m
	}
	for _, n := range c.Nodes {
		items = append(items, typed("v1", "Node", n))
	}
	for _, p := range c.Pods {
		if want[p.Namespace] {
			items = append(items, typed("v1", "Pod", scrub(p)))
		}
	}
	for _, s := range c.Services {
		if want[s.Namespace] {
			items = append(items, typed("v1", "Service", s))
		}
	}
	for _, e := range c.EndpointSlices {
		if want[e.Namespace] {
			items = append(items, typed("discovery.k8s.io/v1", "EndpointSlice", e))
		}
	}
	for _, d := range c.DaemonSets {
		if want[d.Namespace] {
			d.Spec.Template.Spec.Containers = scrubContainers(d.Spec.Template.Spec.Containers)
			d.Spec.Template.Spec.InitContainers = scrubContainers(d.Spec.Template.Spec.InitContainers)
			items = append(items, typed("apps/v1", "DaemonSet", d))
		}
	}
	for _, e := range c.Events {
		if want[e.Namespace] {
			items = append(items, typed("v1", "Event", e))
		}
	}
	for _, p := range c.NetworkPolicies {
		if want[p.Namespace] {
			items = append(items, typed("networking.k8s.io/v1", "NetworkPolicy", p))
		}
	}
	b, err := yaml.Marshal(map[string]any{"apiVersion": "v1", "kind": "List", "items": items})
	if err != nil {
		return nil, fmt.Errorf("bundle: cluster objects: %w", err)
	}
	return b, nil
}

// scrub removes what may hold credentials from a pod: container environment values and the
// last-applied annotation (a copy of the manifest, env included).
func scrub(p corev1.Pod) corev1.Pod {
	p.Spec.Containers = scrubContainers(p.Spec.Containers)
	p.Spec.InitContainers = scrubContainers(p.Spec.InitContainers)
	if p.Annotations != nil {
		a := map[string]string{}
		for k, v := range p.Annotations {
			if k != "kubectl.kubernetes.io/last-applied-configuration" {
				a[k] = v
			}
		}
		p.Annotations = a
	}
	return p
}

func scrubContainers(cs []corev1.Container) []corev1.Container {
	out := make([]corev1.Container, len(cs))
	for i, c := range cs {
		for j := range c.Env {
			if c.Env[j].Value != "" {
				c.Env = append([]corev1.EnvVar(nil), c.Env...)
				break
			}
		}
		for j := range c.Env {
			c.Env[j].Value = ""
			c.Env[j].ValueFrom = nil
		}
		c.EnvFrom = nil
		out[i] = c
	}
	return out
}
