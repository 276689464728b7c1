package local

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/netdoctor/netdoctor/internal/capture"
	"github.com/netdoctor/netdoctor/internal/check"
	"github.com/netdoctor/netdoctor/internal/diag"
	"github.com/netdoctor/netdoctor/internal/netns"
	"github.com/netdoctor/netdoctor/internal/nodestate"
)

// LocaliseName is the check name of capture-based localisation findings.
const LocaliseName = "capture-localise"

// hopPoint is one capture point of the path, in path order.
type hopPoint struct {
	point capture.Point
	hop   diag.Hop
}

// Localise captures along the path (client pod, client node's bridge, tunnel and NIC, the target
// node's NIC, tunnel and bridge, the target pod) while re-sending the failing probe, and names the
// last point the client's packets were seen: the failing hop is right after it. It is the seed
// workflow's last step, for when the node state does not explain the symptom.
func (a *Access) Localise(ctx context.Context, env *check.Env) ([]diag.Finding, error) {
	resend, filter := resendProbe(env)
	if resend == nil {
		return nil, nil
	}
	pts, closers, err := a.pathPoints(ctx, env)
	defer func() {
		for _, c := range closers {
			c.Close()
		}
	}()
	if err != nil {
		return nil, err
	}
	if len(pts) < 2 {
		return nil, nil
	}
	points := make([]capture.Point, len(pts))
	for i, p := range pts {
		points[i] = p.point
	}
	tr, err := capture.Multi(ctx, points, capture.MultiOptions{Filter: filter, Duration: 4 * time.Second, MaxPackets: 2000, Settle: 200 * time.Millisecond, Dir: a.CaptureDir}, func(ctx context.Context) error {
		resend(ctx)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("capture along the path: %w", err)
	}
	return fromTrace(env, pts, tr), nil
}

// fromTrace turns the trace into a finding: the client's packets (first seen at the first point)
// and the farthest point any of them reached.
func fromTrace(env *check.Env, pts []hopPoint, tr *capture.Trace) []diag.Finding {
	index := map[string]int{}
	for i, p := range pts {
		index[p.point.Label] = i
	}
	first := pts[0].point.Label
	farthest, n := -1, 0
	var example *capture.TracedPacket
	var anomalies []string
	for i := range tr.Packets {
		p := &tr.Packets[i]
		if len(p.Seen) == 0 || p.Seen[0].Point != first {
			continue // not sent by the client (replies, other traffic)
		}
		n++
		far := -1
		for _, s := range p.Seen {
			if k, ok := index[s.Point]; ok && k > far {
				far = k
			}
		}
		if far > farthest {
			farthest, example = far, p
		}
		for _, an := range p.Anomalies {
			line := fmt.Sprintf("%s at %s: %s", an.Kind, an.At, an.Detail)
			if !contains(anomalies, line) && len(anomalies) < 6 {
				anomalies = append(anomalies, line)
			}
		}
	}
	if n == 0 {
		return []diag.Finding{{Check: LocaliseName, Kind: env.Symptom, Severity: diag.SeverityWarning,
			Hop: diag.Hop{Where: pts[0].hop.Where}, Title: "the client's packets were not seen even where they leave the client",
			Evidence: []string{fmt.Sprintf("captured at %s while re-sending the probe: no packet of the flow", first)},
			Cause:    "The client does not send the packets at all (a local firewall or route), or the capture missed them.",
			Fix:      "Check the client's own routes and firewall (netdoctor inspect --pid/--netns of the client)."}}
	}
	if farthest == len(pts)-1 {
		return nil // the packets arrive; the failure is on the way back or above the network
	}
	last, next := pts[farthest], pts[farthest+1]
	f := check.Finding(LocaliseName, env.Symptom, diag.SeverityCritical, next.hop,
		fmt.Sprintf("the client's packets were last seen at %s and never reached %s", last.point.Label, next.point.Label))
	f.Hop.Where = fmt.Sprintf("between %s and %s", last.point.Label, next.point.Label)
	check.Evidencef(f, "captured at %d points while re-sending the failing probe: %d packets from the client", len(pts), n)
	for _, s := range example.Seen {
		check.Evidencef(f, "seen at %s: %s", s.Point, s.Summary)
	}
	for _, p := range tr.Points {
		if _, ok := index[p.Label]; ok && p.Captured == 0 {
			check.Evidencef(f, "nothing of the flow seen at %s", p.Label)
		}
	}
	for _, a := range anomalies {
		check.Evidencef(f, "%s", a)
	}
	f.Cause = fmt.Sprintf("The node state does not explain it, but the packets demonstrably vanish between %s and %s.", last.point.Label, next.point.Label)
	f.Fix = fmt.Sprintf("Look at what sits between %s and %s (firewall rules, routes, the underlay network, MTU), e.g. netdoctor inspect and netdoctor capture --at on those two points.", last.point.Label, next.point.Label)
	return []diag.Finding{*f}
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// pathPoints lists the capture points in path order with open namespace handles (closed by caller).
func (a *Access) pathPoints(ctx context.Context, env *check.Env) ([]hopPoint, []*netns.NS, error) {
	var pts []hopPoint
	var closers []*netns.NS
	addNS := func(v check.Vantage, name string, ifaces []string, hop func(string) diag.Hop) error {
		ns, _, err := a.vantage(ctx, v)
		if err != nil {
			return err
		}
		if ns != nil {
			closers = append(closers, ns)
		}
		for _, ifc := range ifaces {
			if ifc == "" {
				continue
			}
			pts = append(pts, hopPoint{point: capture.Point{Netns: ns, NetnsName: name, Iface: ifc, Label: name + ":" + ifc}, hop: hop(ifc)})
		}
		return nil
	}
	src, dst := env.Source, env.Target
	srcIface := ""
	if snap, err := a.sourceSnap(ctx, env); err == nil && snap != nil {
		srcIface = egress(snap, dst.IP)
	}
	srcName := "client"
	if src.Pod != nil {
		srcName = "pod-" + src.Pod.Name
	}
	if err := addNS(env.SourceVantage(), srcName, []string{srcIface}, func(i string) diag.Hop {
		return diag.Hop{Node: src.NodeName(), Netns: src.Netns, Interface: i, Where: srcName + " " + i}
	}); err != nil {
		return pts, closers, err
	}
	nodes := orderNodes(env)
	for i, n := range nodes {
		s, err := a.Node(ctx, n)
		if err != nil {
			continue
		}
		bridge, vx, nic := "", vxlanDev(s), ""
		if l := check.NodeLinkWith(s, env.NodeInternalIP(n)); l != nil {
			nic = l.Name
		}
		var ifaces []string
		if i == 0 && src.NodeName() == n {
			bridge = check.BridgeFor(s, src.IP)
			ifaces = []string{bridge, vx, nic}
		} else {
			for _, ip := range destIPs(env) {
				if b := check.BridgeFor(s, ip); b != "" && b != nic {
					bridge = b
				}
			}
			ifaces = []string{nic, vx, bridge}
		}
		if err := addNS(check.Vantage{Node: n}, n, dedupe(ifaces), func(ifc string) diag.Hop {
			return diag.Hop{Node: n, Interface: ifc, Where: n + " " + ifc}
		}); err != nil {
			continue
		}
	}
	if p := dst.Pod; p != nil {
		if snap, err := a.Pod(ctx, p); err == nil {
			if l := check.NodeLinkWith(snap, dst.IP); l != nil {
				_ = addNS(check.Vantage{Pod: p}, "pod-"+p.Name, []string{l.Name}, func(i string) diag.Hop {
					return diag.Hop{Node: p.Spec.NodeName, Interface: i, Where: "pod " + p.Name + " " + i}
				})
			}
		}
	}
	return pts, closers, nil
}

func dedupe(l []string) []string {
	var out []string
	for _, s := range l {
		if s != "" && !contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// orderNodes: the client's node first, then the nodes the packets go to.
func orderNodes(env *check.Env) []string {
	var out []string
	if n := env.Source.NodeName(); n != "" {
		out = append(out, n)
	}
	for _, n := range env.NodesOnPath() {
		if !contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// destIPs are the addresses the packets finally go to (the pod, or the service's endpoints).
func destIPs(env *check.Env) []netip.Addr {
	t := env.Target
	if t.Service != nil {
		var out []netip.Addr
		for _, ep := range env.ServiceEndpoints(t.Service, t.ServicePort).Ready {
			out = append(out, ep.IP)
		}
		return out
	}
	return []netip.Addr{t.IP}
}

func vxlanDev(s *nodestate.Snapshot) string {
	for _, l := range s.Links {
		if l.VXLAN != nil {
			return l.Name
		}
	}
	return ""
}

func (a *Access) sourceSnap(ctx context.Context, env *check.Env) (*nodestate.Snapshot, error) {
	switch {
	case env.Source.Pod != nil:
		return a.Pod(ctx, env.Source.Pod)
	case env.Source.Netns != "":
		return a.Netns(ctx, env.Source.Netns)
	}
	return nil, nil
}

// egress is the link a namespace sends to dst by: the longest matching main-table route's device.
func egress(s *nodestate.Snapshot, dst netip.Addr) string {
	best, dev := -1, ""
	for _, r := range s.Routes {
		if r.Table == 254 && r.Dst.Contains(dst) && r.Dst.Bits() > best {
			best, dev = r.Dst.Bits(), r.Dev
		}
	}
	return dev
}

// resendProbe returns what to send again during the capture (the failing symptom probe, as the
// firewall and drop checks re-send it) and the capture filter for its packets.
func resendProbe(env *check.Env) (func(context.Context), string) {
	resend := env.Resender(2)
	o := env.Obs
	if resend == nil {
		return nil, ""
	}
	switch {
	case o.TCP != nil && o.TCP.Connected < o.TCP.Sent:
		ports := []string{fmt.Sprint(o.TCP.Addr.Port())}
		if sp := env.Target.ServicePort; sp != nil && sp.TargetPort.IntVal != 0 {
			ports = append(ports, fmt.Sprint(sp.TargetPort.IntVal))
		}
		return resend, "tcp and (" + portExpr(ports) + ")"
	case o.DNS != nil && !o.DNS.Resolved || o.UDP != nil && o.UDP.Outcome != "answered":
		return resend, "port 53"
	case o.ICMP != nil && o.ICMP.Received < o.ICMP.Sent, o.Large != nil:
		return resend, "icmp"
	}
	return nil, ""
}

func portExpr(ports []string) string {
	var parts []string
	for _, p := range dedupe(ports) {
		parts = append(parts, "port "+p)
	}
	return strings.Join(parts, " or ")
}
