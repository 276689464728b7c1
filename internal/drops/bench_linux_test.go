//go:build linux

package drops

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/netdoctor/netdoctor/internal/testenv"
)

// BenchmarkStart measures attaching and detaching the eBPF tracer (load, attach, first stop).
func BenchmarkStart(b *testing.B) {
	testenv.RequireRoot(b)
	for i := 0; i < b.N; i++ {
		tr, err := Start(context.Background(), Options{Mode: ModeEBPF, Netns: []uint64{1}})
		if err != nil {
			b.Fatal(err)
		}
		tr.Stop()
		for range tr.Events() {
		}
		<-tr.Done()
	}
}

// BenchmarkDropToEvent measures the time from sending one datagram that the kernel drops (no
// socket) to the named drop event arriving in user space: ns/op is that latency.
func BenchmarkDropToEvent(b *testing.B) {
	testenv.RequireRoot(b)
	l := testenv.NewLine(b, 2)
	tr, err := Start(context.Background(), Options{Mode: ModeEBPF, Netns: []uint64{l.Hosts[1].NS.Inode()}, Filter: "udp dst port 40100"})
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		tr.Stop()
		for range tr.Events() {
		}
	}()
	// An unconnected socket: a connected one would swallow every other send to report the ICMP
	// port unreachable of the previous one.
	var c *net.UDPConn
	raddr, _ := net.ResolveUDPAddr("udp", net.JoinHostPort(l.Addr(1), "40100"))
	if err := l.Hosts[0].NS.Do(func() error {
		var err error
		c, err = net.ListenUDP("udp", nil)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	// Resolve the neighbour outside the timed loop.
	c.WriteTo([]byte("x"), raddr)
	<-tr.Events()
	b.ResetTimer()
	var worst time.Duration
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		c.WriteTo([]byte("x"), raddr)
		e := <-tr.Events()
		if d := time.Since(t0); d > worst {
			worst = d
		}
		if e.Reason != "NO_SOCKET" {
			b.Fatalf("reason %s", e.Reason)
		}
	}
	b.ReportMetric(float64(worst.Microseconds()), "worst-µs")
}
