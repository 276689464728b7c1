//go:build linux

package analyze_test

import (
	"net"
	"testing"
	"time"

	"github.com/netdoctor/netdoctor/internal/analyze"
	"github.com/netdoctor/netdoctor/internal/diag"
	"github.com/netdoctor/netdoctor/internal/testenv"
)

// A server that REJECTs with tcp-reset on one port, with ICMP port-unreachable on another and DROPs
// a third: each handshake outcome is named, with who answered.
func TestRejectAndDropHandshakes(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireTool(t, "iptables")
	l := testenv.NewLine(t, 2)
	cli, srv := l.Hosts[0], l.Hosts[1]
	srv.Exec(t, "iptables", "-A", "INPUT", "-p", "tcp", "--dport", "81", "-j", "REJECT", "--reject-with", "tcp-reset")
	srv.Exec(t, "iptables", "-A", "INPUT", "-p", "tcp", "--dport", "82", "-j", "REJECT", "--reject-with", "icmp-port-unreachable")
	srv.Exec(t, "iptables", "-A", "INPUT", "-p", "tcp", "--dport", "83", "-j", "DROP")
	startMsgServer(t, srv, net.JoinHostPort(l.Addr(1), "8080"))
	file := pcapPath(t, "reject.pcap")
	td := testenv.StartTcpdump(t, cli, l.Links[0].LeftIf, file, "tcp or icmp")
	ok, err := dialFrom(t, cli, net.JoinHostPort(l.Addr(1), "8080"), 10*time.Second)
	if err != nil {
		t.Fatalf("dial the open port: %v", err)
	}
	if err := sendMsg(ok, 100, 10*time.Second); err != nil {
		t.Fatalf("healthy exchange: %v", err)
	}
	for _, port := range []string{"81", "82"} {
		if _, err := dialFrom(t, cli, net.JoinHostPort(l.Addr(1), port), 10*time.Second); err == nil {
			t.Fatalf("dial port %s succeeded through a REJECT rule", port)
		}
	}
	// The kernel re-sends the SYN after 1 s: wait for two SYNs.
	if _, err := dialFrom(t, cli, net.JoinHostPort(l.Addr(1), "83"), 1500*time.Millisecond); err == nil {
		t.Fatalf("dial port 83 succeeded through a DROP rule")
	}
	ok.Close()
	captured(t, td, func(r *analyze.Result) bool {
		c, d := connTo(r, 83), connTo(r, 8080)
		return c != nil && c.SYNs >= 2 && d != nil && d.ToServer.FIN
	})

	res, err := analyze.File(file)
	if err != nil {
		t.Fatalf("analyze: %v", err)
	}
	t.Logf("report:\n%s", dumpText(t, res))
	got := map[uint16]*analyze.Conn{}
	for _, c := range res.Connections {
		got[c.Server.Port()] = c
	}
	want := map[uint16]analyze.Handshake{
		8080: analyze.HandshakeCompleted, 81: analyze.HandshakeRefused,
		82: analyze.HandshakeUnreachable, 83: analyze.HandshakeUnanswered,
	}
	for port, hs := range want {
		c := got[port]
		if c == nil {
			t.Errorf("port %d: no connection found", port)
			continue
		}
		if c.Handshake != hs {
			t.Errorf("port %d: handshake %q, want %q", port, c.Handshake, hs)
		}
	}
	if c := got[81]; c != nil && (len(c.Resets) != 1 || c.Resets[0].From.Addr().String() != l.Addr(1)) {
		t.Errorf("port 81: resets %+v, want one RST from the server %s", c.Resets, l.Addr(1))
	}
	if c := got[82]; c != nil && (c.ICMPError == nil || c.ICMPError.Kind != "port-unreachable" || c.ICMPError.From.String() != l.Addr(1)) {
		t.Errorf("port 82: ICMP error %+v, want port-unreachable from %s", c.ICMPError, l.Addr(1))
	}
	if c := got[83]; c != nil && c.SYNs < 2 {
		t.Errorf("port 83: %d SYNs, want at least 2 (the kernel's retry)", c.SYNs)
	}
	kinds := map[diag.Kind]int{}
	for _, f := range res.Findings {
		if f.Check == analyze.CheckHandshake {
			kinds[f.Kind]++
		}
	}
	if kinds[diag.KindPortUnreachable] != 2 || kinds[diag.KindNetworkUnreachable] != 1 || !res.Problem() {
		t.Errorf("handshake findings by kind = %v, want 2 port-unreachable and 1 network-unreachable", kinds)
	}
	if want, got := tsharkCount(t, file, "tcp.analysis.retransmission"), totalRetrans(res); got != want {
		t.Errorf("retransmissions: netdoctor %d, tshark %d", got, want)
	}
	if want, got := tsharkCount(t, file, "tcp.flags.reset == 1"), len(got[81].Resets); got != want {
		t.Errorf("RSTs: netdoctor %d, tshark %d", got, want)
	}
}
