//go:build linux

package pmtu_test

import (
	"context"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netdoctor/netdoctor/internal/probe/pmtu"
	"github.com/netdoctor/netdoctor/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// line builds client — r1 — r2 — server with the middle link at MTU 1400.
func line(t *testing.T) (*testenv.Line, netip.Addr) {
	t.Helper()
	l := testenv.NewLine(t, 4, 1500, 1400, 1500)
	return l, netip.MustParseAddr(l.Addr(3))
}

func discover(t *testing.T, l *testenv.Line, o pmtu.Options) *pmtu.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := pmtu.Discover(ctx, l.Hosts[0].NS, o)
	if err != nil {
		t.Fatalf("Discover(%+v): %v", o, err)
	}
	t.Logf("result: %+v", *res)
	return res
}

var tracepathPMTU = regexp.MustCompile(`Resume: pmtu (\d+)`)

// TestSameAsTracepath: with frag-needed arriving, the path MTU equals tracepath's, found by jumping
// to the announced MTU in at most 5 probes, with the hop that sent it.
func TestSameAsTracepath(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireTool(t, "tracepath")
	for _, tc := range []struct {
		proto  pmtu.Proto
		port   int
		listen bool
	}{{pmtu.ProtoICMP, 0, false}, {pmtu.ProtoUDP, 0, false}, {pmtu.ProtoTCP, 8080, false}, {pmtu.ProtoTCP, 8081, true}} {
		name := string(tc.proto)
		if tc.listen {
			name += " listening"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			l, target := line(t)
			if tc.listen {
				testenv.RequireTool(t, "socat")
				l.Hosts[3].Start(t, "socat", "TCP-LISTEN:8081,fork,reuseaddr", "EXEC:cat")
				waitListen(t, l.Hosts[3], "8081")
			}
			res := discover(t, l, pmtu.Options{Target: target, Proto: tc.proto, Port: tc.port})
			out := l.Hosts[0].Exec(t, "tracepath", "-n", target.String())
			m := tracepathPMTU.FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("no pmtu in tracepath output:\n%s", out)
			}
			want, _ := strconv.Atoi(m[1])
			if want != 1400 {
				t.Fatalf("tracepath found pmtu %d, the topology has 1400:\n%s", want, out)
			}
			if res.PathMTU != want || !res.Exact || res.BlackHole {
				t.Errorf("PathMTU %d exact %v blackHole %v, tracepath says %d", res.PathMTU, res.Exact, res.BlackHole, want)
			}
			if res.LocalMTU != 1500 {
				t.Errorf("LocalMTU = %d, want 1500", res.LocalMTU)
			}
			if n := len(res.Probes); n > 5 {
				t.Errorf("%d probes, want at most 5: %+v", n, res.Probes)
			}
			r1 := netip.MustParseAddr(l.Links[0].RightAddr)
			if f := res.FragNeeded; f == nil || f.MTU != 1400 || f.From != r1 {
				t.Errorf("FragNeeded = %+v, want from %s announcing 1400", f, r1)
			}
			if !res.Smaller() {
				t.Errorf("Smaller() = false for path 1400 < local 1500")
			}
		})
	}
}

// TestBlackHole: r1 drops its frag-needed errors; the search still finds exactly 1400 and calls it
// a black hole, within 12 probes. The kernel's PMTU cache, filled by an earlier run that did get a
// frag-needed, must not change the answer.
func TestBlackHole(t *testing.T) {
	testenv.RequireRoot(t)
	for _, tc := range []struct {
		proto pmtu.Proto
		port  int
	}{{pmtu.ProtoICMP, 0}, {pmtu.ProtoTCP, 8080}} {
		t.Run(string(tc.proto), func(t *testing.T) {
			t.Parallel()
			blackHole(t, tc.proto, tc.port)
		})
	}
}

func blackHole(t *testing.T, proto pmtu.Proto, port int) {
	l, target := line(t)
	// Fill the client's PMTU cache with 1400 first (frag-needed still allowed).
	first := discover(t, l, pmtu.Options{Target: target, Proto: proto, Port: port})
	if first.PathMTU != 1400 {
		t.Fatalf("PathMTU before the black hole = %d, want 1400", first.PathMTU)
	}
	l.Hosts[1].Exec(t, "iptables", "-A", "OUTPUT", "-p", "icmp", "--icmp-type", "fragmentation-needed", "-j", "DROP")
	// A generous wait: under a loaded CI machine a late echo reply must not look like a loss.
	res := discover(t, l, pmtu.Options{Target: target, Proto: proto, Port: port, MinWait: time.Second})
	if !res.BlackHole || res.LargestOK != 1400 || res.SmallestLost != 1401 || res.PathMTU != 1400 {
		t.Fatalf("blackHole %v largestOK %d smallestLost %d pathMTU %d, want true 1400 1401 1400; probes %+v",
			res.BlackHole, res.LargestOK, res.SmallestLost, res.PathMTU, res.Probes)
	}
	if res.FragNeeded != nil {
		t.Errorf("FragNeeded = %+v with frag-needed dropped", res.FragNeeded)
	}
	if n := len(res.Probes); n > 12 {
		t.Errorf("%d probes, want at most 12", n)
	}
	if res.LocalMTU != 1500 {
		t.Errorf("LocalMTU = %d (PMTU cache?), want 1500", res.LocalMTU)
	}
}

// TestHealthyPath: a path with one MTU everywhere needs no search at all.
func TestHealthyPath(t *testing.T) {
	testenv.RequireRoot(t)
	t.Parallel()
	l := testenv.NewLine(t, 3, 1500, 1500)
	res := discover(t, l, pmtu.Options{Target: netip.MustParseAddr(l.Addr(2))})
	if res.PathMTU != 1500 || res.Smaller() || res.BlackHole || !res.Reached || len(res.Probes) > 2 {
		t.Fatalf("PathMTU %d smaller %v blackHole %v reached %v probes %d, want 1500 false false true <=2",
			res.PathMTU, res.Smaller(), res.BlackHole, res.Reached, len(res.Probes))
	}
}

// TestUnreachable: a target that never answers is neither a path MTU nor a black hole.
func TestUnreachable(t *testing.T) {
	testenv.RequireRoot(t)
	t.Parallel()
	l, target := line(t)
	l.Hosts[3].Exec(t, "iptables", "-A", "INPUT", "-p", "icmp", "-j", "DROP")
	res := discover(t, l, pmtu.Options{Target: target, Wait: 200 * time.Millisecond})
	if res.Reached || res.BlackHole || res.PathMTU != 0 {
		t.Fatalf("reached %v blackHole %v pathMTU %d, want false false 0", res.Reached, res.BlackHole, res.PathMTU)
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
