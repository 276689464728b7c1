// Package bulk is the large-transfer probe: connect, send a small request, then a large body, and
// watch the kernel's own TCP counters (TCP_INFO) to see how much of it the peer acknowledged. It
// tells a path-MTU black hole (handshake and small request fine, full-size segments retransmitted
// and never acknowledged) from a healthy path without needing anything from the application: the
// peer's kernel acknowledges data whether or not the server reads it.
package bulk

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/netdoctor/netdoctor/internal/netns"
)

// Outcome is how the transfer ended. The values are stable (JSON).
type Outcome string

// Outcomes.
const (
	OutcomeOK      Outcome = "ok"      // everything was acknowledged
	OutcomeStalled Outcome = "stalled" // the handshake and small request passed, the large body did not
	OutcomeFailed  Outcome = "failed"  // the handshake or the small request failed
	OutcomeReset   Outcome = "reset"   // the peer reset the connection (it closed it; the path is fine)
)

// Options say where to send and how much.
type Options struct {
	Addr netip.AddrPort
	// Bytes is the size of the large body (default 64 KiB, at most 16 MiB).
	Bytes int
	// Wait bounds each phase: the handshake, the small request's ACK, the body's ACKs (default 2 s).
	Wait time.Duration
}

// Result is what the kernel saw.
type Result struct {
	Addr        netip.AddrPort
	Handshake   bool
	SmallOK     bool          // the small request was acknowledged
	Bytes       int           // body bytes written to the socket
	Acked       int           // body bytes acknowledged by the peer
	Retransmits int           // segments the kernel retransmitted (tcpi_total_retrans)
	MSS         int           // send MSS (tcpi_snd_mss)
	PMTU        int           // the connection's path MTU (tcpi_pmtu)
	Outcome     Outcome       // see above
	Detail      string        // one line for people
	RTT         time.Duration // kernel smoothed RTT
	Duration    time.Duration
}

// ErrBadInput wraps invalid options.
var ErrBadInput = errors.New("probe/bulk: bad input")

// MaxBytes bounds the body.
const MaxBytes = 16 << 20

// Run performs the transfer from ns (nil: the caller's namespace). An error means it could not run.
func Run(ctx context.Context, ns *netns.NS, o Options) (*Result, error) {
	if !o.Addr.IsValid() || o.Addr.Port() == 0 {
		return nil, fmt.Errorf("%w: address %v", ErrBadInput, o.Addr)
	}
	if o.Bytes <= 0 {
		o.Bytes = 64 << 10
	}
	if o.Bytes > MaxBytes {
		return nil, fmt.Errorf("%w: %d bytes is more than %d", ErrBadInput, o.Bytes, MaxBytes)
	}
	if o.Wait <= 0 {
		o.Wait = 2 * time.Second
	}
	return run(ctx, ns, o)
}
