//go:build linux

package icmp_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netdoctor/netdoctor/internal/netns"
	"github.com/netdoctor/netdoctor/internal/probe/icmp"
	"github.com/netdoctor/netdoctor/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// allowDatagram lets every group open ICMP datagram sockets inside n.
func allowDatagram(t *testing.T, n *testenv.NetNS) {
	t.Helper()
	n.Exec(t, "sysctl", "-qw", "net.ipv4.ping_group_range=0 2147483647")
}

func mustPing(t *testing.T, ns *netns.NS, o icmp.Options) *icmp.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r, err := icmp.Ping(ctx, ns, o)
	if err != nil {
		t.Fatalf("Ping(%+v): %v", o, err)
	}
	return r
}

func TestPingLoopbackModes(t *testing.T) {
	n := testenv.NewNetNS(t)
	allowDatagram(t, n)
	for _, target := range []string{"127.0.0.1", "::1"} {
		for _, mode := range []icmp.Mode{icmp.ModeDatagram, icmp.ModeRaw} {
			t.Run(target+"/"+string(mode), func(t *testing.T) {
				if target == "::1" && mode == icmp.ModeDatagram {
					n.Exec(t, "sysctl", "-qw", "net.ipv4.ping_group_range=0 2147483647") // shared v4/v6 knob
				}
				r := mustPing(t, n.NS, icmp.Options{Target: target, Count: 3, Interval: 10 * time.Millisecond, Mode: mode})
				if r.Mode != mode {
					t.Errorf("mode = %s, want %s", r.Mode, mode)
				}
				if !r.OK() || r.Stats.Sent != 3 || r.Stats.Received != 3 {
					t.Fatalf("stats = %+v, probes %+v; want 3 of 3 replies", r.Stats, r.Probes)
				}
				for _, p := range r.Probes {
					if p.From.String() != target || p.Bytes != 64 || p.TTL <= 0 || p.RTT <= 0 || p.RTT > time.Second {
						t.Errorf("probe %+v: want a reply from %s, 64 bytes, a TTL and an RTT", p, target)
					}
				}
			})
		}
	}
}

func TestPingAutoModeFallsBackToRaw(t *testing.T) {
	n := testenv.NewNetNS(t)
	n.Exec(t, "sysctl", "-qw", "net.ipv4.ping_group_range=1 0") // nobody may use datagram sockets
	r := mustPing(t, n.NS, icmp.Options{Target: "127.0.0.1", Count: 1})
	if r.Mode != icmp.ModeRaw || !r.OK() {
		t.Fatalf("mode %s, stats %+v: want raw and a reply", r.Mode, r.Stats)
	}
	allowDatagram(t, n)
	r = mustPing(t, n.NS, icmp.Options{Target: "127.0.0.1", Count: 1})
	if r.Mode != icmp.ModeDatagram || !r.OK() {
		t.Fatalf("mode %s, stats %+v: want datagram and a reply", r.Mode, r.Stats)
	}
	r = mustPing(t, n.NS, icmp.Options{Target: "127.0.0.1", Count: 1, DF: true})
	if r.Mode != icmp.ModeRaw || !r.DF || !r.OK() {
		t.Fatalf("mode %s df %v, stats %+v: --df must use raw", r.Mode, r.DF, r.Stats)
	}
}

// iptablesCount returns the packet counter of the first rule of chain in n.
func iptablesCount(t *testing.T, n *testenv.NetNS, chain string) int {
	t.Helper()
	out := n.Exec(t, "iptables", "-w", "-L", chain, "-n", "-v", "-x")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 3 {
		t.Fatalf("no rule in %s: %s", chain, out)
	}
	f := strings.Fields(lines[2])
	c, err := strconv.Atoi(f[0])
	if err != nil {
		t.Fatalf("parse counter of %q: %v", lines[2], err)
	}
	return c
}

