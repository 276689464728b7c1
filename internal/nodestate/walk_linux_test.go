//go:build linux

package nodestate_test

import (
	"context"
	"math"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netdoctor/netdoctor/internal/nodestate"
	"github.com/netdoctor/netdoctor/internal/testenv"
)

type walkCase struct {
	name       string
	pkt        nodestate.Packet
	endpoints  map[string]float64 // certain endpoints and their probabilities
	uncertain  []string           // endpoints behind an unevaluable rule
	masq       bool
	service    string
	rejected   string // substring of Rejected
	unevalSubs []string
}

func pkt(src, dst, proto string, port uint16, iif string) nodestate.Packet {
	p := nodestate.Packet{Dst: netip.MustParseAddr(dst), Proto: proto, DstPort: port, InIface: iif}
	if src != "" {
		p.Src = netip.MustParseAddr(src)
	}
	if iif == "" {
		p.Local = true
	}
	return p
}

func checkWalk(t *testing.T, s *nodestate.Snapshot, c walkCase) {
	t.Helper()
	w := s.WalkNAT(c.pkt)
	dump := func() string {
		var b strings.Builder
		for _, st := range w.Steps {
			b.WriteString("  " + st.Table + " " + st.Chain + " #" + itoa(st.RuleNum) + " → " + st.Verdict + "\n")
		}
		return b.String() + "  unevaluable: " + strings.Join(w.Unevaluable, "; ") + "\n  notes: " + strings.Join(w.Notes, "; ")
	}
	got := map[string]float64{}
	var unc []string
	for _, e := range w.Endpoints {
		if e.Uncertain {
			unc = append(unc, e.Addr.String())
		} else {
			got[e.Addr.String()] = e.Probability
		}
	}
	if len(got) != len(c.endpoints) {
		t.Errorf("%s: endpoints %v, want %v\n%s", c.name, got, c.endpoints, dump())
	}
	for ep, p := range c.endpoints {
		if g, ok := got[ep]; !ok || math.Abs(g-p) > 1e-6 {
			t.Errorf("%s: endpoint %s probability %v (present %v), want %v\n%s", c.name, ep, g, ok, p, dump())
		}
	}
	if strings.Join(unc, ",") != strings.Join(c.uncertain, ",") {
		t.Errorf("%s: uncertain endpoints %v, want %v\n%s", c.name, unc, c.uncertain, dump())
	}
	if w.Matched != (len(c.endpoints)+len(c.uncertain) > 0) {
		t.Errorf("%s: Matched = %v\n%s", c.name, w.Matched, dump())
	}
	if w.Masquerade != c.masq {
		t.Errorf("%s: Masquerade = %v, want %v\n%s", c.name, w.Masquerade, c.masq, dump())
	}
	if w.Service != c.service {
		t.Errorf("%s: Service = %q, want %q", c.name, w.Service, c.service)
	}
	if (c.rejected == "") != (w.Rejected == "") || !strings.Contains(w.Rejected, c.rejected) {
		t.Errorf("%s: Rejected = %q, want it to contain %q", c.name, w.Rejected, c.rejected)
	}
	for _, sub := range c.unevalSubs {
		found := false
		for _, u := range w.Unevaluable {
			found = found || strings.Contains(u, sub)
		}
		if !found {
			t.Errorf("%s: no unevaluable entry containing %q in %q", c.name, sub, w.Unevaluable)
		}
	}
	if len(c.unevalSubs) == 0 && len(w.Unevaluable) > 0 {
		t.Errorf("%s: unexpected unevaluable rules %q", c.name, w.Unevaluable)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

const physdev = "cannot evaluate rule 1 of nat/CALI-PREROUTING (-m physdev --physdev-in)"

var web = map[string]float64{"10.244.1.3:8080": 1.0 / 3, "10.244.2.4:8080": 1.0 / 3, "10.244.3.5:8080": 1.0 / 3}

func iptablesCases() []walkCase {
	return []walkCase{
		{name: "cluster IP from a pod", pkt: pkt("10.244.1.5", "10.96.100.7", "tcp", 80, "cni0"),
			endpoints: web, service: "default/web:http", unevalSubs: []string{physdev}},
		{name: "cluster IP from outside the pod network", pkt: pkt("192.168.50.99", "10.96.100.7", "tcp", 80, "eth0"),
			endpoints: web, masq: true, service: "default/web:http", unevalSubs: []string{physdev}},
		{name: "node port", pkt: pkt("192.168.50.99", "192.168.50.10", "tcp", 30080, "eth0"),
			endpoints: web, masq: true, service: "default/web:http", unevalSubs: []string{physdev}},
		{name: "node port on the secondary address", pkt: pkt("192.168.50.99", "192.168.50.20", "tcp", 30080, "eth0"),
			endpoints: web, masq: true, service: "default/web:http", unevalSubs: []string{physdev}},
		{name: "kube-dns from the node itself", pkt: pkt("", "10.96.0.10", "udp", 53, ""),
			endpoints: map[string]float64{"10.244.0.2:53": 1}, masq: true, service: "kube-system/kube-dns:dns"},
		// Not DNATed, the packet leaves the pod network for 10.96/12: flannel's rule masquerades it.
		{name: "wrong port", pkt: pkt("10.244.1.5", "10.96.100.7", "tcp", 81, "cni0"), masq: true, unevalSubs: []string{physdev}},
		{name: "no rule for the address", pkt: pkt("10.244.1.5", "10.96.9.9", "tcp", 80, "cni0"), masq: true, unevalSubs: []string{physdev}},
		{name: "service without endpoints", pkt: pkt("10.244.1.5", "10.96.50.5", "tcp", 80, "cni0"), masq: true,
			rejected: `"default/empty:http has no endpoints"`, service: "default/empty:http", unevalSubs: []string{physdev}},
		{name: "rule with an unknown match", pkt: pkt("10.244.1.5", "10.96.200.9", "tcp", 80, "cni0"), masq: true,
			service:    "default/odd:http",
			unevalSubs: []string{physdev, "cannot evaluate rule 3 of nat/KUBE-SERVICES (-m limit --limit)"}},
		{name: "unknown source", pkt: pkt("", "10.96.100.7", "tcp", 80, "cni0"),
			endpoints: web, service: "default/web:http",
			unevalSubs: []string{physdev, "rule 2 of nat/CALI-PREROUTING (source address unknown: give --src)"}},
	}
}

func TestWalkNATIptables(t *testing.T) {
	for _, backend := range []string{"nft", "legacy"} {
		t.Run(backend, func(t *testing.T) {
			n := buildNode(t, backend)
			before := testenv.CaptureNetNS(t, n.ns)
			s := take(t, n)
			if d := testenv.DiffCaptures(before, testenv.CaptureNetNS(t, n.ns)); d != "" {
				t.Fatalf("Take changed the namespace:\n%s", d)
			}
			if s.Iptables == nil || s.Iptables.Backend != backend || s.Iptables.Other != nil {
				t.Fatalf("iptables backend = %+v, want %s alone", s.Iptables, backend)
			}
			for _, c := range iptablesCases() {
				checkWalk(t, s, c)
			}
			// The kernel agrees: a real UDP packet from the pod to the kube-dns ClusterIP is
			// DNATed to the endpoint the walk names.
			kernelDNAT(t, n, "10.96.0.10:53", "10.244.0.2")
		})
	}
}

func TestWalkNATNftables(t *testing.T) {
	n := buildNode(t, "")
	testenv.RequireTool(t, "nft")
	n.ns.Exec(t, "nft", "-f", "testdata/kube-proxy.nft")
	s := take(t, n)
	if s.Iptables != nil && s.Iptables.Rules > 0 {
		t.Fatalf("unexpected iptables rules: %d", s.Iptables.Rules)
	}
	if kp := s.Nft.Table("ip", "kube-proxy"); kp == nil || !kp.KubeProxy || kp.Sets["service-ips"] == nil || len(kp.Sets["service-ips"].Elements) != 3 {
		t.Fatalf("kube-proxy table = %+v", kp)
	}
	svc := map[string]float64{"10.180.0.1:80": 0.5, "10.180.0.2:80": 0.5}
	cases := []walkCase{
		{name: "cluster IP from a pod", pkt: pkt("10.180.0.5", "172.30.0.41", "tcp", 80, "cni0"), endpoints: svc, service: "ns1/svc1:p80"},
		{name: "cluster IP from outside", pkt: pkt("192.168.50.99", "172.30.0.41", "tcp", 80, "eth0"), endpoints: svc, masq: true, service: "ns1/svc1:p80"},
		{name: "node port", pkt: pkt("192.168.50.99", "192.168.50.10", "tcp", 30080, "eth0"), endpoints: svc, masq: true, service: "ns1/svc1:p80"},
		{name: "dns from the node", pkt: pkt("", "172.30.0.42", "udp", 53, ""), endpoints: map[string]float64{"10.180.0.3:53": 1}, masq: true, service: "ns2/dns:dns"},
		{name: "wrong protocol", pkt: pkt("10.180.0.5", "172.30.0.42", "tcp", 53, "cni0")},
		{name: "no endpoints", pkt: pkt("10.180.0.5", "172.30.0.44", "tcp", 80, "cni0"), rejected: "reject-chain"},
		{name: "unknown expressions", pkt: pkt("10.180.0.5", "172.30.0.43", "tcp", 80, "cni0"),
			uncertain: []string{"10.180.0.9:80"}, service: "ns3/odd:p80",
			unevalSubs: []string{"(socket)", "(meta cpu)"}},
	}
	for _, c := range cases {
		checkWalk(t, s, c)
	}
	n.pod.Exec(t, "ip", "addr", "add", "10.180.0.5/32", "dev", "eth0")
	kernelDNAT(t, n, "172.30.0.42:53", "10.180.0.3")
}

// kernelDNAT sends one UDP datagram from the pod to vip and checks that the node's conntrack
// table shows it translated to endpoint.
func kernelDNAT(t *testing.T, n *node, vip, endpoint string) {
	t.Helper()
	testenv.RequireTool(t, "conntrack")
	var c net.Conn
	if err := n.pod.NS.Do(func() (err error) { c, err = net.Dial("udp", vip); return err }); err != nil {
		t.Fatalf("dial %s from the pod: %v", vip, err)
	}
	defer c.Close()
	host, _, _ := net.SplitHostPort(vip)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := c.Write([]byte("x")); err != nil {
			t.Fatalf("send to %s: %v", vip, err)
		}
		out, _, _ := n.ns.Output(context.Background(), "conntrack", "-L", "-p", "udp", "--orig-dst", host)
		if strings.Contains(out, "src="+endpoint+" ") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("conntrack never showed %s DNATed to %s:\n%s", vip, endpoint, out)
		}
		time.Sleep(50 * time.Millisecond) // polling the kernel's table; there is no event to wait on here
	}
}

