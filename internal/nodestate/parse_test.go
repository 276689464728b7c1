package nodestate

import (
	"encoding/json"
	"math"
	"net/netip"
	"os"
	"strings"
	"testing"
)

func TestParseIptablesSave(t *testing.T) {
	b, err := os.ReadFile("testdata/kube-proxy-nat.rules")
	if err != nil {
		t.Fatal(err)
	}
	ipt, err := ParseIptablesSave(b)
	if err != nil {
		t.Fatal(err)
	}
	if ipt.Rules != 36 || len(ipt.Tables) != 2 {
		t.Errorf("rules = %d tables = %d, want 36 and 2", ipt.Rules, len(ipt.Tables))
	}
	c := ipt.Chain("nat", "KUBE-SVC-7EJNTS7AENER2WX5")
	r := c.Rules[0]
	want := []Match{
		{Option: "-s", Args: []string{"10.244.0.0/16"}, Negate: true},
		{Option: "-d", Args: []string{"10.96.100.7/32"}},
		{Option: "-p", Args: []string{"tcp"}},
		{Module: "comment", Option: "--comment", Args: []string{"default/web:http cluster IP"}},
		{Module: "tcp", Option: "--dport", Args: []string{"80"}},
	}
	if len(r.Matches) != len(want) || r.Target != "KUBE-MARK-MASQ" || r.Comment != "default/web:http cluster IP" {
		t.Fatalf("rule = %+v", r)
	}
	for i := range want {
		g, w := r.Matches[i], want[i]
		if g.Module != w.Module || g.Option != w.Option || g.Negate != w.Negate || strings.Join(g.Args, " ") != strings.Join(w.Args, " ") {
			t.Errorf("match %d = %+v, want %+v", i, g, w)
		}
	}
	pr := ipt.Chain("nat", "KUBE-POSTROUTING").Rules[0]
	if len(pr.Matches) != 1 || !pr.Matches[0].Negate || pr.Matches[0].Module != "mark" || pr.Target != "RETURN" {
		t.Errorf("KUBE-POSTROUTING rule 1 = %+v", pr)
	}
	if p := ipt.Chain("nat", "POSTROUTING"); p.Policy != "ACCEPT" {
		t.Errorf("POSTROUTING policy %q", p.Policy)
	}
	d := ipt.Chain("nat", "KUBE-SEP-2ZJ6HH2Y4H3VFQEL").Rules[1]
	if d.Target != "DNAT" || d.TargetArg("--to-destination") != "10.244.1.3:8080" {
		t.Errorf("DNAT rule = %+v", d)
	}
}

