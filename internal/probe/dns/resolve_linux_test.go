//go:build linux

package dns

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/netdoctor/netdoctor/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const k8sResolvConf = "search default.svc.cluster.local svc.cluster.local cluster.local\n" +
	"nameserver " + testenv.DNSServerIP + "\noptions ndots:5\n"

// clusterZone is a cluster.local-like zone, with a name whose answer needs more than 512 bytes.
func clusterZone() testenv.DNSZone {
	z := testenv.DNSZone{
		Records: []string{
			"web.default.svc.cluster.local. 30 IN A 10.96.0.20",
			"kubernetes.default.svc.cluster.local. 30 IN A 10.96.0.1",
			"db.prod.svc.cluster.local. 30 IN A 10.96.5.5",
			"broken.svc.cluster.local. 30 IN A 10.96.9.9",
			"alias.default.svc.cluster.local. 30 IN CNAME web.default.svc.cluster.local.",
			"_http._tcp.web.default.svc.cluster.local. 30 IN SRV 0 100 80 web.default.svc.cluster.local.",
			"20.0.96.10.in-addr.arpa. 30 IN PTR web.default.svc.cluster.local.",
			"web.default.svc.cluster.local. 30 IN TXT \"hello\"",
		},
		ServFail: []string{"broken.default.svc.cluster.local"},
	}
	for i := 1; i <= 40; i++ {
		z.Records = append(z.Records, fmt.Sprintf("big.default.svc.cluster.local. 30 IN A 10.97.0.%d", i))
	}
	return z
}

func resolve(t *testing.T, p *testenv.DNSPair, o Options) *Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r, err := Resolve(ctx, p.Client.NS, o)
	if err != nil {
		t.Fatalf("Resolve(%+v): %v", o, err)
	}
	return r
}

func queryNames(r *Result) []string {
	var out []string
	for _, q := range r.Queries {
		out = append(out, q.Name)
	}
	return out
}

// TestSearchOrderMatchesGlibc resolves names with glibc (getent ahostsv4, through `ip netns exec`, so it
// reads the same /etc/netns resolv.conf) and with Resolve, and compares the queries the server saw.
func TestSearchOrderMatchesGlibc(t *testing.T) {
	testenv.RequireTool(t, "getent")
	p := testenv.NewDNSPair(t, clusterZone(), k8sResolvConf+"options timeout:2 attempts:2\n")
	for _, name := range []string{"web", "db.prod", "example.com", "nothing", "a.b.c.d.e", "a.b.c.d.e.f", "broken", "kubernetes.default"} {
		t.Run(name, func(t *testing.T) {
			p.DNS.ResetLog()
			_, _ = p.Client.Try("getent", "ahostsv4", name)
			glibc := p.DNS.Log()
			p.DNS.ResetLog()
			r := resolve(t, p, Options{Name: name})
			ours := p.DNS.Log()
			if len(glibc) == 0 {
				t.Fatalf("glibc sent no query for %q", name)
			}
			if !reflect.DeepEqual(ours, glibc) {
				t.Errorf("%s: server saw\n ours:  %v\n glibc: %v", name, ours, glibc)
			}
			var sent []string
			for _, q := range glibc {
				sent = append(sent, q.Name)
			}
			if got := queryNames(r); !reflect.DeepEqual(got, sent) {
				t.Errorf("%s: Result.Queries = %v, want what glibc sent %v", name, got, sent)
			}
		})
	}
}

func TestSearchExpansionOrder(t *testing.T) {
	p := testenv.NewDNSPair(t, clusterZone(), k8sResolvConf)
	r := resolve(t, p, Options{Name: "example.com"})
	want := []string{"example.com.default.svc.cluster.local.", "example.com.svc.cluster.local.",
		"example.com.cluster.local.", "example.com."}
	if got := queryNames(r); !reflect.DeepEqual(got, want) {
		t.Errorf("queries %v, want %v", got, want)
	}
	if r.Outcome != OutcomeNXDomain || r.Final != nil {
		t.Errorf("outcome %q final %+v, want nxdomain and no answer", r.Outcome, r.Final)
	}
	for _, q := range r.Queries {
		if q.Rcode != "NXDOMAIN" || q.Proto != UDP || q.Server != testenv.DNSServerIP+":53" || q.Latency <= 0 {
			t.Errorf("query %+v: want NXDOMAIN over udp from %s:53 with a latency", q, testenv.DNSServerIP)
		}
	}

	r = resolve(t, p, Options{Name: "db.prod"})
	if want := []string{"db.prod.default.svc.cluster.local.", "db.prod.svc.cluster.local."}; !reflect.DeepEqual(queryNames(r), want) {
		t.Errorf("db.prod: queries %v, want %v", queryNames(r), want)
	}
	if !r.OK() || r.Final.Name != "db.prod.svc.cluster.local." || !reflect.DeepEqual(r.Final.Values, []string{"10.96.5.5"}) {
		t.Errorf("db.prod: outcome %q final %+v", r.Outcome, r.Final)
	}
}

