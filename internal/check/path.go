package check

import (
	"context"
	"net/netip"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/netdoctor/netdoctor/internal/nodestate"
)

// ServiceVIP is a service address a packet of this diagnosis goes through.
type ServiceVIP struct {
	Service *corev1.Service
	Port    *corev1.ServicePort
	Addr    netip.AddrPort
	Proto   string // tcp, udp
	Why     string // "the target", "the pod's nameserver"
}

// ServiceVIPs lists the ClusterIP:port pairs on the path: the target's, and for DNS the
// nameservers of the client that are service ClusterIPs (port 53, UDP and TCP).
func (e *Env) ServiceVIPs() []ServiceVIP {
	var out []ServiceVIP
	seen := map[string]bool{}
	add := func(v ServiceVIP) {
		k := v.Addr.String() + "/" + v.Proto
		if !seen[k] {
			seen[k] = true
			out = append(out, v)
		}
	}
	if t := e.Target; t != nil && t.Service != nil && t.IP.IsValid() && e.Cluster.ServiceByIP(t.IP) != nil {
		proto := "tcp"
		if t.ServicePort != nil && t.ServicePort.Protocol == corev1.ProtocolUDP || e.Proto == "udp" || (e.Proto == "dns" && t.Port == 53) {
			proto = "udp"
		}
		port := t.Port
		if port == 0 && t.ServicePort != nil {
			port = uint16(t.ServicePort.Port)
		}
		add(ServiceVIP{Service: t.Service, Port: t.ServicePort, Addr: netip.AddrPortFrom(t.IP, port), Proto: proto, Why: "the target"})
	}
	if e.Obs != nil && e.Obs.DNS != nil {
		for _, ns := range e.Obs.DNS.Nameservers {
			if svc := e.Cluster.ServiceByIP(ns); svc != nil {
				for i := range svc.Spec.Ports {
					sp := &svc.Spec.Ports[i]
					if sp.Port == 53 {
						add(ServiceVIP{Service: svc, Port: sp, Addr: netip.AddrPortFrom(ns, 53), Proto: lower(string(sp.Protocol)), Why: "the client's nameserver"})
					}
				}
			}
		}
	}
	return out
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 32
		}
	}
	if len(b) == 0 {
		return "tcp"
	}
	return string(b)
}

// Endpoints are the ready (or all) endpoint addresses of a service port, from its EndpointSlices.
type Endpoints struct {
	Ready    []EndpointAddr
	NotReady []EndpointAddr
}

// EndpointAddr is one endpoint.
type EndpointAddr struct {
	IP       netip.Addr
	Port     uint16
	Node     string
	PodName  string
	PodNS    string
	Terminal bool
}

// ServiceEndpoints reads the EndpointSlices of svc for the port named/numbered like sp.
func (e *Env) ServiceEndpoints(svc *corev1.Service, sp *corev1.ServicePort) Endpoints {
	var out Endpoints
	for _, sl := range e.Cluster.EndpointSlicesFor(svc) {
		var port uint16
		for _, p := range sl.Ports {
			if sp == nil || p.Name != nil && *p.Name == sp.Name || len(sl.Ports) == 1 {
				if p.Port != nil {
					port = uint16(*p.Port)
				}
			}
		}
		for _, ep := range sl.Endpoints {
			for _, a := range ep.Addresses {
				ip, err := netip.ParseAddr(a)
				if err != nil {
					continue
				}
				ea := EndpointAddr{IP: ip, Port: port}
				if ep.NodeName != nil {
					ea.Node = *ep.NodeName
				}
				if ep.TargetRef != nil {
					ea.PodName, ea.PodNS = ep.TargetRef.Name, ep.TargetRef.Namespace
				}
				if ready(ep.Conditions) {
					out.Ready = append(out.Ready, ea)
				} else {
					out.NotReady = append(out.NotReady, ea)
				}
			}
		}
	}
	return out
}

func ready(c discoveryv1.EndpointConditions) bool { return c.Ready == nil || *c.Ready }

// NodesOnPath lists the nodes a packet of this diagnosis touches: the source's, the target's, and
// the nodes of the target service's endpoints. Sorted, no duplicates.
func (e *Env) NodesOnPath() []string {
	set := map[string]bool{}
	if n := e.Source.NodeName(); n != "" {
		set[n] = true
	}
	if n := e.Target.NodeName(); n != "" {
		set[n] = true
	}
	for _, v := range e.ServiceVIPs() {
		eps := e.ServiceEndpoints(v.Service, v.Port)
		for _, ep := range append(eps.Ready, eps.NotReady...) {
			if ep.Node != "" {
				set[ep.Node] = true
			} else if n := e.Cluster.NodeForPodCIDR(ep.IP); n != nil {
				set[n.Name] = true
			}
		}
	}
	var out []string
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// SourceNode snapshots the source's node; nil with no error when the source is outside the cluster.
func (e *Env) SourceNode(ctx context.Context) (*nodestate.Snapshot, error) {
	n := e.Source.NodeName()
	if n == "" || e.Views == nil {
		return nil, nil
	}
	return e.Views.Node(ctx, n)
}

// BridgeFor returns the name of the node link whose subnet holds ip (the CNI bridge of a pod IP),
// "" when none.
func BridgeFor(s *nodestate.Snapshot, ip netip.Addr) string {
	if s == nil {
		return ""
	}
	for _, l := range s.Links {
		for _, a := range l.Addrs {
			if a.Prefix.Contains(ip) && l.Type == "bridge" {
				return l.Name
			}
		}
	}
	for _, l := range s.Links {
		for _, a := range l.Addrs {
			if a.Prefix.Contains(ip) {
				return l.Name
			}
		}
	}
	return ""
}

// PodOf returns the pod of an endpoint address, nil if unknown.
func (e *Env) PodOf(ep EndpointAddr) *corev1.Pod {
	if ep.PodName != "" {
		if p := e.Cluster.Pod(ep.PodNS, ep.PodName); p != nil {
			return p
		}
	}
	return e.Cluster.PodByIP(ep.IP)
}

// NodeLinkWith returns the link holding ip on a node snapshot (the node NIC for the InternalIP).
func NodeLinkWith(s *nodestate.Snapshot, ip netip.Addr) *nodestate.Link {
	if s == nil {
		return nil
	}
	for i := range s.Links {
		for _, a := range s.Links[i].Addrs {
			if a.IP == ip {
				return &s.Links[i]
			}
		}
	}
	return nil
}

// Selects reports whether a label selector (a Service's map form) matches labels.
func Selects(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// SelectorString is a map selector as kubectl's -l takes it: "app=web,tier=front", sorted.
func SelectorString(m map[string]string) string {
	kv := make([]string, 0, len(m))
	for k, v := range m {
		kv = append(kv, k+"="+v)
	}
	sort.Strings(kv)
	return strings.Join(kv, ",")
}
