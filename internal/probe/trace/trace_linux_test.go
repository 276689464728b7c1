//go:build linux

package trace_test

import (
	"context"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netdoctor/netdoctor/internal/probe/trace"
	"github.com/netdoctor/netdoctor/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// line builds client — r1 — r2 — server with the middle link at MTU 1400.
func line(t *testing.T) (*testenv.Line, netip.Addr) {
	t.Helper()
	l := testenv.NewLine(t, 4, 1500, 1400, 1500)
	return l, netip.MustParseAddr(l.Addr(3))
}

func runTrace(t *testing.T, l *testenv.Line, o trace.Options) *trace.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := trace.Run(ctx, l.Hosts[0].NS, o)
	if err != nil {
		t.Fatalf("trace.Run(%+v): %v", o, err)
	}
	return res
}

func hopAddrs(res *trace.Result) []string {
	var out []string
	for _, h := range res.Hops {
		if len(h.Addrs) == 0 {
			out = append(out, "???")
			continue
		}
		out = append(out, h.Addrs[0].String())
	}
	return out
}

var mtrHop = regexp.MustCompile(`^\s*\d+\.\|--\s+(\S+)\s`)

// mtrHops runs `mtr -n -r -c rounds` in the client namespace and returns its hop column.
func mtrHops(t *testing.T, l *testenv.Line, target string, rounds int) []string {
	t.Helper()
	testenv.RequireTool(t, "mtr")
	out := l.Hosts[0].Exec(t, "mtr", "-n", "-r", "-c", strconv.Itoa(rounds), target)
	var hops []string
	for _, line := range strings.Split(out, "\n") {
		if m := mtrHop.FindStringSubmatch(line); m != nil {
			hops = append(hops, m[1])
		}
	}
	if len(hops) == 0 {
		t.Fatalf("no hops in mtr output:\n%s", out)
	}
	return hops
}

// TestSameHopsAsMtr: every protocol finds the same hops as mtr, with every probe answered.
func TestSameHopsAsMtr(t *testing.T) {
	testenv.RequireRoot(t)
	for _, tc := range []struct {
		proto  trace.Proto
		port   int
		listen bool // a server accepts on port (SYN/ACK) instead of refusing it (RST)
	}{{trace.ProtoICMP, 0, false}, {trace.ProtoUDP, 0, false}, {trace.ProtoTCP, 8080, false}, {trace.ProtoTCP, 8081, true}} {
		name := string(tc.proto)
		if tc.listen {
			name += " listening"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			l, target := line(t)
			if tc.listen {
				testenv.RequireTool(t, "socat")
				l.Hosts[3].Start(t, "socat", "TCP-LISTEN:8081,fork,reuseaddr", "SYSTEM:true")
				waitListen(t, l.Hosts[3], "8081")
			}
			// Wait 3 s: the test is about which hops answer, and CI runs it beside cluster builds.
			res := runTrace(t, l, trace.Options{Target: target, Proto: tc.proto, Port: tc.port, Rounds: 3, Wait: 3 * time.Second})
			got := strings.Join(hopAddrs(res), " ")
			// mtr runs after us: the routers' ICMP rate-limit buckets are ours first.
			want := strings.Join(mtrHops(t, l, target.String(), 3), " ")
			if got != want {
				t.Fatalf("hops = %s, mtr says %s", got, want)
			}
			if !res.Reached || res.DestLossPct != 0 {
				t.Errorf("reached=%v destLoss=%v, want reached with 0%% loss", res.Reached, res.DestLossPct)
			}
			for _, h := range res.Hops {
				if h.Sent != 3 || h.Received != 3 || h.Lost != 0 || h.RateLimited != 0 {
					t.Errorf("hop %d: sent %d received %d lost %d rate-limited %d, want 3/3/0/0", h.TTL, h.Sent, h.Received, h.Lost, h.RateLimited)
				}
				if h.BestMs <= 0 || h.WorstMs < h.BestMs || h.AvgMs < h.BestMs || h.AvgMs > h.WorstMs {
					t.Errorf("hop %d: inconsistent RTTs best %v avg %v worst %v", h.TTL, h.BestMs, h.AvgMs, h.WorstMs)
				}
			}
		})
	}
}

// TestSilentHop: r2 drops its time-exceeded messages; hop 2 is "???" like mtr, yet the destination
// is reached with no loss.
func TestSilentHop(t *testing.T) {
	testenv.RequireRoot(t)
	t.Parallel()
	l, target := line(t)
	l.Hosts[2].Exec(t, "iptables", "-A", "OUTPUT", "-p", "icmp", "--icmp-type", "time-exceeded", "-j", "DROP")
	res := runTrace(t, l, trace.Options{Target: target, Rounds: 3, Wait: 300 * time.Millisecond})
	got := strings.Join(hopAddrs(res), " ")
	want := strings.Join(mtrHops(t, l, target.String(), 3), " ")
	if got != want || got != l.Links[0].RightAddr+" ??? "+target.String() {
		t.Fatalf("hops = %s, mtr says %s", got, want)
	}
	if h := res.Hops[1]; h.Received != 0 || h.Lost != h.Sent || h.LossPct != 100 {
		t.Errorf("silent hop: received %d lost %d/%d loss %v%%, want 0, all, 100", h.Received, h.Lost, h.Sent, h.LossPct)
	}
	if !res.Reached || res.DestLossPct != 0 {
		t.Errorf("reached %v destLoss %v, want true 0", res.Reached, res.DestLossPct)
	}
}

