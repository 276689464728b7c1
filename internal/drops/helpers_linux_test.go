//go:build linux

package drops

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/netdoctor/netdoctor/internal/testenv"
)

// trace attaches a tracer for the given namespaces and filter, runs send, and collects drops
// until want matches one (or 5 s pass; with want nil: right after send returns), then stops and returns every drop seen, plus the time from
// the end of send to the first matching drop.
func trace(t *testing.T, nss []*testenv.NetNS, expr string, send func(), want func(Event) bool) ([]Event, time.Duration) {
	t.Helper()
	opts := Options{Filter: expr, Mode: ModeEBPF, Names: map[uint64]string{}}
	for _, n := range nss {
		ino := n.NS.Inode()
		opts.Netns = append(opts.Netns, ino)
		opts.Names[ino] = n.Name
	}
	tr, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatalf("start tracer: %v", err)
	}
	send()
	sent := time.Now()
	var got []Event
	var latency time.Duration = -1
	timeout := time.NewTimer(5 * time.Second)
	defer timeout.Stop()
	stopped := false
	if want == nil {
		tr.Stop()
	}
	for !stopped {
		select {
		case e, ok := <-tr.Events():
			if !ok {
				stopped = true
				break
			}
			got = append(got, e)
			if latency < 0 && want != nil && want(e) {
				latency = time.Since(sent)
				tr.Stop()
			}
		case <-timeout.C:
			tr.Stop()
		}
	}
	<-tr.Done()
	return got, latency
}

// sendUDP sends n datagrams of size bytes from inside ns to dst, from source port sport.
func sendUDP(t *testing.T, ns *testenv.NetNS, src string, sport int, dst string, size, n int) {
	t.Helper()
	err := ns.NS.Do(func() error {
		var laddr *net.UDPAddr
		if src != "" || sport != 0 {
			laddr = &net.UDPAddr{IP: net.ParseIP(src), Port: sport}
		}
		raddr, err := net.ResolveUDPAddr("udp", dst)
		if err != nil {
			return err
		}
		c, err := net.DialUDP("udp", laddr, raddr)
		if err != nil {
			return err
		}
		defer c.Close()
		buf := make([]byte, size)
		for i := 0; i < n; i++ {
			c.Write(buf) // errors (EPERM from an OUTPUT drop, ICMP errors) are expected
		}
		return nil
	})
	if err != nil {
		t.Fatalf("send udp in %s: %v", ns.Name, err)
	}
}

// match returns a predicate for a drop in netns name with reason and function.
func match(netns, reason, function string) func(Event) bool {
	return func(e Event) bool {
		return e.Netns == netns && e.Reason == reason && (function == "" || e.Function == function)
	}
}

// check asserts that a matching drop was seen and that every drop seen is one of the test's
// packets (the filter and the namespaces selected only them).
func check(t *testing.T, got []Event, want func(Event) bool, desc string, ours func(Event) bool) {
	t.Helper()
	found := false
	for _, e := range got {
		if want(e) {
			found = true
		}
		if !ours(e) {
			t.Errorf("drop that is not the test's: %+v", e)
		}
	}
	if !found {
		t.Fatalf("no drop %s among %d drops: %+v", desc, len(got), got)
	}
}

func flowTo(dst string, dport int) func(Event) bool {
	return func(e Event) bool {
		return e.Flow.Dst.String() == dst && int(e.Flow.DstPort) == dport
	}
}

func port(i int) string { return strconv.Itoa(i) }