// TestAnswersMatchDig compares the final answer with dig's, asked in the same namespace.
func TestAnswersMatchDig(t *testing.T) {
	testenv.RequireTool(t, "dig")
	p := testenv.NewDNSPair(t, clusterZone(), k8sResolvConf)
	tests := []struct {
		name, qtype, digName string
	}{
		{"web", "A", "web.default.svc.cluster.local."},
		{"big", "A", "big.default.svc.cluster.local."},
		{"alias", "A", "alias.default.svc.cluster.local."},
		{"_http._tcp.web", "SRV", "_http._tcp.web.default.svc.cluster.local."},
		{"web", "TXT", "web.default.svc.cluster.local."},
		{"10.96.0.20", "PTR", "20.0.96.10.in-addr.arpa."},
		{"alias.default.svc.cluster.local.", "CNAME", "alias.default.svc.cluster.local."},
	}
	for _, tt := range tests {
		t.Run(tt.name+"/"+tt.qtype, func(t *testing.T) {
			r := resolve(t, p, Options{Name: tt.name, Type: tt.qtype})
			if !r.OK() {
				t.Fatalf("outcome %q, queries %+v", r.Outcome, r.Queries)
			}
			if r.Final.Name != tt.digName {
				t.Errorf("answered name %q, want %q", r.Final.Name, tt.digName)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, _, err := p.Client.Output(ctx, "dig", "+noall", "+answer", "+noedns", "@"+testenv.DNSServerIP, tt.digName, tt.qtype)
			if err != nil {
				t.Fatalf("dig: %v", err)
			}
			var want []string
			for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
				f := strings.Fields(l)
				if len(f) >= 5 && f[3] == tt.qtype {
					want = append(want, strings.Join(f[4:], " "))
				}
			}
			got := append([]string(nil), r.Final.Values...)
			sort.Strings(got)
			sort.Strings(want)
			if len(want) == 0 || !reflect.DeepEqual(got, want) {
				t.Errorf("answers %q, dig says %q", got, want)
			}
		})
	}
}

func TestTruncatedAnswerRetriedOverTCP(t *testing.T) {
	p := testenv.NewDNSPair(t, clusterZone(), k8sResolvConf)
	r := resolve(t, p, Options{Name: "big.default.svc.cluster.local."})
	if len(r.Queries) != 2 {
		t.Fatalf("queries %+v, want udp (TC) then tcp", r.Queries)
	}
	u, c := r.Queries[0], r.Queries[1]
	if u.Proto != UDP || !u.Truncated || u.Rcode != "NOERROR" || c.Proto != TCP || c.Truncated || len(c.Answers) != 40 {
		t.Errorf("udp %+v\ntcp %+v\nwant a truncated udp answer, then 40 answers over tcp", u, c)
	}
	if !r.OK() || r.Final.Proto != TCP || len(r.Final.Values) != 40 {
		t.Errorf("final %+v, want 40 addresses over tcp", r.Final)
	}
	want := []testenv.DNSQuery{{Name: "big.default.svc.cluster.local.", Type: "A", Proto: "udp"},
		{Name: "big.default.svc.cluster.local.", Type: "A", Proto: "tcp"}}
	if got := p.DNS.Log(); !reflect.DeepEqual(got, want) {
		t.Errorf("server saw %v, want %v", got, want)
	}
}

func TestServFailMovesToNextSearchDomain(t *testing.T) {
	p := testenv.NewDNSPair(t, clusterZone(), k8sResolvConf+"options attempts:1\n")
	r := resolve(t, p, Options{Name: "broken"})
	want := []string{"broken.default.svc.cluster.local.", "broken.svc.cluster.local."}
	if !reflect.DeepEqual(queryNames(r), want) || r.Queries[0].Rcode != "SERVFAIL" {
		t.Errorf("queries %+v, want SERVFAIL for %s then %s", r.Queries, want[0], want[1])
	}
	if !r.OK() || r.Final.Values[0] != "10.96.9.9" {
		t.Errorf("outcome %q final %+v", r.Outcome, r.Final)
	}
}