// TestBothIptablesBackends: kube-proxy's rules in the nft backend and a stray rule written with
// iptables-legacy: the snapshot names the backend in use and keeps the other, and the walk says so.
func TestBothIptablesBackends(t *testing.T) {
	n := buildNode(t, "nft")
	testenv.RequireTool(t, "iptables-legacy")
	n.ns.Exec(t, "iptables-legacy", "-t", "nat", "-A", "POSTROUTING", "-s", "10.244.0.0/16", "-j", "MASQUERADE")
	t.Cleanup(func() { n.ns.Try("iptables-legacy", "-t", "nat", "-F") })
	s := take(t, n)
	if s.Iptables == nil || s.Iptables.Backend != "nft" || s.Iptables.Other == nil || s.Iptables.Other.Backend != "legacy" || s.Iptables.Other.Rules != 1 {
		t.Fatalf("iptables = %+v, want nft with legacy's 1 rule in Other", s.Iptables)
	}
	w := s.WalkNAT(pkt("10.244.1.5", "10.96.0.10", "udp", 53, "cni0"))
	if len(w.Notes) == 0 || !strings.Contains(w.Notes[0], "both iptables backends hold rules (nft: 36, legacy: 1)") {
		t.Errorf("notes = %q", w.Notes)
	}
}
