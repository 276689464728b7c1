// Package ipam is the check "ipam": is the node's pod CIDR exhausted (host-local IPAM has no free
// address), so new pods of the target stay without an IP?
package ipam

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/netdoctor/netdoctor/internal/check"
	"github.com/netdoctor/netdoctor/internal/diag"
	"github.com/netdoctor/netdoctor/internal/kube"
)

// Name is the check's stable name.
const Name = "ipam"

// New returns the check.
func New() check.Check { return check.Func(Name, run) }

func run(ctx context.Context, env *check.Env) ([]diag.Finding, error) {
	if env.Views == nil {
		return nil, nil
	}
	nodes := map[string][]*corev1.Pod{}
	for _, n := range env.NodesOnPath() {
		nodes[n] = nil
	}
	stuck := stuckPods(env)
	if s := env.Source; s.Pod != nil && s.NoNetwork {
		stuck = append(stuck, s.Pod)
	}
	for _, p := range stuck {
		nodes[p.Spec.NodeName] = append(nodes[p.Spec.NodeName], p)
	}
	var names []string
	for n := range nodes {
		if n != "" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var out []diag.Finding
	for _, node := range names {
		s, err := env.Views.Node(ctx, node)
		if err != nil {
			return out, fmt.Errorf("read node %s: %w", node, err)
		}
		if s.CNI == nil {
			continue
		}
		for _, r := range s.CNI.IPAM {
			if r.Free > 0 {
				continue
			}
			sev := diag.SeverityWarning
			if len(nodes[node]) > 0 || env.Symptom != diag.KindHealthy {
				sev = diag.SeverityCritical
			}
			f := check.Finding(Name, diag.KindCNIKubeProxy, sev, diag.Hop{Node: node, Where: node + " pod IP allocation (IPAM)"},
				fmt.Sprintf("pod CIDR %s on %s is exhausted: %d addresses used, none free", r.Range, node, r.Used))
			check.Evidencef(f, "%s host-local IPAM network %s range %s: %d used, %d free", node, r.Network, r.Range, r.Used, r.Free)
			running := 0
			for _, p := range env.Cluster.PodsOnNode(node) {
				if p.Status.Phase == corev1.PodRunning && !p.Spec.HostNetwork {
					running++
				}
			}
			check.Evidencef(f, "%d pod-network pods running on %s", running, node)
			if running < r.Used {
				check.Evidencef(f, "%d reservations belong to no running pod (leaked by containers that died without a CNI DEL)", r.Used-running)
			}
			for _, p := range nodes[node] {
				check.Evidencef(f, "pod %s/%s is %s", p.Namespace, p.Name, podState(p))
				for _, ev := range env.Cluster.EventsFor("Pod", p.Namespace, p.Name) {
					if ev.Message != "" {
						check.Evidencef(f, "event %s: %s", ev.Reason, ev.Message)
					}
				}
			}
			f.Cause = fmt.Sprintf("host-local IPAM on %s has handed out every address of %s, so the CNI cannot give new pods an IP and they never start.", node, r.Range)
			f.Fix = fmt.Sprintf("Release leaked reservations on %s (files in /var/lib/cni/networks/%s whose container no longer exists), or give the node a larger pod CIDR / lower maxPods.", node, r.Network)
			out = append(out, *f)
		}
	}
	return out, nil
}

// stuckPods are pods selected by the target service that have no IP yet.
func stuckPods(env *check.Env) []*corev1.Pod {
	t := env.Target
	if t == nil || t.Service == nil || len(t.Service.Spec.Selector) == 0 {
		return nil
	}
	var out []*corev1.Pod
	for i := range env.Cluster.Pods {
		p := &env.Cluster.Pods[i]
		if p.Namespace != t.Service.Namespace || len(kube.PodIPs(p)) > 0 || p.Spec.NodeName == "" {
			continue
		}
		ok := true
		for k, v := range t.Service.Spec.Selector {
			if p.Labels[k] != v {
				ok = false
			}
		}
		if ok {
			out = append(out, p)
		}
	}
	return out
}

func podState(p *corev1.Pod) string {
	var parts []string
	parts = append(parts, string(p.Status.Phase))
	for _, cs := range p.Status.ContainerStatuses {
		if cs.State.Waiting != nil {
			parts = append(parts, cs.State.Waiting.Reason)
		}
	}
	return strings.Join(parts, "/") + " without an IP"
}