func TestNoDataAndNXDomain(t *testing.T) {
	p := testenv.NewDNSPair(t, clusterZone(), k8sResolvConf)
	r := resolve(t, p, Options{Name: "web.default.svc.cluster.local.", Type: "AAAA"})
	if r.Outcome != OutcomeNoData || len(r.Queries) != 1 || r.Queries[0].Rcode != "NOERROR" {
		t.Errorf("AAAA of an A-only name: outcome %q queries %+v, want nodata after one NOERROR", r.Outcome, r.Queries)
	}
	r = resolve(t, p, Options{Name: "nothing.default.svc.cluster.local", NoSearch: true})
	if r.Outcome != OutcomeNXDomain || len(r.Queries) != 1 {
		t.Errorf("--no-search: outcome %q queries %+v, want one NXDOMAIN", r.Outcome, r.Queries)
	}
}

// TestServerDown: the server drops everything; every query times out, the search list stops at the
// first timeout and the name is tried as is (glibc), and the outcome is timeout.
func TestServerDown(t *testing.T) {
	testenv.RequireTool(t, "iptables")
	p := testenv.NewDNSPair(t, clusterZone(), k8sResolvConf+"options timeout:1 attempts:1\n")
	p.Server.Exec(t, "iptables", "-A", "INPUT", "-p", "udp", "--dport", "53", "-j", "DROP")
	p.Server.Exec(t, "iptables", "-A", "INPUT", "-p", "tcp", "--dport", "53", "-j", "DROP")
	start := time.Now()
	r := resolve(t, p, Options{Name: "web"})
	if want := []string{"web.default.svc.cluster.local.", "web."}; !reflect.DeepEqual(queryNames(r), want) {
		t.Errorf("queries %v, want %v (a timeout ends the search list, then the name as is)", queryNames(r), want)
	}
	for _, q := range r.Queries {
		if q.Err != FailTimeout || q.Rcode != "" || q.Latency < 900*time.Millisecond {
			t.Errorf("query %+v, want a timeout after about 1s", q)
		}
	}
	if r.Outcome != OutcomeTimeout {
		t.Errorf("outcome %q, want timeout", r.Outcome)
	}
	if el := time.Since(start); el > 20*time.Second {
		t.Errorf("took %v for two 1s waits", el)
	}

	// The caller's deadline ends it early, with what was measured so far.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	r, err := Resolve(ctx, p.Client.NS, Options{Name: "web"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Outcome != OutcomeTimeout || r.Stopped == "" || len(r.Queries) != 1 || r.Queries[0].Err != FailTimeout {
		t.Errorf("deadline: outcome %q stopped %q queries %+v", r.Outcome, r.Stopped, r.Queries)
	}
}

// TestUDPBlockedTCPOpen: UDP port 53 is dropped, TCP is open: UDP times out, TCP resolves.
func TestUDPBlockedTCPOpen(t *testing.T) {
	testenv.RequireTool(t, "iptables")
	p := testenv.NewDNSPair(t, clusterZone(), k8sResolvConf+"options timeout:1 attempts:1\n")
	p.Server.Exec(t, "iptables", "-A", "INPUT", "-p", "udp", "--dport", "53", "-j", "DROP")
	r := resolve(t, p, Options{Name: "web.default.svc.cluster.local."})
	if r.Outcome != OutcomeTimeout || len(r.Queries) != 1 || r.Queries[0].Proto != UDP || r.Queries[0].Err != FailTimeout {
		t.Errorf("udp: outcome %q queries %+v, want one udp timeout", r.Outcome, r.Queries)
	}
	r = resolve(t, p, Options{Name: "web.default.svc.cluster.local.", TCP: true})
	if !r.OK() || len(r.Queries) != 1 || r.Queries[0].Proto != TCP || r.Final.Values[0] != "10.96.0.20" {
		t.Errorf("tcp: outcome %q queries %+v, want one tcp answer 10.96.0.20", r.Outcome, r.Queries)
	}
}

// TestNoListener: nothing listens on the port: ICMP port unreachable is "refused", not a timeout.
func TestNoListener(t *testing.T) {
	p := testenv.NewDNSPair(t, clusterZone(), k8sResolvConf)
	r := resolve(t, p, Options{Name: "web", Server: testenv.DNSServerIP + ":5353"})
	if r.Outcome != OutcomeUnreachable || len(r.Queries) != 2 {
		t.Fatalf("outcome %q queries %+v, want unreachable after two refused attempts", r.Outcome, r.Queries)
	}
	for _, q := range r.Queries {
		if q.Err != FailRefused || q.Server != testenv.DNSServerIP+":5353" || q.Latency > 5*time.Second {
			t.Errorf("query %+v, want refused at once", q)
		}
	}
}