// TestRateLimitedIsNotLoss: probing faster than the routers' ICMP rate limit (-i 50ms) makes them
// skip replies; those are reported as rate-limited, never as loss. The default pacing gets every
// reply.
func TestRateLimitedIsNotLoss(t *testing.T) {
	testenv.RequireRoot(t)
	t.Parallel()
	t.Run("fast", func(t *testing.T) {
		t.Parallel()
		l, target := line(t)
		res := runTrace(t, l, trace.Options{Target: target, Rounds: 12, Interval: 50 * time.Millisecond, Wait: 300 * time.Millisecond})
		for _, h := range res.Hops[:2] {
			if h.RateLimited == 0 || h.Lost != 0 || h.LossPct != 0 || h.Received+h.RateLimited != h.Sent {
				t.Errorf("hop %d: received %d rate-limited %d lost %d (%v%%) of %d, want some rate-limited and no loss",
					h.TTL, h.Received, h.RateLimited, h.Lost, h.LossPct, h.Sent)
			}
		}
		if !res.RateLimited() || !res.Reached || res.DestLossPct != 0 {
			t.Errorf("RateLimited %v reached %v destLoss %v, want true true 0", res.RateLimited(), res.Reached, res.DestLossPct)
		}
	})
	// Paced, every probe is answered; for UDP that includes the destination, whose port-unreachable
	// replies are rate-limited too.
	for _, proto := range []trace.Proto{trace.ProtoICMP, trace.ProtoUDP} {
		t.Run("paced "+string(proto), func(t *testing.T) {
			t.Parallel()
			l, target := line(t)
			res := runTrace(t, l, trace.Options{Target: target, Proto: proto, Rounds: 8})
			if len(res.Hops) != 3 {
				t.Fatalf("%d hops, want 3", len(res.Hops))
			}
			for _, h := range res.Hops {
				if h.Received != 8 || h.Sent != 8 {
					t.Errorf("hop %d: received %d of %d, want 8 of 8 (rate-limited %d)", h.TTL, h.Received, h.Sent, h.RateLimited)
				}
			}
		})
	}
}

// TestStopsEarly: a cancelled context ends the trace at once with what it measured.
func TestStopsEarly(t *testing.T) {
	testenv.RequireRoot(t)
	t.Parallel()
	l, target := line(t)
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	start := time.Now()
	res, err := trace.Run(ctx, l.Hosts[0].NS, trace.Options{Target: target, Rounds: 100})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v after a 1.5s deadline", d)
	}
	if res.Stopped == "" || res.Rounds >= 100 || res.Rounds == 0 || !res.Reached {
		t.Errorf("stopped %q rounds %d reached %v, want a reason, 0 < rounds < 100, reached", res.Stopped, res.Rounds, res.Reached)
	}
}

// TestBackToBack: a second trace right after one that emptied the routers' rate-limit buckets sees
// its first replies skipped, then waits for the buckets to refill instead of losing the whole burst.
func TestBackToBack(t *testing.T) {
	testenv.RequireRoot(t)
	t.Parallel()
	l, target := line(t)
	runTrace(t, l, trace.Options{Target: target, Rounds: 8})
	res := runTrace(t, l, trace.Options{Target: target, Rounds: 6})
	for _, h := range res.Hops[:2] {
		if h.Lost != 0 || h.RateLimited > 2 || h.Received+h.RateLimited != h.Sent {
			t.Errorf("hop %d: received %d rate-limited %d lost %d of %d, want no loss and at most 2 rate-limited",
				h.TTL, h.Received, h.RateLimited, h.Lost, h.Sent)
		}
	}
}

// TestUnreachable: a router that answers "host unreachable" ends the path there: the hop shows it,
// the destination is not reached, and later rounds do not probe past that router.
func TestUnreachable(t *testing.T) {
	testenv.RequireRoot(t)
	t.Parallel()
	l, _ := line(t)
	l.Hosts[0].Exec(t, "ip", "route", "add", "10.250.9.0/24", "via", l.Links[0].RightAddr)
	l.Hosts[1].Exec(t, "ip", "route", "add", "unreachable", "10.250.9.0/24")
	res := runTrace(t, l, trace.Options{Target: netip.MustParseAddr("10.250.9.9"), Rounds: 3, Wait: 300 * time.Millisecond})
	if res.Reached || len(res.Hops) != 1 || res.Hops[0].Unreachable != "host-unreachable" ||
		len(res.Hops[0].Addrs) != 1 || res.Hops[0].Addrs[0].String() != l.Links[0].RightAddr {
		t.Fatalf("reached %v hops %+v, want not reached, one hop %s with host-unreachable", res.Reached, res.Hops, l.Links[0].RightAddr)
	}
	if res.ProbesSent > trace.DefaultMaxTTL+2 {
		t.Errorf("%d probes sent, want round 1 to stop at the unreachable router", res.ProbesSent)
	}
}

// waitListen waits until something listens on TCP port in ns (readiness, not a fixed sleep).
func waitListen(t *testing.T, ns *testenv.NetNS, port string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if out, err := ns.Try("ss", "-Hltn", "sport = :"+port); err == nil && strings.Contains(out, ":"+port) {
			return
		}
		time.Sleep(20 * time.Millisecond) // polling a readiness condition
	}
	t.Fatalf("nothing listens on %s in %s", port, ns.Name)
}
