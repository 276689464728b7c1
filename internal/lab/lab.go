package lab

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Lab is a running lab: its state plus the operations faults and verification use. Obtain one from
// Up or Open.
type Lab struct {
	State *State
	Plan  *Plan
	// apiObjects, in a --k8s lab, is the cluster as its API server serves it (what Dump writes).
	apiObjects []any
}

// Open returns the running lab name ("" = DefaultName).
func Open(name string) (*Lab, error) {
	s, err := Current(name)
	if err != nil {
		return nil, err
	}
	return &Lab{State: s, Plan: s.Plan}, nil
}

// NetnsPath is the path of a lab namespace name.
func NetnsPath(name string) string { return "/run/netns/" + name }

// Endpoint is a resolved flow endpoint: the netns it runs in (for a source) or the address it
// targets (for a destination).
type Endpoint struct {
	Netns string         // netns name (source side)
	Pod   *PodPlan       // the pod, when the endpoint is one
	Addr  netip.AddrPort // destination address (zero for a DNS name)
	Name  string         // DNS name, when the destination is one
}

// ResolveFrom turns a Request.From ("pod/NS/NAME", "node/NAME", "netns/PATH", "vm") into a netns name.
func (p *Plan) ResolveFrom(from string) (Endpoint, error) {
	switch {
	case strings.HasPrefix(from, "pod/"):
		ns, name, ok := strings.Cut(strings.TrimPrefix(from, "pod/"), "/")
		pod := p.Pod(ns, name)
		if !ok || pod == nil {
			return Endpoint{}, fmt.Errorf("lab: no pod %q", from)
		}
		return Endpoint{Netns: pod.Netns, Pod: pod}, nil
	case strings.HasPrefix(from, "node/"):
		n := p.Node(strings.TrimPrefix(from, "node/"))
		if n == nil {
			return Endpoint{}, fmt.Errorf("lab: no node %q", from)
		}
		return Endpoint{Netns: n.Netns}, nil
	case strings.HasPrefix(from, "netns/"):
		path := strings.TrimPrefix(from, "netns/")
		return Endpoint{Netns: strings.TrimPrefix(path, "/run/netns/")}, nil
	case from == "vm":
		return Endpoint{Netns: p.VM}, nil
	}
	return Endpoint{}, fmt.Errorf("lab: source %q: want pod/NS/NAME, node/NAME, netns/PATH or vm", from)
}

// ResolveTo turns a Request.To into an address (or a DNS name).
func (p *Plan) ResolveTo(to string) (Endpoint, error) {
	kind, rest, _ := strings.Cut(to, "/")
	switch kind {
	case "svc", "pod":
		nsName, port, ok := strings.Cut(rest, ":")
		ns, name, ok2 := strings.Cut(nsName, "/")
		pn, err := strconv.Atoi(port)
		if !ok || !ok2 || err != nil {
			return Endpoint{}, fmt.Errorf("lab: target %q: want %s/NS/NAME:PORT", to, kind)
		}
		if kind == "svc" {
			s := p.Service(ns, name)
			if s == nil {
				return Endpoint{}, fmt.Errorf("lab: no service %s/%s", ns, name)
			}
			return Endpoint{Addr: netip.AddrPortFrom(s.ClusterIP, uint16(pn))}, nil
		}
		pod := p.Pod(ns, name)
		if pod == nil || !pod.IP.IsValid() {
			return Endpoint{}, fmt.Errorf("lab: no pod %s/%s with an IP", ns, name)
		}
		return Endpoint{Pod: pod, Addr: netip.AddrPortFrom(pod.IP, uint16(pn))}, nil
	}
	if ap, err := netip.ParseAddrPort(to); err == nil {
		return Endpoint{Addr: ap}, nil
	}
	if a, err := netip.ParseAddr(to); err == nil {
		return Endpoint{Addr: netip.AddrPortFrom(a, 0)}, nil
	}
	return Endpoint{Name: to}, nil
}

// PodRef is "pod/NS/NAME" for a pod.
func PodRef(p *PodPlan) string { return "pod/" + p.Namespace + "/" + p.Name }

// PodTarget is "pod/NS/NAME:PORT".
func PodTarget(p *PodPlan, port int) string { return fmt.Sprintf("%s:%d", PodRef(p), port) }
