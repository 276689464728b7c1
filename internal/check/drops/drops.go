// Package drops is the check "kernel-drops": it asks the kernel who dropped the client's packets.
// When the symptom is not healthy it asks the views' drop tracer (check.DropTracer: on this
// machine, internal/local runs the eBPF tracer of internal/drops on skb:kfree_skb) to watch the
// network namespaces on the path (the source, the nodes, the target pods and the service's
// endpoint pods) while it re-sends the failing probe, and reports
// each drop of the flow with the namespace and hop, the drop reason, the kernel function and the
// count. NETFILTER_DROP is reported as info (the firewall check names the rule by its counters);
// other reasons (NO_SOCKET, IP_RPFILTER, IP_INNOROUTES, PKT_TOO_BIG, NEIGH_FAILED, VXLAN_*, …) are
// critical findings with the failure kind they point at. Read-only: the tracer only reads
// packets; the probe traffic is the symptom's own.
package drops

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/netdoctor/netdoctor/internal/check"
	"github.com/netdoctor/netdoctor/internal/diag"
	"github.com/netdoctor/netdoctor/internal/kube"
)

// Name is the check's stable name.
const Name = "kernel-drops"

// New returns the check.
func New() check.Check { return check.Func(Name, run) }

// place is a namespace on the path that the tracer watches.
type place = check.Place

func run(ctx context.Context, env *check.Env) ([]diag.Finding, error) {
	if env.Probe == nil || env.Symptom == diag.KindHealthy || env.Source == nil || env.Target == nil {
		return nil, nil
	}
	tracer, ok := env.Views.(check.DropTracer)
	if !ok {
		return nil, nil // these views cannot ask the kernel (a remote agent without the endpoint)
	}
	resend := env.Resender(Resends)
	if resend == nil {
		return nil, nil
	}
	places := env.PlacesOnPath()
	at := make([]check.Vantage, len(places))
	for i, p := range places {
		at[i] = p.At
	}
	ips := flowIPs(env)
	req := check.DropTraceRequest{At: at, Resend: resend}
	if silent(env) {
		// Packets that vanish silently may be waiting for a neighbour that never answers: the
		// kernel drops them (NEIGH_FAILED) only when it gives up, about 3 s later.
		req.Linger = Linger
		req.Enough = func(e check.DropEvent) bool { return ips[e.Src] || ips[e.Dst] }
	}
	tr, err := tracer.TraceDrops(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("check/%s: %w", Name, err)
	}
	var ours []check.DropEvent
	for _, e := range tr.Events {
		if !ips[e.Src] && !ips[e.Dst] {
			continue
		}
		// A reply that reaches the client after its probe socket closed (the probe gave up on
		// it, or a re-sent probe's twin) has no socket to go to: that is the probing, not the path.
		if e.Reason == "NO_SOCKET" && env.Source.IP.IsValid() && e.Dst == env.Source.IP {
			continue
		}
		ours = append(ours, e)
	}
	var out []diag.Finding
	for _, g := range group(ours) {
		out = append(out, finding(ctx, env, places[g.first.At], g, tr.Mode))
	}
	return out, nil
}

// Linger is how long the tracer stays attached after a silently failing probe was re-sent, until
// a drop of the flow is seen. ARP/NDP gives up after mcast_solicit (3) × retrans_time (1 s) counted
// from the first packet — the symptom probe's, a second or more earlier — so 2 s catches
// NEIGH_FAILED while a diagnosis of a silent drop stays within its 5 s budget.
const Linger = 2 * time.Second

// silent reports whether the failing probe timed out without any answer (no refusal, no ICMP
// error): the only case where its drops can come late.
func silent(env *check.Env) bool {
	o := env.Obs
	switch {
	case o.TCP != nil && o.TCP.Connected < o.TCP.Sent:
		return o.TCP.Timeout > 0
	case o.DNS != nil && !o.DNS.Resolved:
		return o.DNS.Outcome == "timeout"
	case o.UDP != nil && o.UDP.Outcome != "answered":
		return o.UDP.Outcome == "timeout"
	case o.ICMP != nil && o.ICMP.Received < o.ICMP.Sent:
		return o.ICMP.Outcome == "timeout" || o.ICMP.Outcome == "partial"
	}
	return false
}

// flowIPs are the addresses a packet of this diagnosis carries: the source's, the target's, the
// endpoints' behind a service VIP (after DNAT), the nameservers'.
func flowIPs(env *check.Env) map[netip.Addr]bool {
	ips := map[netip.Addr]bool{}
	add := func(a netip.Addr) {
		if a.IsValid() {
			ips[a.Unmap()] = true
		}
	}
	add(env.Source.IP)
	add(env.Target.IP)
	if env.Source.Pod != nil {
		for _, a := range kube.PodIPs(env.Source.Pod) {
			add(a)
		}
	}
	if o := env.Obs; o != nil {
		if o.TCP != nil {
			add(o.TCP.Addr.Addr())
		}
		if o.ICMP != nil {
			add(o.ICMP.Target)
		}
		if o.UDP != nil {
			add(o.UDP.Addr.Addr())
		}
		if o.Large != nil {
			add(o.Large.Addr.Addr())
		}
		if o.DNS != nil {
			for _, a := range o.DNS.Nameservers {
				add(a)
			}
		}
	}
	for _, v := range env.ServiceVIPs() {
		add(v.Addr.Addr())
		eps := env.ServiceEndpoints(v.Service, v.Port)
		for _, ep := range append(eps.Ready, eps.NotReady...) {
			add(ep.IP)
		}
	}
	return ips
}