func TestParseIptablesSaveCounters(t *testing.T) {
	in := "*nat\n:PREROUTING ACCEPT [3:180]\n[12:720] -A PREROUTING -m comment --comment \"a \\\"quoted\\\" word\" -j KUBE-SERVICES\nCOMMIT\n"
	ipt, err := ParseIptablesSave([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	r := ipt.Chain("nat", "PREROUTING").Rules[0]
	if r.Packets != 12 || r.Bytes != 720 || r.Comment != `a "quoted" word` || r.Raw[:2] != "-A" {
		t.Errorf("rule = %+v", r)
	}
	for _, bad := range []string{"-A X -j Y\n", "*nat\n[1:2 -A X\n", "*nat\nfoo\n"} {
		if _, err := ParseIptablesSave([]byte(bad)); err == nil || !strings.HasPrefix(err.Error(), "nodestate: ") {
			t.Errorf("ParseIptablesSave(%q) err = %v, want a nodestate error", bad, err)
		}
	}
}

// TestWalkNATOffline walks the test ruleset in a hand-built snapshot: no root needed, as the
// diagnoser's checks do it.
func TestWalkNATOffline(t *testing.T) {
	b, _ := os.ReadFile("testdata/kube-proxy-nat.rules")
	ipt, err := ParseIptablesSave(b)
	if err != nil {
		t.Fatal(err)
	}
	ipt.Backend = "nft"
	s := &Snapshot{
		Links: []Link{{Index: 2, Name: "eth0", Addrs: []Addr{{IP: netip.MustParseAddr("192.168.50.10")}}},
			{Index: 3, Name: "cni0", Addrs: []Addr{{IP: netip.MustParseAddr("10.244.1.1")}}}},
		Routes:   []Route{{Table: 254, Dst: netip.MustParsePrefix("0.0.0.0/0"), Dev: "eth0", Type: "unicast"}},
		IPSets:   map[string]*IPSet{"cali40masq-ipam-pools": {Name: "cali40masq-ipam-pools", Type: "hash:net", Members: []string{"10.244.0.0/16"}}},
		Iptables: ipt,
	}
	w := s.WalkNAT(Packet{Src: netip.MustParseAddr("192.168.50.99"), Dst: netip.MustParseAddr("192.168.50.10"), Proto: "tcp", DstPort: 30080, InIface: "eth0"})
	if !w.Matched || len(w.Endpoints) != 3 || !w.Masquerade || w.Service != "default/web:http" || w.Backend != "iptables-nft" {
		t.Fatalf("walk = %+v", w)
	}
	sum := 0.0
	for _, e := range w.Endpoints {
		sum += e.Probability
	}
	if math.Abs(sum-1) > 1e-9 {
		t.Errorf("probabilities sum to %v", sum)
	}
	// The JSON form round-trips.
	js, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	var back NATWalk
	if err := json.Unmarshal(js, &back); err != nil || back.Endpoints[0].Addr != w.Endpoints[0].Addr {
		t.Errorf("round trip: %v %+v", err, back.Endpoints)
	}
	// Empty snapshots walk to nothing without panicking.
	if w := (&Snapshot{}).WalkNAT(Packet{Dst: netip.MustParseAddr("10.0.0.1")}); w.Matched || w.Backend != "" {
		t.Errorf("empty walk = %+v", w)
	}
	if w := (*Snapshot)(nil).WalkNAT(Packet{}); w == nil {
		t.Error("nil snapshot returned nil walk")
	}
}

func TestServiceFromNames(t *testing.T) {
	for in, want := range map[string]string{
		"default/web:http cluster IP":         "default/web:http",
		"default/web:http -> 10.244.1.3:8080": "default/web:http",
		"default/empty:http has no endpoints": "default/empty:http",
		"default/web:http":                    "default/web:http",
		"kubernetes service portals":          "",
	} {
		if got := serviceFromComment(in); got != want {
			t.Errorf("serviceFromComment(%q) = %q, want %q", in, got, want)
		}
	}
	if got := serviceFromNftChain("service-ULMVA6XW-ns1/svc1/tcp/p80"); got != "ns1/svc1:p80" {
		t.Errorf("serviceFromNftChain = %q", got)
	}
}

func FuzzParseIptablesSave(f *testing.F) {
	b, _ := os.ReadFile("testdata/kube-proxy-nat.rules")
	f.Add(b)
	f.Add([]byte("*nat\n-A X ! \"unterminated\nCOMMIT\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		ipt, err := ParseIptablesSave(in)
		if err != nil {
			return
		}
		s := &Snapshot{Iptables: ipt}
		s.WalkNAT(Packet{Dst: netip.MustParseAddr("10.96.0.10"), Proto: "udp", DstPort: 53, InIface: "eth0"})
	})
}

func FuzzParseNftJSON(f *testing.F) {
	f.Add([]byte(`{"nftables":[{"table":{"family":"ip","name":"kube-proxy"}},{"chain":{"family":"ip","table":"kube-proxy","name":"nat-prerouting","type":"nat","hook":"prerouting","prio":-100}},{"rule":{"family":"ip","table":"kube-proxy","chain":"nat-prerouting","handle":3,"expr":[{"vmap":{"key":{"numgen":{"mode":"random","mod":2}},"data":{"set":[[0,{"goto":{"target":"x"}}]]}}}]}}]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		rs, err := ParseNftJSON(in)
		if err != nil {
			return
		}
		s := &Snapshot{Nft: rs}
		s.WalkNAT(Packet{Dst: netip.MustParseAddr("10.96.0.10"), Proto: "udp", DstPort: 53, InIface: "eth0"})
	})
}

// TestWalkNATBounded: a chain of unevaluable rules doubles the branches at each rule; the step
// budget keeps the walk bounded.
func TestWalkNATBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("*nat\n:PREROUTING ACCEPT [0:0]\n:LOOP - [0:0]\n")
	for i := 0; i < 60; i++ {
		b.WriteString("-A PREROUTING -m foo --bar -j MARK --set-xmark 0x1/0x1\n")
	}
	b.WriteString("-A PREROUTING -j LOOP\n-A LOOP -j LOOP\nCOMMIT\n")
	ipt, err := ParseIptablesSave([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	w := (&Snapshot{Iptables: ipt}).WalkNAT(Packet{Dst: netip.MustParseAddr("10.0.0.1"), Proto: "tcp", DstPort: 1, InIface: "eth0"})
	if len(w.Steps) > maxSteps || len(w.Notes) == 0 {
		t.Errorf("steps = %d notes = %q: want the budget note", len(w.Steps), w.Notes)
	}
}

func TestTokenize(t *testing.T) {
	for in, want := range map[string]string{
		`-A X -m comment --comment "a b" -j Y`: `-A|X|-m|comment|--comment|a b|-j|Y`,
		`-A X --comment "say \"hi\"" -j Y`:     `-A|X|--comment|say "hi"|-j|Y`,
		`-A X --comment ""`:                    `-A|X|--comment|`,
		`-A X --comment ab"c d"`:               `-A|X|--comment|abc d`,
		"-A X\t-j  Y":                          `-A|X|-j|Y`,
	} {
		got, ok := tokenize(in)
		if !ok || strings.Join(got, "|") != want {
			t.Errorf("tokenize(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	if _, ok := tokenize(`-A X --comment "open`); ok {
		t.Error("unterminated quote accepted")
	}
}

// TestWalkNATSessionAffinity: kube-proxy's ClientIP affinity rules (-m recent) cannot be evaluated
// from state (they depend on earlier connections); --set in the endpoint chain always matches.
func TestWalkNATSessionAffinity(t *testing.T) {
	in := `*nat
:PREROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-AFF - [0:0]
:KUBE-SEP-A - [0:0]
:KUBE-SEP-B - [0:0]
-A PREROUTING -j KUBE-SERVICES
-A KUBE-SERVICES -d 10.96.7.7/32 -p tcp -m comment --comment "default/sticky:http cluster IP" -m tcp --dport 80 -j KUBE-SVC-AFF
-A KUBE-SVC-AFF -m comment --comment "default/sticky:http -> 10.244.1.10:80" -m recent --name KUBE-SEP-A --mask 255.255.255.255 --rsource --rcheck --seconds 10800 --reap -j KUBE-SEP-A
-A KUBE-SVC-AFF -m comment --comment "default/sticky:http -> 10.244.1.10:80" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-A
-A KUBE-SVC-AFF -m comment --comment "default/sticky:http -> 10.244.1.11:80" -j KUBE-SEP-B
-A KUBE-SEP-A -p tcp -m comment --comment "default/sticky:http" -m recent --set --name KUBE-SEP-A --mask 255.255.255.255 --rsource -m tcp -j DNAT --to-destination 10.244.1.10:80
-A KUBE-SEP-B -p tcp -m comment --comment "default/sticky:http" -m recent --set --name KUBE-SEP-B --mask 255.255.255.255 --rsource -m tcp -j DNAT --to-destination 10.244.1.11:80
COMMIT
`
	ipt, err := ParseIptablesSave([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	s := &Snapshot{Iptables: ipt}
	w := s.WalkNAT(Packet{Src: netip.MustParseAddr("10.244.2.2"), Dst: netip.MustParseAddr("10.96.7.7"), Proto: "tcp", DstPort: 80, InIface: "cni0"})
	if len(w.Endpoints) != 2 || w.Endpoints[0].Probability != 0.5 || w.Endpoints[1].Probability != 0.5 || w.Service != "default/sticky:http" {
		t.Errorf("endpoints = %+v service %q", w.Endpoints, w.Service)
	}
	if len(w.Unevaluable) != 1 || !strings.Contains(w.Unevaluable[0], "rule 1 of nat/KUBE-SVC-AFF (-m recent --rcheck (session affinity") {
		t.Errorf("unevaluable = %q", w.Unevaluable)
	}
	if w := s.WalkNAT(Packet{Dst: netip.MustParseAddr("fd00::1"), Proto: "tcp", DstPort: 80}); w.Matched || len(w.Notes) != 1 {
		t.Errorf("IPv6 walk = %+v", w)
	}
}
