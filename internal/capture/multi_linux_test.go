//go:build linux

package capture

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/netdoctor/netdoctor/internal/testenv"
)

// vxlanPath is a two-node VXLAN overlay in namespaces, flannel style:
//
//	cli (10.1.1.2) —c0/n1c— node1 ==vx (VNI 42 over ul 192.168.77.1)== node2 —n2s/s0— srv (10.2.2.2)
//
// node1 and node2 are joined by a veth underlay ("ul") carrying VXLAN on UDP 8472; each node
// routes the other's pod subnet through its vxlan device "vx" (MTU 1450).
type vxlanPath struct {
	cli, node1, node2, srv *testenv.NetNS
}

func newVXLANPath(t *testing.T) *vxlanPath { return newVXLANPathFrom(t, "") }

// newVXLANPathFrom builds the path with node1's VTEP sending from node1Src, a second address on its
// underlay (seed case 1: a DHCP address the VTEP picked instead of the node IP); "" for the node IP.
func newVXLANPathFrom(t *testing.T, node1Src string) *vxlanPath {
	t.Helper()
	testenv.RequireTool(t, "iptables")
	v := &vxlanPath{cli: testenv.NewNetNS(t), node1: testenv.NewNetNS(t), node2: testenv.NewNetNS(t), srv: testenv.NewNetNS(t)}
	for _, n := range []*testenv.NetNS{v.cli, v.node1, v.node2, v.srv} {
		n.Exec(t, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	}
	testenv.Veth(t, v.cli, "c0", "10.1.1.2/24", v.node1, "n1c", "10.1.1.1/24")
	testenv.Veth(t, v.node1, "ul", "192.168.77.1/24", v.node2, "ul", "192.168.77.2/24")
	testenv.Veth(t, v.node2, "n2s", "10.2.2.1/24", v.srv, "s0", "10.2.2.2/24")
	for i, n := range []*testenv.NetNS{v.node1, v.node2} {
		local, remote := "192.168.77.1", "192.168.77.2"
		addr, peerNet, via := "10.99.0.1/24", "10.2.2.0/24", "10.99.0.2"
		if i == 1 {
			local, remote = remote, local
			addr, peerNet, via = "10.99.0.2/24", "10.1.1.0/24", "10.99.0.1"
		} else if node1Src != "" {
			n.Exec(t, "ip", "addr", "add", node1Src+"/24", "dev", "ul")
			local = node1Src
		}
		n.Exec(t, "ip", "link", "add", "vx", "type", "vxlan", "id", "42", "dstport", "8472",
			"local", local, "remote", remote, "dev", "ul")
		n.Exec(t, "ip", "addr", "add", addr, "dev", "vx")
		n.Exec(t, "ip", "link", "set", "vx", "up")
		n.Exec(t, "ip", "route", "add", peerNet, "via", via, "dev", "vx", "onlink")
		n.Exec(t, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	}
	v.cli.Exec(t, "ip", "route", "add", "default", "via", "10.1.1.1")
	v.srv.Exec(t, "ip", "route", "add", "default", "via", "10.2.2.1")
	// End to end once, so that ARP is resolved before anything is captured.
	v.cli.Exec(t, "ping", "-c", "1", "-W", "3", "10.2.2.2")
	return v
}

func (v *vxlanPath) points(nextMTU map[string]int) []Point {
	mk := func(n *testenv.NetNS, name, iface string) Point {
		l := name + ":" + iface
		return Point{Netns: n.NS, NetnsName: name, Iface: iface, Label: l, NextMTU: nextMTU[l]}
	}
	return []Point{
		mk(v.node1, "node1", "n1c"), mk(v.node1, "node1", "vx"), mk(v.node1, "node1", "ul"),
		mk(v.node2, "node2", "ul"), mk(v.node2, "node2", "vx"), mk(v.node2, "node2", "n2s"),
		mk(v.srv, "srv", "s0"),
	}
}

// probe finds the traced ICMP echo request to dst (as first seen).
func probe(t *testing.T, tr *Trace, dst string) *TracedPacket {
	t.Helper()
	for i := range tr.Packets {
		p := &tr.Packets[i]
		s := p.Seen[0]
		if s.IP.ICMPType == 8 && s.IP.Dst.String() == dst {
			return p
		}
	}
	var b strings.Builder
	tr.WriteText(&b)
	t.Fatalf("no echo request to %s in the trace:\n%s", dst, b.String())
	return nil
}

// TestMultiLastPoint drops the probe at each hop in turn with an iptables rule and checks that the
// trace names the last point where it was seen, following it through VXLAN and DNAT.
func TestMultiLastPoint(t *testing.T) {
	v := newVXLANPath(t)
	for _, tc := range []struct {
		name    string
		ns      *testenv.NetNS
		rule    []string // iptables arguments after -A/-D (table included)
		ping    []string
		dst     string
		last    string
		anomaly string // an anomaly Detail the probe must have
	}{
		{name: "delivered", dst: "10.2.2.2", last: "srv:s0",
			anomaly: "TTL 64 → 63 between node1:n1c and node1:vx"},
		{name: "node1 forward", ns: v.node1, rule: []string{"FORWARD", "-p", "icmp", "-j", "DROP"}, dst: "10.2.2.2", last: "node1:n1c"},
		{name: "node1 vxlan out", ns: v.node1, rule: []string{"OUTPUT", "-p", "udp", "--dport", "8472", "-j", "DROP"}, dst: "10.2.2.2", last: "node1:vx"},
		{name: "node2 vxlan in", ns: v.node2, rule: []string{"INPUT", "-p", "udp", "--dport", "8472", "-j", "DROP"}, dst: "10.2.2.2", last: "node2:ul"},
		{name: "node2 forward", ns: v.node2, rule: []string{"FORWARD", "-p", "icmp", "-j", "DROP"}, dst: "10.2.2.2", last: "node2:vx"},
		{name: "server input", ns: v.srv, rule: []string{"INPUT", "-p", "icmp", "-j", "DROP"}, dst: "10.2.2.2", last: "srv:s0"},
		{name: "dnat", ns: v.node2, rule: []string{"PREROUTING", "-t", "nat", "-d", "10.2.2.100", "-p", "icmp", "-j", "DNAT", "--to-destination", "10.2.2.2"},
			dst: "10.2.2.100", last: "srv:s0", anomaly: "destination 10.2.2.100 → 10.2.2.2 between node2:vx and node2:n2s"},
		{name: "too big", ping: []string{"-s", "1430", "-M", "do"}, dst: "10.2.2.2", last: "node1:n1c",
			anomaly: "1458-byte packet at node1:n1c is larger than the next link's MTU 1450 and may not be fragmented"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.rule != nil {
				tc.ns.Exec(t, "iptables", append([]string{"-A"}, tc.rule...)...)
				defer tc.ns.Exec(t, "iptables", append([]string{"-D"}, tc.rule...)...)
			}
			during := func(ctx context.Context) error {
				args := append([]string{"ping", "-c", "1", "-W", "1"}, tc.ping...)
				_, _, err := v.cli.Output(ctx, args[0], append(args[1:], tc.dst)...)
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			tr, err := Multi(ctx, v.points(map[string]int{"node1:n1c": 1450}), MultiOptions{Filter: "icmp", Duration: 20 * time.Second}, during)
			if err != nil {
				t.Fatalf("Multi: %v", err)
			}
			p := probe(t, tr, tc.dst)
			var text strings.Builder
			tr.WriteText(&text)
			if p.LastPoint != tc.last {
				t.Fatalf("last point %s, want %s:\n%s", p.LastPoint, tc.last, text.String())
			}
			if tc.anomaly != "" && !hasAnomaly(p, tc.anomaly) {
				t.Fatalf("probe lacks anomaly %q:\n%s", tc.anomaly, text.String())
			}
			if tc.name == "delivered" {
				t.Logf("trace:\n%s", text.String())
				checkEncap(t, p, text.String())
			}
		})
	}
}

var reVXLANLine = regexp.MustCompile(`^IP 192\.168\.77\.1\.\d+ > 192\.168\.77\.2\.8472: VXLAN, vni 42: ` +
	`IP 10\.1\.1\.2 > 10\.2\.2\.2: ICMP echo request, id \d+, seq 1, length 64$`)

func hasAnomaly(p *TracedPacket, detail string) bool {
	for _, a := range p.Anomalies {
		if a.Detail == detail {
			return true
		}
	}
	return false
}

// checkEncap: the probe on node1's underlay is the encapsulated copy of the one on node1:vx.
func checkEncap(t *testing.T, p *TracedPacket, text string) {
	t.Helper()
	var order []string
	for _, s := range p.Seen {
		order = append(order, s.Point)
		switch s.Point {
		case "node1:ul", "node2:ul":
			if s.Encap == nil || s.Encap.OuterSrc.String() != "192.168.77.1" || s.Encap.VNI != 42 {
				t.Errorf("at %s: encapsulation %+v, want outer source 192.168.77.1, VNI 42", s.Point, s.Encap)
			}
			if !reVXLANLine.MatchString(s.Summary) {
				t.Errorf("at %s: summary %q, want the VXLAN header then the inner echo request", s.Point, s.Summary)
			}
		default:
			if s.Encap != nil {
				t.Errorf("at %s: unexpected encapsulation %+v", s.Point, s.Encap)
			}
		}
	}
	want := "node1:n1c node1:vx node1:ul node2:ul node2:vx node2:n2s srv:s0"
	if got := strings.Join(order, " "); got != want {
		t.Fatalf("seen at %s, want %s:\n%s", got, want, text)
	}
	if !hasAnomaly(p, "VXLAN outer source 192.168.77.1 (vni 42) seen at node1:ul, node2:ul") {
		t.Fatalf("no encap-src anomaly naming the outer source:\n%s", text)
	}
}

// TestMultiPointVanishes deletes the veth during a multi-point capture: Multi still returns the
// trace, with each point saying it stopped early, and the packet seen before stays traced.
func TestMultiPointVanishes(t *testing.T) {
	p := newPair(t)
	pts := []Point{{Netns: p.a.NS, NetnsName: "a", Iface: p.ifA}, {Netns: p.b.NS, NetnsName: "b", Iface: p.ifB}}
	during := func(ctx context.Context) error {
		if _, _, err := p.a.Output(ctx, "ping", "-c", "1", "-W", "2", "10.77.0.2"); err != nil {
			return err
		}
		_, _, err := p.a.Output(ctx, "ip", "link", "del", p.ifA)
		return err
	}
	start := time.Now()
	tr, err := Multi(context.Background(), pts, MultiOptions{Filter: "icmp", Duration: 20 * time.Second}, during)
	if err != nil {
		t.Fatalf("Multi: %v", err)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Fatalf("Multi took %s", d)
	}
	var text strings.Builder
	tr.WriteText(&text)
	for _, pr := range tr.Points {
		if !strings.Contains(pr.Error, "went down or vanished") {
			t.Errorf("point %s: error %q, want it to say the interface vanished:\n%s", pr.Label, pr.Error, text.String())
		}
	}
	if len(tr.Packets) != 2 || tr.Packets[0].LastPoint != "b:"+p.ifB || tr.ProbeError != "" {
		t.Fatalf("want the echo request (last seen at b) and reply traced, no probe error:\n%s", text.String())
	}
}

// TestMultiWrongVTEPSource is seed case 1 as a capture sees it: node1's VTEP sends from a second
// address on its NIC, and the trace names that outer source and where it was seen.
func TestMultiWrongVTEPSource(t *testing.T) {
	v := newVXLANPathFrom(t, "192.168.77.11")
	during := func(ctx context.Context) error {
		_, _, err := v.cli.Output(ctx, "ping", "-c", "1", "-W", "1", "10.2.2.2")
		return err
	}
	tr, err := Multi(context.Background(), v.points(nil), MultiOptions{Filter: "icmp", Duration: 20 * time.Second}, during)
	if err != nil {
		t.Fatalf("Multi: %v", err)
	}
	var text strings.Builder
	tr.WriteText(&text)
	p := probe(t, tr, "10.2.2.2")
	if !hasAnomaly(p, "VXLAN outer source 192.168.77.11 (vni 42) seen at node1:ul, node2:ul") {
		t.Fatalf("the probe should carry outer source 192.168.77.11:\n%s", text.String())
	}
	for _, pr := range tr.Points {
		if pr.Label == "node1:ul" && (len(pr.OuterSources) == 0 || pr.OuterSources[0] != "192.168.77.11") {
			t.Fatalf("node1:ul outer sources %v, want 192.168.77.11 first:\n%s", pr.OuterSources, text.String())
		}
	}
}
