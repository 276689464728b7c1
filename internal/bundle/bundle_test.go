package bundle

import (
	"archive/tar"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/netdoctor/netdoctor/internal/diag"
	"github.com/netdoctor/netdoctor/internal/kube"
)

func TestWriteBundle(t *testing.T) {
	pod := corev1.Pod{}
	pod.Namespace, pod.Name = "shop", "api-0"
	pod.Annotations = map[string]string{"kubectl.kubernetes.io/last-applied-configuration": `{"env":"DB_PASSWORD=hunter2"}`}
	pod.Spec.Containers = []corev1.Container{{Name: "api", Image: "api:1", Env: []corev1.EnvVar{{Name: "DB_PASSWORD", Value: "hunter2"}}}}
	other := corev1.Pod{}
	other.Namespace, other.Name = "unrelated", "x"
	c := &kube.Cluster{Pods: []corev1.Pod{pod, other}}
	rep := &diag.Report{SchemaVersion: 1, Verdict: diag.Verdict{Kind: diag.KindPortUnreachable, Summary: "refused"},
		Findings: []diag.Finding{{Check: "kernel-drops", Severity: diag.SeverityCritical, Evidence: []string{"3× 10.0.0.1 > 10.0.0.2.80 tcp [S]: NO_SOCKET"}}}}
	path := filepath.Join(t.TempDir(), "b.tar.gz")
	if err := Write(path, Contents{Report: rep, Cluster: c, Namespaces: []string{"shop"},
		Snapshots: map[string]any{"node/n1": map[string]int{"links": 3}}}); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("bundle mode %v, err %v; want 0600", st.Mode().Perm(), err)
	}
	files := map[string]string{}
	f, _ := os.Open(path)
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		files[strings.TrimPrefix(h.Name, "netdoctor-bundle/")] = string(b)
	}
	for _, want := range []string{"report.txt", "report.json", "report.html", "drops.json", "nodeview/node_n1.json", "cluster.yaml"} {
		if _, ok := files[want]; !ok {
			t.Errorf("bundle lacks %s (has %v)", want, keys(files))
		}
	}
	all := strings.Join(values(files), "\n")
	if strings.Contains(all, "hunter2") {
		t.Error("a container environment value (a password) is in the bundle")
	}
	if !strings.Contains(files["cluster.yaml"], "api-0") || strings.Contains(files["cluster.yaml"], "unrelated") {
		t.Errorf("cluster.yaml should hold the shop pod only:\n%s", files["cluster.yaml"])
	}
	if err := Write(path, Contents{Report: rep}); err == nil {
		t.Error("overwrote an existing bundle")
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func values(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