func TestResolvConfPath(t *testing.T) {
	p := testenv.NewDNSPair(t, clusterZone(), k8sResolvConf)
	if got := ResolvConfPath(p.Client.NS.Spec()); got != p.ResolvConf {
		t.Errorf("ResolvConfPath(client) = %q, want %q", got, p.ResolvConf)
	}
	if got := ResolvConfPath(p.Server.NS.Spec()); got != "/etc/resolv.conf" {
		t.Errorf("ResolvConfPath(server without /etc/netns file) = %q", got)
	}
	r := resolve(t, p, Options{Name: "web"})
	if r.Config.Source != p.ResolvConf || r.Config.Ndots != 5 || !r.OK() {
		t.Errorf("config %+v outcome %q", r.Config, r.Outcome)
	}
}

func TestBadInput(t *testing.T) {
	for _, o := range []Options{
		{Name: ""}, {Name: "a b"}, {Name: "web", Type: "FOO"}, {Name: "x..y"}, {Name: strings.Repeat("a", 64) + ".x"},
		{Name: "web", Server: "dns.example"}, {Name: "web", Server: "10.0.0.1:0"}, {Name: "bad\nname"},
	} {
		if _, err := Resolve(context.Background(), nil, o); !errors.Is(err, ErrBadInput) {
			t.Errorf("Resolve(%+v) = %v, want ErrBadInput", o, err)
		}
	}
}

func TestProbeRecord(t *testing.T) {
	p := testenv.NewDNSPair(t, clusterZone(), k8sResolvConf)
	rec := resolve(t, p, Options{Name: "web"}).ProbeRecord("netns/client")
	if !rec.OK || rec.Outcome != "ok" || rec.Name != "dns" || rec.To != "web A" || rec.RTTMs <= 0 ||
		rec.Summary != "web.default.svc.cluster.local. A 10.96.0.20 from 10.53.0.2:53 over udp after 1 query" {
		t.Errorf("ok record %+v", rec)
	}
	rec = resolve(t, p, Options{Name: "nothing"}).ProbeRecord("netns/client")
	if rec.OK || rec.Outcome != "nxdomain" || !strings.HasPrefix(rec.Summary, "NXDOMAIN for nothing.default.svc.cluster.local.") {
		t.Errorf("nxdomain record %+v", rec)
	}
}

// TestNextServer: a server that times out or answers SERVFAIL makes the resolver ask the next one,
// in resolv.conf order, as glibc does (compared with getent through the same resolv.conf).
func TestNextServer(t *testing.T) {
	testenv.RequireTool(t, "iptables")
	testenv.RequireTool(t, "getent")
	const second = "10.53.0.3"
	conf := "nameserver " + testenv.DNSServerIP + "\nnameserver " + second + "\noptions timeout:1 attempts:2\n"
	// The first server fails web with SERVFAIL and drops everything for db.
	bad := testenv.DNSZone{ServFail: []string{"web.default.svc.cluster.local"}}
	p := testenv.NewDNSPair(t, bad, conf)
	p.Server.Exec(t, "ip", "addr", "add", second+"/24", "dev", "s0")
	good := testenv.StartDNSServer(t, p.Server, second+":53", clusterZone())
	p.Server.Exec(t, "iptables", "-A", "INPUT", "-d", testenv.DNSServerIP, "-p", "udp", "--dport", "53",
		"-m", "string", "--algo", "bm", "--string", "db", "-j", "DROP")

	for _, tt := range []struct {
		name      string
		wantFirst Query
	}{
		{"web.default.svc.cluster.local.", Query{Rcode: "SERVFAIL"}},
		{"db.prod.svc.cluster.local.", Query{Err: FailTimeout}},
	} {
		r := resolve(t, p, Options{Name: tt.name})
		if len(r.Queries) != 2 || !r.OK() {
			t.Fatalf("%s: outcome %q queries %+v, want the first server to fail and the second to answer", tt.name, r.Outcome, r.Queries)
		}
		q0, q1 := r.Queries[0], r.Queries[1]
		if q0.Server != testenv.DNSServerIP+":53" || q0.Rcode != tt.wantFirst.Rcode || q0.Err != tt.wantFirst.Err ||
			q1.Server != second+":53" || q1.Rcode != "NOERROR" || r.Final.Server != second+":53" {
			t.Errorf("%s: queries %+v", tt.name, r.Queries)
		}
		// glibc does the same: the second server sees exactly one query for the name.
		good.ResetLog()
		_, _ = p.Client.Try("getent", "ahostsv4", tt.name)
		if log := good.Log(); len(log) != 1 || log[0].Name != tt.name {
			t.Errorf("%s: glibc asked the second server %v", tt.name, log)
		}
	}
}
