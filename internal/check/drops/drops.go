// Package drops is the check "kernel-drops": it asks the kernel who dropped the client's packets.
// When the symptom is not healthy it attaches the drop tracer (internal/drops, eBPF on
// skb:kfree_skb) to the network namespaces on the path that are on this machine (the source, the
// nodes, the target pods and the service's endpoint pods), re-sends the failing probe, and reports
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
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/netdoctor/netdoctor/internal/check"
	"github.com/netdoctor/netdoctor/internal/diag"
	kdrops "github.com/netdoctor/netdoctor/internal/drops"
	"github.com/netdoctor/netdoctor/internal/kube"
)

// Name is the check's stable name.
const Name = "kernel-drops"

// New returns the check.
func New() check.Check { return check.Func(Name, run) }

// PodNetnsLocator is implemented by views whose pods' namespaces are on this machine
// (internal/local.Access): it returns the pod's namespace path.
type PodNetnsLocator interface {
	PodNetns(ctx context.Context, pod *corev1.Pod) (string, error)
}

// place is a namespace on the path that the tracer watches.
type place struct {
	inode uint64
	label string // "node2", "pod default/web-1"
	hop   diag.Hop
}

func run(ctx context.Context, env *check.Env) ([]diag.Finding, error) {
	if env.Probe == nil || env.Symptom == diag.KindHealthy || env.Source == nil || env.Target == nil {
		return nil, nil
	}
	resend := resender(env)
	if resend == nil {
		return nil, nil
	}
	places := placesOnPath(ctx, env)
	if len(places) == 0 {
		return nil, nil // nothing on this machine to trace (remote nodes: the agent's business)
	}
	opts := kdrops.Options{Mode: kdrops.ModeEBPF, Names: map[uint64]string{}}
	byInode := map[uint64]place{}
	for _, p := range places {
		opts.Netns = append(opts.Netns, p.inode)
		opts.Names[p.inode] = p.label
		byInode[p.inode] = p
	}
	events, tr, err := kdrops.Collect(ctx, opts, resend)
	if err != nil {
		return nil, fmt.Errorf("check/%s: %w", Name, err)
	}
	ips := flowIPs(env)
	var ours []kdrops.Event
	for _, e := range events {
		if ips[e.Flow.Src] || ips[e.Flow.Dst] {
			ours = append(ours, e)
		}
	}
	var out []diag.Finding
	for _, g := range group(ours) {
		out = append(out, finding(env, byInode[g.first.NetnsInode], g, tr.Mode()))
	}
	return out, nil
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

// dropGroup is the drops of one flow (source port aside) for one reason at one location in one
// namespace.
type dropGroup struct {
	first       kdrops.Event
	count       int
	last        time.Time
	sports      map[uint16]bool
	firstSeenAt time.Time
}

func group(events []kdrops.Event) []*dropGroup {
	idx := map[string]*dropGroup{}
	var out []*dropGroup
	for _, e := range events {
		f := e.Flow
		k := fmt.Sprintf("%d|%s|%s|%s|%s|%s|%d", e.NetnsInode, e.Reason, e.Location, f.Proto, f.Src, f.Dst, f.DstPort)
		g := idx[k]
		if g == nil {
			g = &dropGroup{first: e, sports: map[uint16]bool{}, firstSeenAt: e.Time}
			idx[k] = g
			out = append(out, g)
		}
		g.count++
		g.last = e.Time
		g.sports[f.SrcPort] = true
	}
	sort.SliceStable(out, func(i, j int) bool {
		ri, rj := explain(out[i].first.Reason).sev.Rank(), explain(out[j].first.Reason).sev.Rank()
		if ri != rj {
			return ri > rj
		}
		return out[i].count > out[j].count
	})
	return out
}

func finding(env *check.Env, p place, g *dropGroup, mode kdrops.Mode) diag.Finding {
	e := g.first
	m := explain(e.Reason)
	kind := m.kind
	if kind == "" || env.Symptom == diag.KindDNSFailure && kind == diag.KindNetworkUnreachable {
		kind = env.Symptom
	}
	label := p.label
	if label == "" {
		label = e.Netns
	}
	hop := p.hop
	hop.Interface = e.Device
	hop.Where = fmt.Sprintf("%s, kernel %s", label, e.Function)
	if e.Device != "" {
		hop.Where = fmt.Sprintf("%s %s, kernel %s", label, e.Device, e.Function)
	}
	flow := flowText(e.Flow)
	title := fmt.Sprintf("the kernel in %s drops the client's packets: %s in %s", label, e.Reason, e.Function)
	if m.sev == diag.SeverityInfo {
		title = fmt.Sprintf("the kernel in %s drops the client's packets in netfilter (%s)", label, e.Function)
	}
	f := check.Finding(Name, kind, m.sev, hop, title)
	dev := ""
	if e.Device != "" {
		dev = " dev " + e.Device
	}
	check.Evidencef(f, "%d× %s in %s%s: %s at %s", g.count, flow, label, dev, e.Reason, e.Location)
	check.Evidencef(f, "seen by the %s tracer while the failing probe was re-sent %d times (first %s, last %s)", mode, Resends,
		g.firstSeenAt.Format("15:04:05.000000"), g.last.Format("15:04:05.000000"))
	f.Cause = fmt.Sprintf("In %s: %s", label, m.cause)
	f.Fix = m.fix
	return *f
}

// flowText is the flow without its source port and lengths, keeping TCP flags and DF.
func flowText(f kdrops.Flow) string {
	info := strings.Fields(f.Info)
	f.SrcPort, f.Info = 0, ""
	s := f.String()
	for _, w := range info {
		if strings.HasPrefix(w, "[") || w == "DF" {
			s += " " + w
		}
	}
	return s
}

// placesOnPath lists the namespaces on the path whose drops can be traced from here.
func placesOnPath(ctx context.Context, env *check.Env) []place {
	var out []place
	seen := map[uint64]bool{}
	add := func(path string, p place) {
		if path == "" {
			return
		}
		if !strings.Contains(path, "/") {
			path = "/run/netns/" + path
		}
		ino := kdrops.Inode(path)
		if ino == 0 || seen[ino] {
			return
		}
		seen[ino] = true
		p.inode = ino
		out = append(out, p)
	}
	loc, _ := env.Views.(PodNetnsLocator)
	podPlace := func(pod *corev1.Pod) {
		path := pod.Annotations[kube.AnnotationNetns]
		if loc != nil {
			if p, err := loc.PodNetns(ctx, pod); err == nil {
				path = p
			}
		}
		label := "pod " + pod.Namespace + "/" + pod.Name
		add(path, place{label: label, hop: diag.Hop{Node: pod.Spec.NodeName, Netns: path}})
	}
	s := env.Source
	switch {
	case s.Pod != nil:
		podPlace(s.Pod)
	case s.Netns != "":
		add(s.Netns, place{label: s.String(), hop: diag.Hop{Node: s.NodeName(), Netns: s.Netns}})
	case s.Kind == check.KindHost:
		add("/proc/self/ns/net", place{label: "this host", hop: diag.Hop{}})
	}
	for _, n := range env.NodesOnPath() {
		if node := env.Cluster.Node(n); node != nil {
			add(node.Annotations[kube.AnnotationNetns], place{label: n, hop: diag.Hop{Node: n, Netns: node.Annotations[kube.AnnotationNetns]}})
		}
	}
	if t := env.Target; t.Pod != nil {
		podPlace(t.Pod)
	}
	for _, v := range env.ServiceVIPs() {
		for _, ep := range env.ServiceEndpoints(v.Service, v.Port).Ready {
			if p := env.PodOf(ep); p != nil {
				podPlace(p)
			}
		}
	}
	return out
}
