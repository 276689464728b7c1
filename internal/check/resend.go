package check

import (
	"context"
	"net/netip"
	"sync"

	corev1 "k8s.io/api/core/v1"

	"github.com/netdoctor/netdoctor/internal/diag"
	"github.com/netdoctor/netdoctor/internal/kube"
)

// largeResendSize is the DF echo size re-sent for large-packet loss when the request gave none.
const largeResendSize = 1472

// Resender returns a function that sends the failing symptom probe again times times (the probe the
// kernel's counters and drop events are then read around), or nil when no probe failed: the TCP
// connect, the DNS query to each of the client's nameservers, the ping, or a large DF ping.
func (e *Env) Resender(times int) func(context.Context) {
	from := e.SourceVantage()
	o := e.Obs
	if o == nil || e.Probe == nil {
		return nil
	}
	// Intermittent loss needs many tries to be caught again: 20 probes see a 30% random drop except
	// once in a thousand runs; a few would miss it one time in four.
	partial := o.TCP != nil && o.TCP.Connected > 0 && o.TCP.Connected < o.TCP.Sent ||
		o.ICMP != nil && o.ICMP.Received > 0 && o.ICMP.Received < o.ICMP.Sent
	if partial {
		times = max(times, 20)
	}
	switch {
	case o.TCP != nil && o.TCP.Connected < o.TCP.Sent:
		addr := o.TCP.Addr
		return func(ctx context.Context) { _, _ = e.Probe.TCP(ctx, from, addr, times) }
	case o.DNS != nil && !o.DNS.Resolved || o.UDP != nil && o.UDP.Outcome != "answered":
		var servers []netip.AddrPort
		name := ""
		if e.Target != nil {
			name = e.Target.Name
		}
		if o.DNS != nil {
			for _, ns := range o.DNS.Nameservers {
				servers = append(servers, netip.AddrPortFrom(ns, 53))
			}
			name = o.DNS.Name
		}
		if o.UDP != nil {
			servers = append(servers, o.UDP.Addr)
		}
		if name == "" {
			name = "."
		}
		return func(ctx context.Context) {
			var wg sync.WaitGroup
			for _, s := range servers {
				for i := 0; i < times; i++ {
					wg.Add(1)
					go func(s netip.AddrPort) {
						defer wg.Done()
						_, _ = e.Probe.DNS(ctx, from, DNSQuery{Name: name, Server: s})
					}(s)
				}
			}
			wg.Wait()
		}
	case o.ICMP != nil && o.ICMP.Received < o.ICMP.Sent:
		ip := o.ICMP.Target
		return func(ctx context.Context) { _, _ = e.Probe.Ping(ctx, from, ip, 56, false, times) }
	case o.Large != nil && o.Large.Outcome != "ok" && o.Large.Addr.IsValid():
		ip := o.Large.Addr.Addr()
		size := e.Size
		if size <= 0 {
			size = largeResendSize
		}
		return func(ctx context.Context) { _, _ = e.Probe.Ping(ctx, from, ip, size, true, times) }
	}
	return nil
}

// Place is a network namespace on the path whose state can explain a drop.
type Place struct {
	At    Vantage
	Label string // "node2", "pod default/web-1", "this host"
	Hop   diag.Hop
}

// PlacesOnPath lists the namespaces a packet of this diagnosis crosses: the source, the nodes on
// the path, the target pod and the endpoint pods behind the service addresses; no duplicates.
func (e *Env) PlacesOnPath() []Place {
	var out []Place
	seen := map[string]bool{}
	add := func(key string, p Place) {
		if !seen[key] {
			seen[key] = true
			out = append(out, p)
		}
	}
	pod := func(p *corev1.Pod) {
		add("pod/"+p.Namespace+"/"+p.Name, Place{At: Vantage{Pod: p}, Label: "pod " + p.Namespace + "/" + p.Name,
			Hop: diag.Hop{Node: p.Spec.NodeName, Netns: p.Annotations[kube.AnnotationNetns]}})
	}
	s := e.Source
	switch {
	case s.Pod != nil:
		pod(s.Pod)
	case s.Kind == KindNode && s.Node != nil:
		// the node itself is added below
	default:
		label := s.String()
		if s.Kind == KindHost {
			label = "this host"
		}
		add("source", Place{At: e.SourceVantage(), Label: label, Hop: diag.Hop{Node: s.NodeName(), Netns: s.Netns}})
	}
	for _, n := range e.NodesOnPath() {
		hop := diag.Hop{Node: n}
		if node := e.Cluster.Node(n); node != nil {
			hop.Netns = node.Annotations[kube.AnnotationNetns]
		}
		add("node/"+n, Place{At: Vantage{Node: n}, Label: n, Hop: hop})
	}
	if t := e.Target; t.Pod != nil {
		pod(t.Pod)
	}
	for _, v := range e.ServiceVIPs() {
		for _, ep := range e.ServiceEndpoints(v.Service, v.Port).Ready {
			if p := e.PodOf(ep); p != nil {
				pod(p)
			}
		}
	}
	return out
}
