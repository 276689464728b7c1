//go:build linux

package tcp_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netdoctor/netdoctor/internal/netns"
	"github.com/netdoctor/netdoctor/internal/probe/icmp"
	"github.com/netdoctor/netdoctor/internal/probe/tcp"
	"github.com/netdoctor/netdoctor/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// listen starts a TCP listener inside n that accepts and closes connections; it is bound and
// listening when listen returns.
func listen(t *testing.T, n *testenv.NetNS, addr string) int {
	t.Helper()
	var ln net.Listener
	err := n.NS.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err
	})
	if err != nil {
		t.Fatalf("listen in %s: %v", n.Name, err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

func mustPing(t *testing.T, ns *netns.NS, o tcp.Options) *tcp.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r, err := tcp.Ping(ctx, ns, o)
	if err != nil {
		t.Fatalf("Ping(%+v): %v", o, err)
	}
	return r
}

func TestOutcomes(t *testing.T) {
	testenv.RequireTool(t, "iptables")
	l := testenv.NewLine(t, 3)
	client, router, server := l.Hosts[0], l.Hosts[1], l.Hosts[2]
	router.Exec(t, "sysctl", "-qw", "net.ipv4.icmp_ratelimit=0")
	routerAddr := netip.MustParseAddr(l.Links[0].RightAddr)
	clientAddr := netip.MustParseAddr(l.Links[0].LeftAddr)
	open := listen(t, server, net.JoinHostPort(l.Addr(2), "0"))
	closed := open + 1
	if closed > 65535 {
		closed = open - 1
	}
	client.Exec(t, "ip", "route", "add", "10.99.0.0/16", "via", l.Links[0].RightAddr)
	srv := func(port int) string { return net.JoinHostPort(l.Addr(2), strconv.Itoa(port)) }

	cases := []struct {
		name    string
		addr    string
		rule    []string // appended to "iptables -w -I FORWARD" on the router
		outcome tcp.Outcome
		reason  tcp.Reason
		from    netip.Addr
		typ     int
		code    int
	}{
		// First, and one attempt only (see count below): "no route" errors come from ip_error, whose
		// per-peer token bucket icmp_ratelimit does not open; only the first error to a peer is sure to go out.
		{"no route at router", "10.99.1.1:80", nil, tcp.OutcomeUnreachable, tcp.Reason(icmp.ReasonNetUnreachable), routerAddr, 3, 0},
		{"connected", srv(open), nil, tcp.OutcomeConnected, "", netip.Addr{}, 0, 0},
		{"no listener", srv(closed), nil, tcp.OutcomeRefused, "", netip.Addr{}, 0, 0},
		{"drop", srv(open), []string{"-p", "tcp", "-j", "DROP"}, tcp.OutcomeTimeout, "", netip.Addr{}, 0, 0},
		{"reject tcp-reset", srv(open), []string{"-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset"}, tcp.OutcomeRefused, "", netip.Addr{}, 0, 0},
		{"reject host-prohibited", srv(open), []string{"-p", "tcp", "-j", "REJECT", "--reject-with", "icmp-host-prohibited"},
			tcp.OutcomeUnreachable, tcp.Reason(icmp.ReasonHostProhibited), routerAddr, 3, 10},
		{"reject admin-prohibited", srv(open), []string{"-p", "tcp", "-j", "REJECT", "--reject-with", "icmp-admin-prohibited"},
			tcp.OutcomeUnreachable, tcp.Reason(icmp.ReasonAdminProhibited), routerAddr, 3, 13},
		{"reject default (port unreachable)", srv(open), []string{"-p", "tcp", "-j", "REJECT"},
			tcp.OutcomeUnreachable, tcp.Reason(icmp.ReasonPortUnreachable), routerAddr, 3, 3},
		{"no route locally", "10.77.0.1:80", nil, tcp.OutcomeUnreachable, tcp.ReasonNoRoute, netip.Addr{}, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.rule != nil {
				router.Exec(t, "iptables", append([]string{"-w", "-I", "FORWARD"}, tc.rule...)...)
				defer router.Exec(t, "iptables", append([]string{"-w", "-D", "FORWARD"}, tc.rule...)...)
			}
			count := 2
			if tc.name == "no route at router" {
				count = 1
			}
			r := mustPing(t, client.NS, tcp.Options{Addr: tc.addr, Count: count, Interval: 10 * time.Millisecond, Wait: 500 * time.Millisecond})
			if len(r.Attempts) != count {
				t.Fatalf("%d attempts, want %d", len(r.Attempts), count)
			}
			for _, a := range r.Attempts {
				if a.Outcome != tc.outcome || a.Reason != tc.reason || a.From != tc.from {
					t.Errorf("attempt %+v (icmp %+v): want %s reason %q from %v", a, a.ICMP, tc.outcome, tc.reason, tc.from)
				}
				if tc.typ != 0 && (a.ICMP == nil || a.ICMP.Type != tc.typ || a.ICMP.Code != tc.code) {
					t.Errorf("icmp %+v, want type %d code %d", a.ICMP, tc.typ, tc.code)
				}
				if tc.outcome == tcp.OutcomeConnected {
					if a.RTT <= 0 || a.RTT > time.Second || a.KernelRTT <= 0 || a.Local.Addr() != clientAddr {
						t.Errorf("connected attempt %+v: want an RTT, a kernel RTT and source %s", a, clientAddr)
					}
				}
			}
			wantOK := tc.outcome == tcp.OutcomeConnected
			if r.OK() != wantOK || r.Stats.Sent != count {
				t.Errorf("OK %v stats %+v", r.OK(), r.Stats)
			}
			rec, want := r.Record("client"), string(tc.outcome)
			if wantOK {
				want = "ok"
			}
			if rec.Outcome != want || rec.OK != wantOK || rec.Name != "tcp" {
				t.Errorf("record %+v, want outcome %s", rec, want)
			}
			if tc.reason != "" && !strings.Contains(rec.Summary, strconv.Itoa(count)+"× unreachable: "+string(tc.reason)) {
				t.Errorf("summary %q lacks the reason %s", rec.Summary, tc.reason)
			}
		})
	}
}

