// Package kubeproxy is the check "kube-proxy": is kube-proxy running on the client's node, and did it
// write the NAT rules for the service addresses the client's packets go to?
//
// Seed case 3: kube-proxy pods evicted on new nodes (no priority class) leave those nodes without
// KUBE-SERVICES rules, so DNS through the kube-dns ClusterIP fails there while pod IPs answer.
package kubeproxy

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/netdoctor/netdoctor/internal/check"
	"github.com/netdoctor/netdoctor/internal/diag"
	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/nodestate"
)

// Name is the check's stable name.
const Name = "kube-proxy"

// New returns the check.
func New() check.Check { return check.Func(Name, run) }

func run(ctx context.Context, env *check.Env) ([]diag.Finding, error) {
	node := env.Source.NodeName()
	vips := env.ServiceVIPs()
	if node == "" || len(vips) == 0 {
		return nil, nil // outside the cluster, or no service address on the path
	}
	snap, err := env.Views.Node(ctx, node)
	if err != nil {
		return nil, fmt.Errorf("read node %s: %w", node, err)
	}
	pods := env.Cluster.KubeProxyPods(node)
	podState, podOK := describePods(pods)
	kubeServices := snap.Iptables.Chain("nat", "KUBE-SERVICES")
	svcChains := countChains(snap.Iptables, "KUBE-SVC-")
	nftKP := snap.Nft != nil && snap.Nft.Table("ip", "kube-proxy") != nil

	var missing []string
	var walks []*nodestate.NATWalk
	for _, v := range vips {
		w := snap.WalkNAT(nodestate.Packet{Src: env.Source.IP, Dst: v.Addr.Addr(), DstPort: v.Addr.Port(), Proto: v.Proto,
			InIface: check.BridgeFor(snap, env.Source.IP), Local: env.Source.Kind == check.KindNode})
		walks = append(walks, w)
		if !w.Matched && w.Rejected == "" {
			missing = append(missing, fmt.Sprintf("%s/%s %s (%s, %s)", v.Service.Namespace, v.Service.Name, v.Addr, v.Proto, v.Why))
		}
	}
	hop := diag.Hop{Node: node, Where: node + " kube-proxy NAT rules (iptables nat table)"}
	var out []diag.Finding
	switch {
	case len(missing) > 0:
		f := check.Finding(Name, diag.KindCNIKubeProxy, diag.SeverityCritical, hop, "")
		if !podOK {
			f.Title = fmt.Sprintf("kube-proxy is not running on %s, so it has no NAT rules for service addresses", node)
			f.Cause = fmt.Sprintf("The kube-proxy pod of node %s is %s. Without kube-proxy the node has no rules that translate ClusterIPs to pod IPs, so packets to %s leave the pod untranslated and are lost.", node, podState, strings.Join(missing, ", "))
		} else {
			f.Title = fmt.Sprintf("kube-proxy on %s has not written NAT rules for %s", node, strings.Join(missing, ", "))
			f.Cause = fmt.Sprintf("kube-proxy runs on %s (%s) but its NAT table has no rule for the service address, so the packets are never translated to a pod IP.", node, podState)
		}
		check.Evidencef(f, "kube-proxy on %s: %s", node, podState)
		for _, p := range pods {
			pc := p.Spec.PriorityClassName
			if pc == "" {
				pc = "(none)"
			}
			check.Evidencef(f, "pod %s/%s: phase %s, reason %q, priorityClassName %s", p.Namespace, p.Name, p.Status.Phase, p.Status.Reason, pc)
			if p.Status.Message != "" {
				check.Evidencef(f, "pod %s/%s message: %s", p.Namespace, p.Name, p.Status.Message)
			}
			for _, ev := range env.Cluster.EventsFor("Pod", p.Namespace, p.Name) {
				check.Evidencef(f, "event %s on pod %s: %s", ev.Reason, p.Name, ev.Message)
			}
		}
		// A DaemonSet replaces an evicted pod, so the eviction lives on in the kubelet's Events
		// (source.host is the node) for a pod that no longer exists.
		for _, ev := range goneKubeProxyEvents(env, node, pods) {
			check.Evidencef(f, "event %s on earlier pod %s (gone, node %s): %s", ev.Reason, ev.InvolvedObject.Name, node, ev.Message)
		}
		if kubeServices == nil {
			check.Evidencef(f, "%s nat table: no KUBE-SERVICES chain (%d KUBE-SVC-* chains)", node, svcChains)
		} else {
			check.Evidencef(f, "%s nat table: KUBE-SERVICES has %d rules, %d KUBE-SVC-* chains", node, len(kubeServices.Rules), svcChains)
		}
		if nftKP {
			check.Evidencef(f, "%s has an nftables kube-proxy table", node)
		}
		for _, m := range missing {
			check.Evidencef(f, "no NAT rule matches %s on %s", m, node)
		}
		if other := otherNodeWithRules(ctx, env, node); other != "" {
			check.Evidencef(f, "for comparison, %s", other)
		}
		f.Fix = fixFor(env, pods, podOK)
		out = append(out, *f)
	case !podOK:
		f := check.Finding(Name, diag.KindCNIKubeProxy, diag.SeverityWarning, hop,
			fmt.Sprintf("kube-proxy on %s is %s, though its rules are still in place", node, podState))
		f.Cause = "Rules left by a kube-proxy that is no longer running go stale as services and endpoints change."
		check.Evidencef(f, "kube-proxy on %s: %s", node, podState)
		f.Fix = fixFor(env, pods, podOK)
		out = append(out, *f)
	}
	return out, nil
}

