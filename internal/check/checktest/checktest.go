// Package checktest builds check environments from plain data, so checks are tested without root,
// namespaces or a lab: a cluster view, node and pod snapshots, canned route look-ups and probes.
package checktest

import (
	"context"
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"

	"github.com/netdoctor/netdoctor/internal/check"
	"github.com/netdoctor/netdoctor/internal/nodestate"
)

// Views serves snapshots from maps. Routes answers look-ups by node and destination.
type Views struct {
	Nodes  map[string]*nodestate.Snapshot
	Pods   map[string]*nodestate.Snapshot // by namespace/name
	Netnss map[string]*nodestate.Snapshot // by path
	Routes map[string]*nodestate.RouteResult
	// RulesFn, when set, answers Rules (called before and after re-sent probes).
	RulesFn func(at check.Vantage) (*nodestate.Iptables, error)
}

// RouteKey is the key of Routes: node + "→" + destination.
func RouteKey(node string, dst netip.Addr) string { return node + "→" + dst.String() }

// Node returns the node's snapshot.
func (v *Views) Node(_ context.Context, n string) (*nodestate.Snapshot, error) {
	if s, ok := v.Nodes[n]; ok {
		return s, nil
	}
	return nil, fmt.Errorf("no snapshot of node %s", n)
}

// Pod returns the pod's snapshot.
func (v *Views) Pod(_ context.Context, p *corev1.Pod) (*nodestate.Snapshot, error) {
	if s, ok := v.Pods[p.Namespace+"/"+p.Name]; ok {
		return s, nil
	}
	return nil, fmt.Errorf("no snapshot of pod %s/%s", p.Namespace, p.Name)
}

// Netns returns a namespace's snapshot.
func (v *Views) Netns(_ context.Context, path string) (*nodestate.Snapshot, error) {
	if s, ok := v.Netnss[path]; ok {
		return s, nil
	}
	return nil, fmt.Errorf("no snapshot of %s", path)
}

// Route answers from Routes; an unknown look-up is a plain unicast route.
func (v *Views) Route(_ context.Context, node string, q nodestate.RouteQuery) (*nodestate.RouteResult, error) {
	if r, ok := v.Routes[RouteKey(node, q.Dst)]; ok {
		return r, nil
	}
	return &nodestate.RouteResult{Query: q, Type: "unicast"}, nil
}

// Rules answers from RulesFn.
func (v *Views) Rules(_ context.Context, at check.Vantage) (*nodestate.Iptables, error) {
	if v.RulesFn == nil {
		return nil, fmt.Errorf("no rules")
	}
	return v.RulesFn(at)
}

// Prober answers probes with canned observations.
type Prober struct {
	TCPObs  *check.TCPObs
	ICMPObs *check.ICMPObs
	DNSFn   func(q check.DNSQuery) *check.DNSObs
	PMTUObs *check.PMTUObs
}

// TCP returns TCPObs.
func (p *Prober) TCP(context.Context, check.Vantage, netip.AddrPort, int) (*check.TCPObs, error) {
	if p.TCPObs == nil {
		return nil, fmt.Errorf("no tcp")
	}
	return p.TCPObs, nil
}

// Ping returns ICMPObs.
func (p *Prober) Ping(context.Context, check.Vantage, netip.Addr, int, bool, int) (*check.ICMPObs, error) {
	if p.ICMPObs == nil {
		return nil, fmt.Errorf("no icmp")
	}
	return p.ICMPObs, nil
}

// DNS calls DNSFn.
func (p *Prober) DNS(_ context.Context, _ check.Vantage, q check.DNSQuery) (*check.DNSObs, error) {
	if p.DNSFn == nil {
		return nil, fmt.Errorf("no dns")
	}
	return p.DNSFn(q), nil
}

// PMTU returns PMTUObs.
func (p *Prober) PMTU(context.Context, check.Vantage, netip.Addr) (*check.PMTUObs, error) {
	if p.PMTUObs == nil {
		return nil, fmt.Errorf("no pmtu")
	}
	return p.PMTUObs, nil
}

// Addr makes a nodestate address from CIDR text; dynamic marks a DHCP lease.
func Addr(cidr string, dynamic bool) nodestate.Addr {
	p := netip.MustParsePrefix(cidr)
	a := nodestate.Addr{IP: p.Addr(), Prefix: p, Dynamic: dynamic, Permanent: !dynamic}
	if dynamic {
		a.ValidLft = 3600e9
	}
	return a
}

// Node makes a Node with an InternalIP, a pod CIDR and annotations.
func Node(name, internalIP, podCIDR string, ann map[string]string) corev1.Node {
	n := corev1.Node{}
	n.Name, n.Annotations = name, ann
	n.Spec.PodCIDR = podCIDR
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: internalIP}}
	return n
}

// Pod makes a running, ready pod on a node with an IP and labels.
func Pod(ns, name, node, ip string, labels map[string]string) corev1.Pod {
	p := corev1.Pod{}
	p.Namespace, p.Name, p.Labels = ns, name, labels
	p.Spec.NodeName = node
	p.Status.Phase = corev1.PodRunning
	p.Status.PodIP = ip
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	return p
}
