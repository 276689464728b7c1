// Package netpol evaluates Kubernetes NetworkPolicies (networking.k8s.io/v1) for one flow, with
// the upstream semantics: a pod is isolated for a direction when any policy of its namespace
// selects it with that policy type; an isolated pod accepts (ingress) or sends (egress) only what
// the union of those policies' rules allows; a flow passes when both the source's egress and the
// target's ingress allow it. Peers: podSelector (the policy's namespace), namespaceSelector,
// both (pods matching in matching namespaces), ipBlock with except. Ports: number, name
// (resolved on the destination pod's containers), endPort ranges, protocol (default TCP).
//
// Pure: no I/O, no clock; the caller passes the objects.
package netpol

import (
	"net/netip"
	"sort"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// NamespaceNameLabel is the label the API server sets on every Namespace (Kubernetes ≥ 1.21); it
// stands in for a Namespace object the caller does not have.
const NamespaceNameLabel = "kubernetes.io/metadata.name"

// Endpoint is one end of a flow: a pod (Pod set) or an address outside any pod (Pod nil).
type Endpoint struct {
	// Pod is the pod, nil for an address that is not a pod (outside, a node's own address).
	Pod *corev1.Pod
	// IP is the endpoint's address (the pod IP for a pod).
	IP netip.Addr
}

// Flow is what is evaluated: from Src to Dst's Port over Protocol. Port is the port on the
// destination pod (after a Service's DNAT); 0 means a protocol without ports (ICMP), which only
// rules without ports allow.
type Flow struct {
	Src, Dst Endpoint
	Protocol corev1.Protocol // TCP, UDP, SCTP; "" is TCP
	Port     int
}

// Side is the evaluation of one direction: the source's egress or the target's ingress.
type Side struct {
	// Pod is "namespace/name" of the pod on this side, "" when this side is not a pod (then no
	// policy can apply and Allowed is true).
	Pod string `json:"pod,omitempty"`
	// Selecting lists the policies ("namespace/name") that select the pod for this direction; the
	// pod is isolated for it when the list is not empty.
	Selecting []string `json:"selecting,omitempty"`
	// AllowedBy lists the selecting policies with a rule that allows the flow.
	AllowedBy []string `json:"allowedBy,omitempty"`
	// Allowed is true when the pod is not isolated, or some selecting policy allows the flow.
	Allowed bool `json:"allowed"`
}

// Isolated reports whether any policy selects this side for its direction.
func (s Side) Isolated() bool { return len(s.Selecting) > 0 }

// Verdict is the evaluation of a flow in both directions.
type Verdict struct {
	Egress  Side `json:"egress"`  // the source pod's egress policies
	Ingress Side `json:"ingress"` // the target pod's ingress policies
	// Allowed is Egress.Allowed && Ingress.Allowed.
	Allowed bool `json:"allowed"`
}

// Namespaces returns the Namespace object of a name, or nil when unknown (then only the
// kubernetes.io/metadata.name label is assumed).
type Namespaces func(name string) *corev1.Namespace

// Evaluate returns the verdict of the policies for f. Policies that fail to parse (a bad label
// selector, a bad CIDR) select nothing and allow nothing, like an API server would have refused
// them.
func Evaluate(policies []networkingv1.NetworkPolicy, ns Namespaces, f Flow) Verdict {
	if f.Protocol == "" {
		f.Protocol = corev1.ProtocolTCP
	}
	v := Verdict{
		Egress:  evaluate(policies, ns, f, networkingv1.PolicyTypeEgress),
		Ingress: evaluate(policies, ns, f, networkingv1.PolicyTypeIngress),
	}
	v.Allowed = v.Egress.Allowed && v.Ingress.Allowed
	return v
}

func evaluate(policies []networkingv1.NetworkPolicy, ns Namespaces, f Flow, dir networkingv1.PolicyType) Side {
	self, peer := f.Dst, f.Src
	if dir == networkingv1.PolicyTypeEgress {
		self, peer = f.Src, f.Dst
	}
	s := Side{Allowed: true}
	if self.Pod == nil || self.Pod.Spec.HostNetwork {
		return s
	}
	s.Pod = self.Pod.Namespace + "/" + self.Pod.Name
	for i := range policies {
		p := &policies[i]
		if p.Namespace != self.Pod.Namespace || !hasType(p, dir) || !selects(&p.Spec.PodSelector, self.Pod.Labels) {
			continue
		}
		name := p.Namespace + "/" + p.Name
		s.Selecting = append(s.Selecting, name)
		if allows(p, ns, f, peer, dir) {
			s.AllowedBy = append(s.AllowedBy, name)
		}
	}
	sort.Strings(s.Selecting)
	sort.Strings(s.AllowedBy)
	s.Allowed = len(s.Selecting) == 0 || len(s.AllowedBy) > 0
	return s
}

// hasType applies the defaulting of spec.policyTypes: Ingress always, Egress when the policy has
// egress rules.
func hasType(p *networkingv1.NetworkPolicy, dir networkingv1.PolicyType) bool {
	if len(p.Spec.PolicyTypes) == 0 {
		return dir == networkingv1.PolicyTypeIngress || len(p.Spec.Egress) > 0
	}
	for _, t := range p.Spec.PolicyTypes {
		if t == dir {
			return true
		}
	}
	return false
}

func allows(p *networkingv1.NetworkPolicy, ns Namespaces, f Flow, peer Endpoint, dir networkingv1.PolicyType) bool {
	if dir == networkingv1.PolicyTypeIngress {
		for _, r := range p.Spec.Ingress {
			if peersMatch(r.From, p.Namespace, ns, peer) && portsMatch(r.Ports, f) {
				return true
			}
		}
		return false
	}
	for _, r := range p.Spec.Egress {
		if peersMatch(r.To, p.Namespace, ns, peer) && portsMatch(r.Ports, f) {
			return true
		}
	}
	return false
}

// peersMatch: an empty list matches every peer; otherwise any one peer.
func peersMatch(peers []networkingv1.NetworkPolicyPeer, policyNS string, ns Namespaces, e Endpoint) bool {
	if len(peers) == 0 {
		return true
	}
	for i := range peers {
		if peerMatches(&peers[i], policyNS, ns, e) {
			return true
		}
	}
	return false
}

func peerMatches(p *networkingv1.NetworkPolicyPeer, policyNS string, ns Namespaces, e Endpoint) bool {
	if p.IPBlock != nil {
		return ipBlockMatches(p.IPBlock, e.IP)
	}
	if e.Pod == nil || (p.PodSelector == nil && p.NamespaceSelector == nil) {
		return false
	}
	if p.NamespaceSelector == nil {
		if e.Pod.Namespace != policyNS {
			return false
		}
	} else if !selects(p.NamespaceSelector, namespaceLabels(ns, e.Pod.Namespace)) {
		return false
	}
	return p.PodSelector == nil || selects(p.PodSelector, e.Pod.Labels)
}

func namespaceLabels(ns Namespaces, name string) map[string]string {
	out := map[string]string{}
	if ns != nil {
		if o := ns(name); o != nil {
			for k, v := range o.Labels {
				out[k] = v
			}
		}
	}
	if _, ok := out[NamespaceNameLabel]; !ok {
		out[NamespaceNameLabel] = name
	}
	return out
}

func ipBlockMatches(b *networkingv1.IPBlock, ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	ip = ip.Unmap()
	cidr, err := netip.ParsePrefix(b.CIDR)
	if err != nil || !cidr.Contains(ip) {
		return false
	}
	for _, ex := range b.Except {
		if p, err := netip.ParsePrefix(ex); err == nil && p.Contains(ip) {
			return false
		}
	}
	return true
}

// selects matches a label selector; an empty selector selects everything, a bad one nothing.
func selects(sel *metav1.LabelSelector, set map[string]string) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return false
	}
	return s.Matches(labels.Set(set))
}
