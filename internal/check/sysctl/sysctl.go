// Package sysctl is the check "sysctls": kernel settings on the nodes of the path that silently stop
// pod traffic — IP forwarding off, strict reverse-path filtering dropping tunnelled packets, and
// bridge-nf-call-iptables off for service traffic between pods of one node.
package sysctl

import (
	"context"
	"fmt"

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

// rpFilter applies strict reverse-path filtering the way the kernel does: a packet from src that
// arrives on interface I is dropped when rp_filter is 1 (max of all and I) and the route back to src
// does not leave through I.
func rpFilter(ctx context.Context, env *check.Env, node string, s *nodestate.Snapshot, sev diag.Severity) *diag.Finding {
	src := env.Source.IP
	if !src.IsValid() || env.Source.NodeName() == node && env.Source.Kind == check.KindNode {
		return nil
	}
	in := arrival(env, node, s)
	if in == "" {
		return nil
	}
	mode := max(s.Sysctls.RPFilter["all"], s.Sysctls.RPFilter[in])
	if mode != 1 {
		return nil
	}
	back, err := env.Views.Route(ctx, node, nodestate.RouteQuery{Dst: src})
	if err != nil || back.Dev == "" || back.Dev == in {
		return nil
	}
	f := check.Finding(Name, diag.KindNetworkUnreachable, sev, diag.Hop{Node: node, Interface: in, Where: fmt.Sprintf("%s %s (reverse-path filter)", node, in)},
		fmt.Sprintf("strict rp_filter on %s drops packets from %s arriving on %s: the route back leaves by %s", node, src, in, back.Dev))
	check.Evidencef(f, "%s: net.ipv4.conf.all.rp_filter = %d, net.ipv4.conf.%s.rp_filter = %d (1 = strict)", node, s.Sysctls.RPFilter["all"], in, s.Sysctls.RPFilter[in])
	check.Evidencef(f, "packets from %s reach %s on %s", src, node, in)
	via := ""
	if back.Gw.IsValid() {
		via = " via " + back.Gw.String()
	}
	check.Evidencef(f, "ip route get %s on %s: %s%s dev %s, not %s", src, node, src, via, back.Dev, in)
	f.Cause = fmt.Sprintf("%s checks the source of every packet against its routing table (strict rp_filter); the route to %s leaves by %s, not %s where the packets arrive, so the kernel drops them as spoofed.", node, src, back.Dev, in)
	f.Fix = fmt.Sprintf("On %s: sysctl -w net.ipv4.conf.all.rp_filter=2 net.ipv4.conf.%s.rp_filter=2 (loose), or make the routing symmetric so replies to %s leave by %s.", node, in, src, in)
	return f
}

// arrival is the interface the client's packets arrive on at node: the link holding the target
// address when the node is the target, the tunnel when they come from another node or outside, the
// bridge for a pod on the node.
func arrival(env *check.Env, node string, s *nodestate.Snapshot) string {
	if t := env.Target.IP; t.IsValid() {
		if l := check.NodeLinkWith(s, t); l != nil && (env.Target.Node != nil && env.Target.Node.Name == node) {
			return l.Name
		}
	}
	if env.Source.NodeName() == node {
		return check.BridgeFor(s, env.Source.IP)
	}
	if env.Source.Outside {
		if l := check.NodeLinkWith(s, env.NodeInternalIP(node)); l != nil {
			return l.Name
		}
		return ""
	}
	for _, l := range s.Links {
		if l.VXLAN != nil {
			return l.Name
		}
	}
	return ""
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
