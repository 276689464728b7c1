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
		proto trace.Proto
		port  int
	}{{trace.ProtoICMP, 0}, {trace.ProtoUDP, 0}, {trace.ProtoTCP, 8080}} {
		t.Run(string(tc.proto), func(t *testing.T) {
			t.Parallel()
			l, target := line(t)
			res := runTrace(t, l, trace.Options{Target: target, Proto: tc.proto, Port: tc.port, Rounds: 3})
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
