//go:build linux

package agent_test

import (
	"context"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netdoctor/netdoctor/internal/check"
	"github.com/netdoctor/netdoctor/internal/nodestate"
)

// openFDs counts this process's open file descriptors, and those that are network namespaces.
func openFDs(t *testing.T) (all, netns int) {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		all++
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(l, "net:[") {
			netns++
		}
	}
	return all, netns
}

// TestAgentNoLeaks: 1,000 calls (FIB look-ups, iptables readings and TCP probes into the node's
// namespace) from 20 concurrent callers leave no goroutine, file descriptor or namespace handle
// behind once the clients' idle connections are closed.
func TestAgentNoLeaks(t *testing.T) {
	f := setup(t)
	peer := netip.MustParseAddr(f.line.Addr(1))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	warm := f.client(f.api.Token("alice"))
	if _, err := warm.Route(ctx, "n1", nodestate.RouteQuery{Dst: peer}); err != nil {
		t.Fatal(err)
	}
	warm.Close()
	time.Sleep(100 * time.Millisecond) // let the warm-up's server goroutines end
	g0 := runtime.NumGoroutine()
	fd0, ns0 := openFDs(t)

	const callers, calls = 20, 1000
	var wg sync.WaitGroup
	errs := make(chan error, calls)
	for w := 0; w < callers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c := f.client(f.api.Token("alice"))
			defer c.Close()
			for i := w; i < calls; i += callers {
				var err error
				switch {
				case i%50 == 0: // iptables-save forks: a few suffice
					_, err = c.Rules(ctx, check.Vantage{Node: "n1"})
				case i%10 == 1:
					_, err = c.TCP(ctx, check.Vantage{Node: "n1"}, netip.AddrPortFrom(peer, 9), 1) // refused
				default:
					_, err = c.Route(ctx, "n1", nodestate.RouteQuery{Dst: peer})
				}
				if err != nil {
					errs <- err
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	n := 0
	for err := range errs {
		if n++; n <= 3 {
			t.Errorf("call failed: %v", err)
		}
	}
	// Server-side connection goroutines end when the clients close their idle connections; give
	// them a bounded while.
	var g1, fd1, ns1 int
	for deadline := time.Now().Add(10 * time.Second); ; {
		g1 = runtime.NumGoroutine()
		fd1, ns1 = openFDs(t)
		if (g1 <= g0+2 && fd1 <= fd0+2 && ns1 <= ns0) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if g1 > g0+2 {
		buf := make([]byte, 1<<16)
		t.Errorf("goroutines: %d before, %d after %d calls\n%s", g0, g1, calls, buf[:runtime.Stack(buf, true)])
	}
	if fd1 > fd0+2 {
		t.Errorf("file descriptors: %d before, %d after %d calls", fd0, fd1, calls)
	}
	if ns1 > ns0 {
		t.Errorf("network namespace handles: %d before, %d after %d calls", ns0, ns1, calls)
	}
	t.Logf("%d calls by %d callers: goroutines %d→%d, fds %d→%d, netns handles %d→%d", calls, callers, g0, g1, fd0, fd1, ns0, ns1)
}