// dropGroup is the drops for one reason at one kernel location in one namespace, per flow
// (source port aside) in the order first seen.
type dropGroup struct {
	first       check.DropEvent
	count       int
	firstSeenAt time.Time
	last        time.Time
	flows       []string
	perFlow     map[string]int
	device      map[string]string
}

func group(events []check.DropEvent) []*dropGroup {
	idx := map[string]*dropGroup{}
	var out []*dropGroup
	for _, e := range events {
		k := fmt.Sprintf("%d|%s|%s", e.At, e.Reason, e.Location)
		g := idx[k]
		if g == nil {
			g = &dropGroup{first: e, firstSeenAt: e.Time, perFlow: map[string]int{}, device: map[string]string{}}
			idx[k] = g
			out = append(out, g)
		}
		g.count++
		g.last = e.Time
		f := flowText(e)
		if g.perFlow[f] == 0 {
			g.flows = append(g.flows, f)
			g.device[f] = e.Device
		}
		g.perFlow[f]++
	}
	sort.SliceStable(out, func(i, j int) bool {
		ri, rj := explain(out[i].first.Reason).sev.Rank(), explain(out[j].first.Reason).sev.Rank()
		if ri != rj {
			return ri < rj
		}
		return out[i].count > out[j].count
	})
	return out
}

func finding(ctx context.Context, env *check.Env, p place, g *dropGroup, mode string) diag.Finding {
	e := g.first
	m := explain(e.Reason)
	if strings.HasPrefix(e.Reason, "NEIGH_") && vxlanDevice(ctx, env, p, e.Device) {
		m.kind = diag.KindCNIKubeProxy
		m.cause = "The VXLAN device " + e.Device + " has no usable neighbour (VTEP MAC) for the next hop, so the packets queued for it were dropped when resolution gave up."
		m.fix = "Restore the VXLAN neighbour and FDB entries of the remote VTEP (restart the CNI agent, e.g. flannel, on this node so it rewrites them)."
	}
	kind := m.kind
	if kind == "" || env.Symptom == diag.KindDNSFailure && kind == diag.KindNetworkUnreachable {
		kind = env.Symptom
	}
	hop := p.Hop
	hop.Interface = e.Device
	hop.Where = fmt.Sprintf("%s, kernel %s", p.Label, e.Function)
	if e.Device != "" {
		hop.Where = fmt.Sprintf("%s %s, kernel %s", p.Label, e.Device, e.Function)
	}
	title := fmt.Sprintf("the kernel in %s drops the client's packets: %s in %s", p.Label, e.Reason, e.Function)
	if m.sev == diag.SeverityInfo {
		title = fmt.Sprintf("the kernel in %s drops the client's packets in netfilter (%s)", p.Label, e.Function)
	}
	f := check.Finding(Name, kind, m.sev, hop, title)
	for _, fl := range g.flows {
		dev := ""
		if d := g.device[fl]; d != "" {
			dev = " dev " + d
		}
		check.Evidencef(f, "%d× %s in %s%s: %s at %s", g.perFlow[fl], fl, p.Label, dev, e.Reason, e.Location)
	}
	check.Evidencef(f, "seen by the %s drop tracer while the failing probe was re-sent %d times (first %s, last %s)", mode, Resends,
		g.firstSeenAt.Format("15:04:05.000000"), g.last.Format("15:04:05.000000"))
	f.Cause = fmt.Sprintf("In %s: %s", p.Label, m.cause)
	f.Fix = m.fix
	return *f
}

// vxlanDevice reports whether dev is a VXLAN device of the place's node.
func vxlanDevice(ctx context.Context, env *check.Env, p place, dev string) bool {
	if p.At.Node == "" || dev == "" || env.Views == nil {
		return false
	}
	s, err := env.Views.Node(ctx, p.At.Node)
	if err != nil || s == nil {
		return false
	}
	for _, l := range s.Links {
		if l.Name == dev {
			return l.VXLAN != nil
		}
	}
	return false
}

// flowText is "SRC > DST.PORT proto" with TCP flags and DF, without the source port and lengths.
func flowText(e check.DropEvent) string {
	if !e.Src.IsValid() {
		return "a packet"
	}
	dst := e.Dst.String()
	if e.DstPort != 0 && (e.Proto == "tcp" || e.Proto == "udp") {
		dst += "." + strconv.Itoa(int(e.DstPort))
	}
	s := e.Src.String() + " > " + dst + " " + e.Proto
	for _, w := range strings.Fields(e.Info) {
		if strings.HasPrefix(w, "[") || w == "DF" {
			s += " " + w
		}
	}
	return s
}