// goneKubeProxyEvents are Warning Events the kubelet of node posted for kube-proxy pods that are
// no longer in the cluster view (named like its pods: the DaemonSet's name and a suffix).
func goneKubeProxyEvents(env *check.Env, node string, current []*corev1.Pod) []*corev1.Event {
	ds := env.Cluster.KubeProxyDaemonSet()
	prefix := "kube-proxy-"
	if ds != nil {
		prefix = ds.Name + "-"
	}
	var out []*corev1.Event
	for i := range env.Cluster.Events {
		ev := &env.Cluster.Events[i]
		o := ev.InvolvedObject
		if ev.Type != corev1.EventTypeWarning || o.Kind != "Pod" || ev.Source.Host != node || !strings.HasPrefix(o.Name, prefix) ||
			env.Cluster.Pod(o.Namespace, o.Name) != nil {
			continue
		}
		gone := true
		for _, p := range current {
			gone = gone && p.Name != o.Name
		}
		if gone {
			out = append(out, ev)
		}
	}
	return out
}

func describePods(pods []*corev1.Pod) (string, bool) {
	if len(pods) == 0 {
		return "missing (no kube-proxy pod on the node)", false
	}
	var parts []string
	ok := false
	for _, p := range pods {
		state := string(p.Status.Phase)
		if p.Status.Reason != "" {
			state += "/" + p.Status.Reason
		}
		if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
			ok = true
			if !kube.PodReady(p) {
				state += " (not ready)"
			}
		}
		parts = append(parts, fmt.Sprintf("pod %s %s", p.Name, state))
	}
	return strings.Join(parts, ", "), ok
}

func countChains(ipt *nodestate.Iptables, prefix string) int {
	if ipt == nil || ipt.Tables["nat"] == nil {
		return 0
	}
	n := 0
	for name := range ipt.Tables["nat"].Chains {
		if strings.HasPrefix(name, prefix) {
			n++
		}
	}
	return n
}

// otherNodeWithRules finds another node whose NAT table does translate the first service VIP, to
// show the difference (best effort, bounded by ctx).
func otherNodeWithRules(ctx context.Context, env *check.Env, exclude string) string {
	vips := env.ServiceVIPs()
	for _, n := range env.Cluster.Nodes {
		if n.Name == exclude {
			continue
		}
		s, err := env.Views.Node(ctx, n.Name)
		if err != nil || s == nil {
			continue
		}
		v := vips[0]
		w := s.WalkNAT(nodestate.Packet{Dst: v.Addr.Addr(), DstPort: v.Addr.Port(), Proto: v.Proto})
		if w.Matched {
			var eps []string
			for _, e := range w.Endpoints {
				eps = append(eps, e.Addr.String())
			}
			return fmt.Sprintf("%s translates %s to %s (%d KUBE-SVC-* chains)", n.Name, v.Addr, strings.Join(eps, ", "), countChains(s.Iptables, "KUBE-SVC-"))
		}
	}
	return ""
}

func fixFor(env *check.Env, pods []*corev1.Pod, running bool) string {
	ds := env.Cluster.KubeProxyDaemonSet()
	name, ns := "kube-proxy", "kube-system"
	if ds != nil {
		name, ns = ds.Name, ds.Namespace
	}
	evicted := false
	noPrio := ds != nil && ds.Spec.Template.Spec.PriorityClassName == ""
	for _, p := range pods {
		if p.Status.Reason == "Evicted" {
			evicted = true
		}
		if p.Spec.PriorityClassName == "" {
			noPrio = true
		}
	}
	var b strings.Builder
	if evicted || noPrio {
		fmt.Fprintf(&b, "Give kube-proxy the system-node-critical priority class so the kubelet never evicts it: kubectl -n %s patch daemonset %s -p '{\"spec\":{\"template\":{\"spec\":{\"priorityClassName\":\"system-node-critical\"}}}}'. ", ns, name)
	}
	if !running {
		fmt.Fprintf(&b, "Then delete the failed pod so the DaemonSet recreates it (kubectl -n %s delete pod --field-selector=status.phase=Failed) and check it reaches Running; add readiness probes to applications so they get no traffic from nodes whose data plane is not ready.", ns)
	} else {
		fmt.Fprintf(&b, "Check the kube-proxy logs on the node (kubectl -n %s logs POD) for sync errors, and restart the pod.", ns)
	}
	return strings.TrimSpace(b.String())
}
