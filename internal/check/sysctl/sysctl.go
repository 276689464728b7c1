// Package sysctl is the check "sysctls": kernel settings on the nodes of the path that silently stop
// pod traffic — IP forwarding off, strict reverse-path filtering dropping tunnelled packets, and
// bridge-nf-call-iptables off for service traffic between pods of one node.
package sysctl

import (
	"context"
	"fmt"
	"strings"

	"github.com/netdoctor/netdoctor/internal/check"
	"github.com/netdoctor/netdoctor/internal/diag"
	"github.com/netdoctor/netdoctor/internal/nodestate"
)

// Name is the check's stable name.
const Name = "sysctls"

// New returns the check.
func New() check.Check { return check.Func(Name, run) }

func run(ctx context.Context, env *check.Env) ([]diag.Finding, error) {
	if env.Views == nil {
		return nil, nil
	}
	sev := diag.SeverityCritical
	if env.Symptom == diag.KindHealthy {
		sev = diag.SeverityWarning
	}
	var out []diag.Finding
	for _, node := range env.NodesOnPath() {
		s, err := env.Views.Node(ctx, node)
		if err != nil {
			return out, fmt.Errorf("read node %s: %w", node, err)
		}
		if !s.Sysctls.IPForward {
			f := check.Finding(Name, diag.KindCNIKubeProxy, sev, diag.Hop{Node: node, Where: node + " IP forwarding"},
				fmt.Sprintf("IP forwarding is disabled on %s", node))
			check.Evidencef(f, "%s: net.ipv4.ip_forward = 0", node)
			for _, dev := range []string{"all", "cni0", "flannel.1"} {
				if v, ok := s.Sysctls.Forwarding[dev]; ok {
					check.Evidencef(f, "%s: net.ipv4.conf.%s.forwarding = %d", node, dev, v)
				}
			}
			f.Cause = fmt.Sprintf("%s does not route packets between its interfaces, so pod traffic that must cross the node (pod ↔ tunnel, pod ↔ NIC) is dropped.", node)
			f.Fix = fmt.Sprintf("On %s: sysctl -w net.ipv4.ip_forward=1 and persist it in /etc/sysctl.d/ (something reset it: look for a sysctl file or a security baseline that sets it to 0).", node)
			out = append(out, *f)
		}
		if f := rpFilter(ctx, env, node, s, sev); f != nil {
			out = append(out, *f)
		}
		if f := bridgeNF(env, node, s, sev); f != nil {
			out = append(out, *f)
		}
	}
	return out, nil
}

// rpFilter looks the packet up as the node receives it (from the source, on the interface it comes
// in by); the kernel refuses the look-up with "invalid cross-device link" when rp_filter drops it.
func rpFilter(ctx context.Context, env *check.Env, node string, s *nodestate.Snapshot, sev diag.Severity) *diag.Finding {
	src, dst := env.Source.IP, env.Target.IP
	if !src.IsValid() || !dst.IsValid() || env.Target.Service != nil {
		if t := env.Target; t.Service != nil {
			if eps := env.ServiceEndpoints(t.Service, t.ServicePort); len(eps.Ready) > 0 {
				dst = eps.Ready[0].IP
			}
		}
		if !src.IsValid() || !dst.IsValid() {
			return nil
		}
	}
	for _, l := range s.Links {
		if l.Name == "lo" || !l.Up || l.Type == "veth" {
			continue
		}
		mode := max(s.Sysctls.RPFilter["all"], s.Sysctls.RPFilter[l.Name])
		if mode != 1 {
			continue
		}
		if check.BridgeFor(s, src) == l.Name {
			continue // the source's own bridge: reverse path matches
		}
		r, err := env.Views.Route(ctx, node, nodestate.RouteQuery{Dst: dst, Src: src, Iif: l.Name})
		if err != nil || r.Error == "" || !strings.Contains(strings.ToLower(r.Error), "cross-device") {
			continue
		}
		f := check.Finding(Name, diag.KindNetworkUnreachable, sev, diag.Hop{Node: node, Interface: l.Name, Where: fmt.Sprintf("%s %s (reverse-path filter)", node, l.Name)},
			fmt.Sprintf("strict rp_filter on %s %s drops packets from %s", node, l.Name, src))
		check.Evidencef(f, "%s: net.ipv4.conf.all.rp_filter = %d, net.ipv4.conf.%s.rp_filter = %d", node, s.Sysctls.RPFilter["all"], l.Name, s.Sysctls.RPFilter[l.Name])
		check.Evidencef(f, "ip route get %s from %s iif %s on %s: %s", dst, src, l.Name, node, r.Error)
		f.Cause = fmt.Sprintf("Packets from %s arriving on %s fail the strict reverse-path check (the route back to %s leaves by another interface), so the kernel drops them.", src, l.Name, src)
		f.Fix = fmt.Sprintf("On %s: sysctl -w net.ipv4.conf.all.rp_filter=2 and net.ipv4.conf.%s.rp_filter=2 (loose), or fix the route so replies leave by %s.", node, l.Name, l.Name)
		return f
	}
	return nil
}

// bridgeNF: pod → ClusterIP → pod on the same node needs the reply to pass iptables while bridged.
func bridgeNF(env *check.Env, node string, s *nodestate.Snapshot, sev diag.Severity) *diag.Finding {
	t := env.Target
	if t.Service == nil || env.Source.Pod == nil || env.Source.NodeName() != node {
		return nil
	}
	same := false
	for _, ep := range env.ServiceEndpoints(t.Service, t.ServicePort).Ready {
		if ep.Node == node || check.BridgeFor(s, ep.IP) != "" && check.BridgeFor(s, ep.IP) == check.BridgeFor(s, env.Source.IP) {
			same = true
		}
	}
	if !same {
		return nil
	}
	v := s.Sysctls.BridgeNFCallIptables
	if v != nil && *v {
		return nil
	}
	state := "br_netfilter not loaded"
	if v != nil {
		state = "net.bridge.bridge-nf-call-iptables = 0"
	}
	f := check.Finding(Name, diag.KindCNIKubeProxy, sev, diag.Hop{Node: node, Interface: check.BridgeFor(s, env.Source.IP), Where: node + " bridge netfilter"},
		fmt.Sprintf("bridged traffic on %s bypasses iptables (%s)", node, state))
	check.Evidencef(f, "%s: %s", node, state)
	check.Evidencef(f, "client %s and an endpoint of %s/%s share the bridge %s on %s", env.Source.IP, t.Service.Namespace, t.Service.Name, check.BridgeFor(s, env.Source.IP), node)
	f.Cause = "Replies between pods on the same bridge are switched, not routed; without bridge-nf-call-iptables conntrack never reverses the service DNAT, so the client gets replies from the pod IP instead of the ClusterIP and drops them."
	f.Fix = fmt.Sprintf("On %s: modprobe br_netfilter; sysctl -w net.bridge.bridge-nf-call-iptables=1 (persist both).", node)
	return f
}
