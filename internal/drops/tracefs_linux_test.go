//go:build linux

package drops

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/netdoctor/netdoctor/internal/testenv"
)

func TestParseTraceLine(t *testing.T) {
	now := time.Unix(100, 0)
	cases := []struct {
		line                 string
		reason, loc, fn, fam string
	}{
		{"  <idle>-0 [001] ..s1. 12.3: kfree_skb: skbaddr=00000000b2f1 rx_sk=0000000000000000 protocol=2048 location=ip_error+0x94/0x1a0 reason: IP_INNOROUTES",
			"IP_INNOROUTES", "ip_error+0x94", "ip_error", "ipv4"},
		{"  iperf3-77 [000] b..2. 9.1: kfree_skb: skbaddr=0000000012 rx_sk=0000000000000000 protocol=34525 location=nft_do_chain+0x46f/0x5a0 [nf_tables] reason: NETFILTER_DROP",
			"NETFILTER_DROP", "nft_do_chain+0x46f [nf_tables]", "nft_do_chain", "ipv6"},
	}
	for _, tc := range cases {
		e, ok := ParseTraceLine(tc.line, now)
		if !ok || e.Reason != tc.reason || e.Location != tc.loc || e.Function != tc.fn || e.Flow.Family != tc.fam || !e.Time.Equal(now) {
			t.Errorf("ParseTraceLine(%q) = %+v, %v", tc.line, e, ok)
		}
	}
	if _, ok := ParseTraceLine("  x-1 [000] 1.0: consume_skb: skbaddr=1 location=foo+0x1/0x2", now); ok {
		t.Error("a consume_skb line parsed as a drop")
	}
}

// TestTracefsMode forces the fallback: a drop with no listening socket shows up with its reason
// and location (tracefs cannot select namespaces or filter, so other drops may come too).
func TestTracefsMode(t *testing.T) {
	testenv.RequireRoot(t)
	if _, err := Start(context.Background(), Options{Mode: ModeTracefs, Filter: "udp"}); err != ErrNeedsPacket {
		t.Fatalf("tracefs with a filter: err = %v, want ErrNeedsPacket", err)
	}
	l := testenv.NewLine(t, 2)
	tr, err := Start(context.Background(), Options{Mode: ModeTracefs})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	if tr.Mode() != ModeTracefs {
		t.Fatalf("mode %s", tr.Mode())
	}
	var c *net.UDPConn
	raddr, _ := net.ResolveUDPAddr("udp", net.JoinHostPort(l.Addr(1), "40111"))
	if err := l.Hosts[0].NS.Do(func() (err error) { c, err = net.ListenUDP("udp", nil); return err }); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	found := false
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	c.WriteTo([]byte("x"), raddr)
	for !found {
		select {
		case e := <-tr.Events():
			found = e.Reason == "NO_SOCKET" && e.Function == "__udp4_lib_rcv" && e.Flow.Family == "ipv4"
		case <-tick.C:
			c.WriteTo([]byte("x"), raddr)
		case <-deadline:
			t.Fatal("no NO_SOCKET drop at __udp4_lib_rcv from the tracefs tracer in 10 s")
		}
	}
	tr.Stop()
	for range tr.Events() {
	}
	<-tr.Done()
}
