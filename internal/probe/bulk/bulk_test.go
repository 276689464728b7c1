//go:build linux

package bulk_test

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/netdoctor/netdoctor/internal/probe/bulk"
	"github.com/netdoctor/netdoctor/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// listen starts a TCP listener inside the server namespace that accepts and never reads: the
// kernel's ACKs are what the probe measures.
func listen(t *testing.T, l *testenv.Line) netip.AddrPort {
	t.Helper()
	srv := l.Hosts[len(l.Hosts)-1]
	var ln net.Listener
	if err := srv.NS.Do(func() error {
		var err error
		ln, err = net.Listen("tcp4", l.Addr(len(l.Hosts)-1)+":0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	return netip.MustParseAddrPort(ln.Addr().String())
}

func TestHealthyAndBlackHole(t *testing.T) {
	l := testenv.NewLine(t, 4, 1500, 1400, 1500)
	addr := listen(t, l)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	r, err := bulk.Run(ctx, l.Hosts[0].NS, bulk.Options{Addr: addr, Bytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	if r.Outcome != bulk.OutcomeOK || r.Acked != 64<<10 {
		t.Fatalf("with frag-needed delivered: outcome %s, acked %d: %s", r.Outcome, r.Acked, r.Detail)
	}

	// A fresh line whose router drops the frag-needed it would send: a path-MTU black hole (a fresh
	// client, because the first one's kernel cached the path MTU it learnt).
	l = testenv.NewLine(t, 4, 1500, 1400, 1500)
	l.Hosts[1].Exec(t, "iptables", "-A", "OUTPUT", "-p", "icmp", "--icmp-type", "fragmentation-needed", "-j", "DROP")
	addr2 := listen(t, l)
	r, err = bulk.Run(ctx, l.Hosts[0].NS, bulk.Options{Addr: addr2, Bytes: 64 << 10, Wait: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r.Outcome != bulk.OutcomeStalled || !r.Handshake || !r.SmallOK || r.Retransmits == 0 || r.Acked >= 64<<10 {
		t.Fatalf("black hole: outcome %s handshake %v small %v acked %d retrans %d: %s", r.Outcome, r.Handshake, r.SmallOK, r.Acked, r.Retransmits, r.Detail)
	}
	if r.MSS != 1448 && r.MSS != 1460 {
		t.Errorf("MSS = %d, want a full-size 1500-byte path MSS", r.MSS)
	}
}

func TestRefusedIsFailed(t *testing.T) {
	l := testenv.NewLine(t, 2)
	ctx := context.Background()
	r, err := bulk.Run(ctx, l.Hosts[0].NS, bulk.Options{Addr: netip.MustParseAddrPort(l.Addr(1) + ":9"), Wait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if r.Outcome != bulk.OutcomeFailed || r.Handshake {
		t.Fatalf("no listener: outcome %s handshake %v (%s), want failed", r.Outcome, r.Handshake, r.Detail)
	}
}