func TestCancelAndVanishedNetns(t *testing.T) {
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
	ns, err := netns.OpenPath(name)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	// lo is down in the new namespace: 127.0.0.1 is unreachable, every attempt fails fast.
	started := make(chan struct{})
	done := make(chan error, 1)
	var r *tcp.Result
	go func() {
		var err error
		r, err = tcp.Ping(context.Background(), ns, tcp.Options{Addr: "127.0.0.1:9", Interval: 20 * time.Millisecond,
			OnAttempt: func(a tcp.Attempt) {
				if a.Seq == 2 {
					close(started)
				}
			}})
		done <- err
	}()
	<-started
	gone := time.Now()
	if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns del: %v: %s", err, out)
	}
	deleted = true
	err = <-done
	if took := time.Since(gone); took > 3*time.Second {
		t.Errorf("noticed after %v, want within 1 s", took)
	}
	if !errors.Is(err, netns.ErrGone) || r == nil || r.Stats.Sent < 2 {
		t.Fatalf("err %v result %+v: want ErrGone and the partial result", err, r)
	}

	// A context that ends mid-attempt cancels it; it is not counted.
	n := testenv.NewNetNS(t)
	n.Exec(t, "iptables", "-w", "-A", "OUTPUT", "-p", "tcp", "--dport", "9", "-j", "DROP")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	r, err = tcp.Ping(ctx, n.NS, tcp.Options{Addr: "127.0.0.1:9", Count: 1, Wait: 10 * time.Second})
	if err != nil || len(r.Attempts) != 1 || r.Attempts[0].Outcome != tcp.OutcomeCancelled || r.Stats.Sent != 0 {
		t.Fatalf("err %v result %+v: want one cancelled attempt, none counted", err, r)
	}
}

func TestBadAddr(t *testing.T) {
	for _, s := range []string{"", "host", "1.2.3.4", "1.2.3.4:0", "1.2.3.4:70000", ":80", "[::1:80"} {
		if _, err := tcp.Ping(context.Background(), nil, tcp.Options{Addr: s, Count: 1}); !errors.Is(err, tcp.ErrBadAddr) {
			t.Errorf("Ping(%q): %v, want ErrBadAddr", s, err)
		}
	}
	if _, err := tcp.Ping(context.Background(), nil, tcp.Options{Addr: "no-such-host.invalid:80", Count: 1}); !errors.Is(err, tcp.ErrResolve) {
		t.Errorf("unknown host: %v, want ErrResolve", err)
	}
}

func TestIPv6Loopback(t *testing.T) {
	n := testenv.NewNetNS(t)
	open := listen(t, n, "[::1]:0")
	r := mustPing(t, n.NS, tcp.Options{Addr: net.JoinHostPort("::1", strconv.Itoa(open)), Count: 1})
	if a := r.Attempts[0]; a.Outcome != tcp.OutcomeConnected || a.Local.Addr().String() != "::1" {
		t.Errorf("attempt %+v: want connected from ::1", a)
	}
	r = mustPing(t, n.NS, tcp.Options{Addr: net.JoinHostPort("::1", strconv.Itoa(open^1)), Count: 1})
	if a := r.Attempts[0]; a.Outcome != tcp.OutcomeRefused || a.ICMP != nil {
		t.Errorf("attempt %+v: want refused", a)
	}
}

func TestIPv6Unreachable(t *testing.T) {
	testenv.RequireTool(t, "ip6tables")
	l := testenv.NewLine6(t, 3)
	router := netip.MustParseAddr(l.Links[0].RightAddr)
	port := listen(t, l.Hosts[2], net.JoinHostPort(l.Addr(2), "0"))
	addr := net.JoinHostPort(l.Addr(2), strconv.Itoa(port))
	r := mustPing(t, l.Hosts[0].NS, tcp.Options{Addr: addr, Count: 1})
	if a := r.Attempts[0]; a.Outcome != tcp.OutcomeConnected {
		t.Fatalf("attempt %+v: want connected", a)
	}
	l.Hosts[1].Exec(t, "ip6tables", "-w", "-A", "FORWARD", "-p", "tcp", "-j", "REJECT", "--reject-with", "icmp6-adm-prohibited")
	r = mustPing(t, l.Hosts[0].NS, tcp.Options{Addr: addr, Count: 1})
	if a := r.Attempts[0]; a.Outcome != tcp.OutcomeUnreachable || a.Reason != tcp.Reason(icmp.ReasonAdminProhibited) ||
		a.From != router || a.ICMP == nil || !a.ICMP.IPv6 || a.ICMP.Type != 1 || a.ICMP.Code != 1 {
		t.Errorf("attempt %+v icmp %+v: want unreachable admin-prohibited (ICMPv6 1/1) from %s", a, a.ICMP, router)
	}
}
