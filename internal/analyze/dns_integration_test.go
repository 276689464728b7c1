//go:build linux

package analyze_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/netdoctor/netdoctor/internal/analyze"
	"github.com/netdoctor/netdoctor/internal/diag"
	"github.com/netdoctor/netdoctor/internal/testenv"
)

// dig against a real DNS server: a dead server (queries dropped), a truncated answer dig retries over
// TCP, and one it is told not to retry (+ignore).
func TestDNSDeadServerAndTruncation(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireTool(t, "dig")
	testenv.RequireTool(t, "iptables")
	l := testenv.NewLine(t, 2)
	cli, srv := l.Hosts[0], l.Hosts[1]
	var recs []string
	for _, name := range []string{"big.test.", "big2.test."} {
		for i := 0; i < 12; i++ {
			recs = append(recs, fmt.Sprintf("%s 30 IN TXT %q", name, strings.Repeat(string(rune('a'+i)), 60)))
		}
	}
	recs = append(recs, "ok.test. 30 IN A 192.0.2.7")
	testenv.StartDNSServer(t, srv, net.JoinHostPort(l.Addr(1), "53"), testenv.DNSZone{Records: recs})
	srv.Exec(t, "iptables", "-A", "INPUT", "-p", "udp", "--dport", "5353", "-j", "DROP")

	file := pcapPath(t, "dns.pcap")
	td := testenv.StartTcpdump(t, cli, l.Links[0].LeftIf, file, "port 53 or port 5353 or icmp")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dig := func(args ...string) string {
		out, _, _ := cli.Output(ctx, "dig", append([]string{"@" + l.Addr(1)}, args...)...)
		return out
	}
	if out := dig("+time=2", "+tries=1", "ok.test", "A"); !strings.Contains(out, "192.0.2.7") {
		t.Fatalf("dig ok.test: %s", out)
	}
	if out := dig("+noedns", "+time=2", "+tries=1", "big.test", "TXT"); !strings.Contains(out, "TCP") && !strings.Contains(out, "ANSWER: 12") {
		t.Fatalf("dig big.test did not get the full answer over TCP: %s", out)
	}
	if out := dig("+noedns", "+ignore", "+time=2", "+tries=1", "big2.test", "TXT"); !strings.Contains(out, " tc") {
		t.Fatalf("dig +ignore big2.test: no TC flag: %s", out)
	}
	if out := dig("-p", "5353", "+time=1", "+tries=2", "dead.test", "A"); !strings.Contains(out, "timed out") && !strings.Contains(out, "no servers") {
		t.Fatalf("dig to the dead server got something: %s", out)
	}
	captured(t, td, func(r *analyze.Result) bool {
		for _, q := range r.DNS {
			if q.Name == "dead.test" && q.Sent >= 2 {
				return true
			}
		}
		return false
	})

	res, err := analyze.File(file)
	if err != nil {
		t.Fatalf("analyze: %v", err)
	}
	t.Logf("report:\n%s", dumpText(t, res))
	byName := map[string][]*analyze.DNSQuery{}
	for _, q := range res.DNS {
		byName[q.Name] = append(byName[q.Name], q)
	}
	if qs := byName["ok.test"]; len(qs) != 1 || !qs[0].Answered || qs[0].RCode != "NOERROR" || qs[0].Answers != 1 {
		t.Errorf("ok.test: %+v, want one answered NOERROR query with 1 answer", qs)
	}
	var udpBig *analyze.DNSQuery
	tcpBig := false
	for _, q := range byName["big.test"] {
		if q.TCP {
			tcpBig = q.Answered && q.Answers == 12
		} else {
			udpBig = q
		}
	}
	if udpBig == nil || !udpBig.Truncated || !udpBig.TCPRetry || !tcpBig {
		t.Errorf("big.test: UDP %+v, answered over TCP %v; want truncated UDP answer with a TCP retry answered in full", udpBig, tcpBig)
	}
	if qs := byName["big2.test"]; len(qs) != 1 || !qs[0].Truncated || qs[0].TCPRetry {
		t.Errorf("big2.test: %+v, want one truncated answer without a TCP retry", qs)
	}
	dead := byName["dead.test"]
	sent := 0
	for _, q := range dead {
		sent += q.Sent
		if q.Answered {
			t.Errorf("dead.test answered: %+v", q)
		}
	}
	if sent != 2 {
		t.Errorf("dead.test: %d transmissions, want 2 (dig +tries=2)", sent)
	}
	var crit, tc bool
	for _, f := range res.Findings {
		crit = crit || (f.Kind == diag.KindDNSFailure && f.Severity == diag.SeverityCritical && strings.Contains(f.Title, "unanswered"))
		tc = tc || (f.Kind == diag.KindDNSFailure && f.Severity == diag.SeverityWarning && strings.Contains(f.Title, "without a TCP retry"))
	}
	if !crit || !tc || !res.Problem() {
		t.Errorf("findings %+v: want a critical unanswered-DNS finding and a truncation warning", res.Findings)
	}
	// Wireshark agrees on the truncated answers and the unanswered queries.
	trunc := 0
	for _, q := range res.DNS {
		if q.Truncated {
			trunc++
		}
	}
	if want := tsharkCount(t, file, "dns.flags.response == 1 && dns.flags.truncated == 1"); trunc != want {
		t.Errorf("truncated answers: netdoctor %d, tshark %d", trunc, want)
	}
	if want := tsharkCount(t, file, "dns.flags.response == 0 && !dns.response_in"); sent != want {
		t.Errorf("unanswered query packets: netdoctor %d, tshark %d", sent, want)
	}
}