var reLoss = regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`)

func TestPingLossMatchesIptablesAndIputils(t *testing.T) {
	testenv.RequireTool(t, "iptables")
	testenv.RequireTool(t, "ping")
	l := testenv.NewLine(t, 3)
	router, target := l.Hosts[1], l.Addr(2)
	router.Exec(t, "iptables", "-w", "-A", "FORWARD", "-p", "icmp", "--icmp-type", "echo-request",
		"-m", "statistic", "--mode", "random", "--probability", "0.3", "-j", "DROP")
	const n = 400
	before := iptablesCount(t, router, "FORWARD")
	r := mustPing(t, l.Hosts[0].NS, icmp.Options{Target: target, Count: n, Interval: 5 * time.Millisecond, Wait: 3 * time.Second})
	dropped := iptablesCount(t, router, "FORWARD") - before
	if r.Stats.Sent != n || r.Stats.Sent-r.Stats.Received != dropped {
		t.Fatalf("sent %d, lost %d; the DROP rule dropped %d: loss must equal the drops exactly",
			r.Stats.Sent, r.Stats.Sent-r.Stats.Received, dropped)
	}
	for _, p := range r.Probes {
		if p.Outcome != icmp.OutcomeReply && p.Outcome != icmp.OutcomeTimeout {
			t.Fatalf("probe %+v: a silent drop must be a timeout", p)
		}
	}

	before = iptablesCount(t, router, "FORWARD")
	out, _ := l.Hosts[0].Try("ping", "-n", "-q", "-c", strconv.Itoa(n), "-i", "0.005", "-W", "3", target)
	pingDropped := iptablesCount(t, router, "FORWARD") - before
	m := reLoss.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("cannot read ping's summary: %s", out)
	}
	tx, _ := strconv.Atoi(m[1])
	rx, _ := strconv.Atoi(m[2])
	ours := r.Stats.LossPct
	theirs := 100 * float64(tx-rx) / float64(tx)
	t.Logf("loss: netdoctor %.1f%% (%d dropped), iputils ping %.1f%% (%d dropped)", ours, dropped, theirs, pingDropped)
	if d := ours - theirs; d < -10 || d > 10 {
		t.Errorf("loss %.1f%% vs ping's %.1f%%: more than 10 points apart", ours, theirs)
	}
}

func TestPingFragNeededReportsMTU(t *testing.T) {
	l := testenv.NewLine(t, 3, 1500, 1400)
	r := mustPing(t, l.Hosts[0].NS, icmp.Options{Target: l.Addr(2), Count: 3, Interval: 50 * time.Millisecond,
		Size: 1400, DF: true, Wait: 2 * time.Second})
	first := r.Probes[0]
	if first.Outcome != icmp.OutcomeICMPError || first.ICMP == nil || first.ICMP.Reason != icmp.ReasonFragNeeded ||
		first.ICMP.MTU != 1400 || first.From.String() != l.Links[0].RightAddr {
		t.Fatalf("first probe %+v (icmp %+v): want frag-needed, mtu 1400, from %s", first, first.ICMP, l.Links[0].RightAddr)
	}
	if got := first.ICMP.Text(); got != "Frag needed and DF set (mtu = 1400)" {
		t.Errorf("text %q", got)
	}
	// The kernel has learnt the path MTU: later probes are refused locally, with that MTU.
	for _, p := range r.Probes[1:] {
		if p.Outcome != icmp.OutcomeLocalError || p.LocalMTU != 1400 || p.Local != "message too long, local MTU 1400" {
			t.Errorf("probe %+v: want local error message too long, local MTU 1400", p)
		}
	}
	if r.OK() || r.Errors != 3 {
		t.Errorf("errors %d ok %v: want 3 errors", r.Errors, r.OK())
	}
	rec := r.Record("netns client")
	wantSum := "1400-byte DF echo: 3 sent, 0 received, 100% loss: 1× frag-needed from " + l.Links[0].RightAddr +
		" (mtu 1400), 2× local error: message too long, local MTU 1400"
	if rec.Name != "icmp" || rec.OK || rec.Outcome != "frag-needed" || rec.Summary != wantSum || rec.To != l.Addr(2) {
		t.Errorf("record %+v, want outcome frag-needed and summary %q", rec, wantSum)
	}
	// Small enough packets pass with DF.
	r = mustPing(t, l.Hosts[0].NS, icmp.Options{Target: l.Addr(2), Count: 2, Interval: 10 * time.Millisecond, Size: 1372, DF: true})
	if !r.OK() {
		t.Errorf("1372-byte DF ping: %+v, want replies", r.Probes)
	}
}

func TestPingDFLargerThanLocalMTU(t *testing.T) {
	testenv.RequireTool(t, "ping")
	l := testenv.NewLine(t, 2, 1400)
	r := mustPing(t, l.Hosts[0].NS, icmp.Options{Target: l.Addr(1), Count: 1, Size: 1400, DF: true})
	if p := r.Probes[0]; p.Outcome != icmp.OutcomeLocalError || p.Local != "message too long, local MTU 1400" || p.LocalMTU != 1400 {
		t.Errorf("probe %+v: want local error message too long, local MTU 1400", p)
	}
	// iputils sees the same MTU.
	if out, _ := l.Hosts[0].Try("ping", "-n", "-c", "1", "-M", "do", "-s", "1400", l.Addr(1)); !strings.Contains(out, "mtu=1400") {
		t.Errorf("iputils ping -M do -s 1400 does not say mtu=1400:\n%s", out)
	}
}

func TestPingICMPErrors(t *testing.T) {
	testenv.RequireTool(t, "iptables")
	l := testenv.NewLine(t, 3)
	allowDatagram(t, l.Hosts[0])
	router := l.Hosts[1]
	// Routers send ICMP errors to one peer at about 1/s after a burst of 6; these cases send more.
	router.Exec(t, "sysctl", "-qw", "net.ipv4.icmp_ratelimit=0")
	routerAddr := netip.MustParseAddr(l.Links[0].RightAddr)
	// Everything to 10.99.0.0/16 goes to the router, which has no route for it.
	l.Hosts[0].Exec(t, "ip", "route", "add", "10.99.0.0/16", "via", l.Links[0].RightAddr)
	cases := []struct {
		name     string
		reject   string // iptables --reject-with on the router's FORWARD chain; "" for none
		target   string
		reason   icmp.Reason
		typ, cod int
		text     string
	}{
		{"admin-prohibited", "icmp-admin-prohibited", l.Addr(2), icmp.ReasonAdminProhibited, 3, 13, "Packet filtered"},
		{"host-prohibited", "icmp-host-prohibited", l.Addr(2), icmp.ReasonHostProhibited, 3, 10, "Destination Host Prohibited"},
		{"host-unreachable", "icmp-host-unreachable", l.Addr(2), icmp.ReasonHostUnreachable, 3, 1, "Destination Host Unreachable"},
	}
	for _, tc := range cases {
		for _, mode := range []icmp.Mode{icmp.ModeDatagram, icmp.ModeRaw} {
			t.Run(tc.name+"/"+string(mode), func(t *testing.T) {
				if tc.reject != "" {
					router.Exec(t, "iptables", "-w", "-I", "FORWARD", "-p", "icmp", "-j", "REJECT", "--reject-with", tc.reject)
					defer router.Exec(t, "iptables", "-w", "-D", "FORWARD", "-p", "icmp", "-j", "REJECT", "--reject-with", tc.reject)
				}
				r := mustPing(t, l.Hosts[0].NS, icmp.Options{Target: tc.target, Count: 2, Interval: 20 * time.Millisecond, Mode: mode})
				for _, p := range r.Probes {
					if p.Outcome != icmp.OutcomeICMPError || p.ICMP == nil {
						t.Fatalf("probe %+v: want an ICMP error, never a timeout", p)
					}
					e := *p.ICMP
					if e.Reason != tc.reason || e.Type != tc.typ || e.Code != tc.cod || e.From != routerAddr || p.From != routerAddr {
						t.Errorf("probe %d: %+v, want %s (%d/%d) from %s", p.Seq, e, tc.reason, tc.typ, tc.cod, routerAddr)
					}
					if e.Text() != tc.text {
						t.Errorf("text %q, want %q", e.Text(), tc.text)
					}
				}
			})
		}
	}
}

// TestPingNoRouteAtRouter: a router without a route answers net-unreachable. Those errors come from
// ip_error, whose per-peer token bucket icmp_ratelimit does not open, so each mode gets a fresh router
// and one probe: the first error to a peer always goes out.
func TestPingNoRouteAtRouter(t *testing.T) {
	for _, mode := range []icmp.Mode{icmp.ModeDatagram, icmp.ModeRaw} {
		t.Run(string(mode), func(t *testing.T) {
			l := testenv.NewLine(t, 2)
			allowDatagram(t, l.Hosts[0])
			l.Hosts[1].Exec(t, "sysctl", "-qw", "net.ipv4.ip_forward=1") // a router, with no route onward
			l.Hosts[0].Exec(t, "ip", "route", "add", "10.99.0.0/16", "via", l.Addr(1))
			r := mustPing(t, l.Hosts[0].NS, icmp.Options{Target: "10.99.1.1", Count: 1, Mode: mode})
			p := r.Probes[0]
			if p.Outcome != icmp.OutcomeICMPError || p.ICMP.Reason != icmp.ReasonNetUnreachable || p.ICMP.Type != 3 ||
				p.ICMP.Code != 0 || p.From.String() != l.Addr(1) || p.ICMP.Text() != "Destination Net Unreachable" {
				t.Errorf("probe %+v icmp %+v: want net-unreachable (3/0) from %s", p, p.ICMP, l.Addr(1))
			}
		})
	}
}

func TestPingTimeExceededLikeIputils(t *testing.T) {
	testenv.RequireTool(t, "ping")
	l := testenv.NewLine(t, 3)
	l.Hosts[1].Exec(t, "sysctl", "-qw", "net.ipv4.icmp_ratelimit=0")
	router := l.Links[0].RightAddr
	for _, mode := range []icmp.Mode{icmp.ModeDatagram, icmp.ModeRaw} {
		allowDatagram(t, l.Hosts[0])
		r := mustPing(t, l.Hosts[0].NS, icmp.Options{Target: l.Addr(2), Count: 2, Interval: 10 * time.Millisecond, TTL: 1, Mode: mode})
		for _, p := range r.Probes {
			if p.Outcome != icmp.OutcomeICMPError || p.ICMP.Reason != icmp.ReasonTimeExceeded || p.From.String() != router {
				t.Errorf("%s: probe %+v (icmp %+v): want time-exceeded from %s", mode, p, p.ICMP, router)
				continue
			}
			// iputils says the same, from the same router.
			want := "From " + router + " icmp_seq=1 " + p.ICMP.Text()
			if out, _ := l.Hosts[0].Try("ping", "-n", "-c", "1", "-t", "1", "-W", "1", l.Addr(2)); !strings.Contains(out, want) {
				t.Errorf("iputils ping -t 1 does not say %q:\n%s", want, out)
			}
		}
	}
	r := mustPing(t, l.Hosts[0].NS, icmp.Options{Target: l.Addr(2), Count: 1, TTL: 2})
	if !r.OK() || r.Probes[0].TTL != 63 {
		t.Errorf("TTL 2 reaches the target: %+v", r.Probes)
	}
}

func TestPingTimeoutAndLocalNoRoute(t *testing.T) {
	l := testenv.NewLine(t, 2)
	l.Hosts[1].Exec(t, "iptables", "-w", "-A", "INPUT", "-p", "icmp", "-j", "DROP")
	r := mustPing(t, l.Hosts[0].NS, icmp.Options{Target: l.Addr(1), Count: 2, Interval: 10 * time.Millisecond, Wait: 200 * time.Millisecond})
	for _, p := range r.Probes {
		if p.Outcome != icmp.OutcomeTimeout {
			t.Errorf("probe %+v: want timeout", p)
		}
	}
	if r.Stats.LossPct != 100 {
		t.Errorf("loss %v, want 100", r.Stats.LossPct)
	}
	r = mustPing(t, l.Hosts[0].NS, icmp.Options{Target: "10.77.0.1", Count: 1, Mode: icmp.ModeRaw})
	if p := r.Probes[0]; p.Outcome != icmp.OutcomeLocalError || p.Local != "network is unreachable" {
		t.Errorf("probe %+v: want local error network is unreachable", p)
	}
}

func TestPingCancelAndVanishedNetns(t *testing.T) {
	testenv.RequireRoot(t)
	name := testenv.Name("van")
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	deleted := false
	t.Cleanup(func() {
		if !deleted {
			_ = exec.Command("ip", "netns", "del", name).Run()
		}
	})
	if out, err := exec.Command("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up: %v: %s", err, out)
	}
	ns, err := netns.OpenPath(name)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	started := make(chan struct{})
	type res struct {
		r   *icmp.Result
		err error
	}
	done := make(chan res, 1)
	go func() {
		r, err := icmp.Ping(ctx, ns, icmp.Options{Target: "127.0.0.1", Interval: 20 * time.Millisecond,
			OnProbe: func(p icmp.Probe) {
				if p.Seq == 2 {
					close(started)
				}
			}})
		done <- res{r, err}
	}()
	<-started
	gone := time.Now()
	if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns del: %v: %s", err, out)
	}
	deleted = true
	got := <-done
	if took := time.Since(gone); took > 3*time.Second {
		t.Errorf("noticed the vanished netns after %v, want within 1 s", took)
	}
	if !errors.Is(got.err, netns.ErrGone) || got.r == nil || got.r.Stats.Received < 2 {
		t.Fatalf("err %v, result %+v: want ErrGone with the partial result", got.err, got.r)
	}
	if !strings.Contains(fmt.Sprint(got.err), name) {
		t.Errorf("error %q does not name the namespace", got.err)
	}
}

func TestPingBadOptions(t *testing.T) {
	for _, o := range []icmp.Options{
		{},
		{Target: "127.0.0.1", Count: -1},
		{Target: "127.0.0.1", Interval: time.Microsecond},
		{Target: "127.0.0.1", Size: 70000},
		{Target: "127.0.0.1", TTL: 256},
		{Target: "127.0.0.1", DF: true, Mode: icmp.ModeDatagram},
	} {
		if _, err := icmp.Ping(context.Background(), nil, o); err == nil {
			t.Errorf("Ping(%+v) ran; want an error", o)
		}
	}
	_, err := icmp.Ping(context.Background(), nil, icmp.Options{Target: "no-such-host.invalid", Count: 1})
	if !errors.Is(err, icmp.ErrResolve) {
		t.Errorf("unknown host: %v, want ErrResolve", err)
	}
}

func TestPingIPv6Errors(t *testing.T) {
	testenv.RequireTool(t, "ip6tables")
	l := testenv.NewLine6(t, 3, 1500, 1400)
	allowDatagram(t, l.Hosts[0])
	router, target := netip.MustParseAddr(l.Links[0].RightAddr), l.Addr(2)
	l.Hosts[1].Exec(t, "sysctl", "-qw", "net.ipv6.icmp.ratelimit=0")

	r := mustPing(t, l.Hosts[0].NS, icmp.Options{Target: target, Count: 2, Interval: 10 * time.Millisecond})
	if !r.OK() || r.Probes[0].TTL != 63 || r.Probes[0].From.String() != target {
		t.Fatalf("IPv6 ping: %+v", r.Probes)
	}
	r = mustPing(t, l.Hosts[0].NS, icmp.Options{Target: target, Count: 2, Interval: 50 * time.Millisecond, Size: 1400, DF: true})
	p := r.Probes[0]
	if p.Outcome != icmp.OutcomeICMPError || p.ICMP.Reason != icmp.ReasonFragNeeded || p.ICMP.MTU != 1400 ||
		p.From != router || p.ICMP.Text() != "Packet too big: mtu=1400" {
		t.Errorf("probe %+v icmp %+v: want packet too big, mtu 1400, from %s", p, p.ICMP, router)
	}
	if p := r.Probes[1]; p.Outcome != icmp.OutcomeLocalError || p.LocalMTU != 1400 {
		t.Errorf("probe %+v: want a local error with MTU 1400", p)
	}

	rule := []string{"FORWARD", "-p", "icmpv6", "--icmpv6-type", "echo-request", "-j", "REJECT", "--reject-with", "icmp6-adm-prohibited"}
	l.Hosts[1].Exec(t, "ip6tables", append([]string{"-w", "-A"}, rule...)...)
	for _, mode := range []icmp.Mode{icmp.ModeDatagram, icmp.ModeRaw} {
		r = mustPing(t, l.Hosts[0].NS, icmp.Options{Target: target, Count: 2, Interval: 10 * time.Millisecond, Mode: mode})
		for _, p := range r.Probes {
			if p.Outcome != icmp.OutcomeICMPError || !p.ICMP.IPv6 || p.ICMP.Type != 1 || p.ICMP.Code != 1 ||
				p.ICMP.Reason != icmp.ReasonAdminProhibited || p.From != router {
				t.Errorf("%s: probe %+v icmp %+v: want admin-prohibited (1/1) from %s", mode, p, p.ICMP, router)
			}
		}
	}
}
