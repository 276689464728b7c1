//go:build linux

package drops

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/netdoctor/netdoctor/internal/testenv"
)

// Each case builds its own namespaces, makes the kernel drop the test's packets for one reason,
// and checks that the tracer names the namespace, the reason and the kernel function — and
// reports nothing but the test's packets (namespaces selected in the kernel, the flow by filter).
func TestDropReasons(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireTool(t, "iptables")
	testenv.RequireTool(t, "nft")
	cases := []struct {
		name   string
		hosts  int
		mtus   []int
		dport  int
		setup  func(t *testing.T, l *testenv.Line) // make the kernel drop
		send   func(t *testing.T, l *testenv.Line, dport int)
		at     int    // host whose netns drops the packet
		reason string // expected drop reason
		fn     string // expected kernel function ("" = any)
		proto  string // tcp or udp (filter)
	}{
		{name: "iptables INPUT", hosts: 2, dport: 40001, at: 1, reason: "NETFILTER_DROP", fn: "nft_do_chain",
			setup: func(t *testing.T, l *testenv.Line) {
				l.Hosts[1].Exec(t, "iptables", "-A", "INPUT", "-p", "udp", "--dport", "40001", "-j", "DROP")
			}},
		{name: "iptables FORWARD", hosts: 3, dport: 40002, at: 1, reason: "NETFILTER_DROP", fn: "nft_do_chain",
			setup: func(t *testing.T, l *testenv.Line) {
				l.Hosts[1].Exec(t, "iptables", "-A", "FORWARD", "-p", "udp", "--dport", "40002", "-j", "DROP")
			}},
		{name: "iptables OUTPUT", hosts: 2, dport: 40003, at: 0, reason: "NETFILTER_DROP", fn: "nft_do_chain",
			setup: func(t *testing.T, l *testenv.Line) {
				l.Hosts[0].Exec(t, "iptables", "-A", "OUTPUT", "-p", "udp", "--dport", "40003", "-j", "DROP")
			}},
		{name: "nft drop", hosts: 2, dport: 40004, at: 1, reason: "NETFILTER_DROP", fn: "nft_do_chain",
			setup: func(t *testing.T, l *testenv.Line) {
				l.Hosts[1].Exec(t, "nft", "add table inet ndtest; add chain inet ndtest in { type filter hook input priority 0; }; add rule inet ndtest in udp dport 40004 drop")
			}},
		{name: "rp_filter", hosts: 2, dport: 40005, at: 1, reason: "IP_RPFILTER",
			setup: func(t *testing.T, l *testenv.Line) {
				l.Hosts[0].Exec(t, "ip", "addr", "add", "10.99.0.1/32", "dev", "lo")
				// Resolve the neighbour first: an ARP request from 10.99.0.1 would itself fail
				// the reverse-path check, and the datagrams would die in the sender (NEIGH_FAILED).
				l.Hosts[0].Exec(t, "ping", "-c1", "-W2", l.Addr(1))
				l.Hosts[1].Exec(t, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=1")
				l.Hosts[1].Exec(t, "sysctl", "-qw", "net.ipv4.conf."+l.Links[0].RightIf+".rp_filter=1")
			},
			send: func(t *testing.T, l *testenv.Line, dport int) {
				sendUDP(t, l.Hosts[0], "10.99.0.1", 0, net.JoinHostPort(l.Addr(1), port(dport)), 32, 3)
			}},
		{name: "no route", hosts: 3, dport: 40006, at: 1, reason: "IP_INNOROUTES",
			setup: func(t *testing.T, l *testenv.Line) {
				l.Hosts[0].Exec(t, "ip", "route", "add", "10.77.0.0/24", "via", l.Links[0].RightAddr)
			},
			send: func(t *testing.T, l *testenv.Line, dport int) {
				sendUDP(t, l.Hosts[0], "", 0, net.JoinHostPort("10.77.0.1", port(dport)), 32, 3)
			}},
		{name: "no listening socket", hosts: 2, dport: 40007, at: 1, reason: "NO_SOCKET", fn: "__udp4_lib_rcv"},
		{name: "MTU too big with DF", hosts: 3, mtus: []int{1500, 1300}, dport: 40008, at: 1, reason: "PKT_TOO_BIG",
			send: func(t *testing.T, l *testenv.Line, dport int) {
				sendUDP(t, l.Hosts[0], "", 0, net.JoinHostPort(l.Addr(2), port(dport)), 1400, 3)
			}},
		{name: "NetworkPolicy chain", hosts: 3, dport: 40009, at: 1, reason: "NETFILTER_DROP", fn: "nft_do_chain", proto: "tcp",
			setup: func(t *testing.T, l *testenv.Line) {
				h := l.Hosts[1]
				h.Exec(t, "iptables", "-N", "NWPLCY-INGRESS-WEB")
				h.Exec(t, "iptables", "-A", "NWPLCY-INGRESS-WEB", "-s", l.Addr(0), "-p", "tcp", "--dport", "40009", "-j", "DROP")
				h.Exec(t, "iptables", "-A", "FORWARD", "-d", l.Addr(2), "-j", "NWPLCY-INGRESS-WEB")
			},
			send: func(t *testing.T, l *testenv.Line, dport int) {
				l.Hosts[0].NS.Do(func() error {
					c, err := net.DialTimeout("tcp", net.JoinHostPort(l.Addr(2), port(dport)), 300*time.Millisecond)
					if err == nil {
						c.Close()
					}
					return nil
				})
			}},
	}
	for _, tc := range cases {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			t.Parallel()
			l := testenv.NewLine(t, tc.hosts, tc.mtus...)
			if tc.setup != nil {
				tc.setup(t, l)
			}
			send := tc.send
			if send == nil {
				send = func(t *testing.T, l *testenv.Line, dport int) {
					sendUDP(t, l.Hosts[0], "", 0, net.JoinHostPort(l.Addr(len(l.Hosts)-1), port(dport)), 32, 3)
				}
			}
			proto := tc.proto
			if proto == "" {
				proto = "udp"
			}
			expr := proto + " dst port " + port(tc.dport)
			want := match(l.Hosts[tc.at].Name, tc.reason, tc.fn)
			got, latency := trace(t, l.Hosts, expr, func() { send(t, l, tc.dport) }, want)
			ours := func(e Event) bool {
				return e.Flow.Proto == proto && int(e.Flow.DstPort) == tc.dport && e.Location != "" && strings.Contains(e.Location, "+0x")
			}
			check(t, got, want, "in "+l.Hosts[tc.at].Name+" for "+tc.reason+" at "+tc.fn, ours)
			t.Logf("%d drops, first matching one %v after the send; e.g. %s %s %s at %s", len(got), latency, got[0].Netns, got[0].Flow, got[0].Reason, got[0].Location)
		})
	}
}

// TestHealthyFlowNoDrops sends datagrams to a listening socket and checks that no drop of the flow
// is reported: the tracer stops only once the listener has read every datagram.
func TestHealthyFlowNoDrops(t *testing.T) {
	testenv.RequireRoot(t)
	l := testenv.NewLine(t, 3)
	var pc net.PacketConn
	if err := l.Hosts[2].NS.Do(func() (err error) {
		pc, err = net.ListenPacket("udp", net.JoinHostPort(l.Addr(2), "40010"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	const n = 20
	done := make(chan int)
	go func() {
		buf := make([]byte, 2048)
		got := 0
		pc.SetReadDeadline(time.Now().Add(10 * time.Second))
		for got < n {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				break
			}
			got++
		}
		done <- got
	}()
	var received int
	got, _ := trace(t, l.Hosts, "udp port 40010", func() {
		sendUDP(t, l.Hosts[0], "", 0, net.JoinHostPort(l.Addr(2), "40010"), 100, n)
		received = <-done
	}, nil)
	if received != n {
		t.Fatalf("listener read %d of %d datagrams", received, n)
	}
	if len(got) != 0 {
		t.Fatalf("healthy flow reported %d drops: %+v", len(got), got)
	}
}
