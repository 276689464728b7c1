// Package tcp is the TCP connect probe ("TCP ping", like paping): it opens connections to HOST:PORT
// from a vantage network namespace and reports, per attempt, exactly one of connected (with the
// handshake time), refused (an RST came back), timeout (the SYN was silently dropped) or unreachable
// (an ICMP error came back, or the sending host itself had no way there) with the reason and sender.
//
// That distinction is the evidence the diagnoser classifies on, so it is taken from the kernel, not
// guessed: the socket has IP_RECVERR set, and an ICMP error about the SYN is read from its error
// queue with its type, code and sender, before the connect errno is looked at. ECONNREFUSED alone
// thus means an RST; an ICMP port-unreachable (iptables REJECT's default for TCP) is reported as
// unreachable/port-unreachable with the address that sent it.
//
// Each attempt times the handshake around a non-blocking connect(2) and a poll(2) on the socket, and
// also records the kernel's own SYN→SYN/ACK measurement (TCP_INFO). Attempts run one at a time.
package tcp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/netdoctor/netdoctor/internal/netns"
	"github.com/netdoctor/netdoctor/internal/probe/icmp"
	"github.com/netdoctor/netdoctor/internal/probe/rtt"
)

// Defaults applied by Ping to zero Options fields.
const (
	DefaultInterval = time.Second     // from one attempt's start to the next one's
	DefaultWait     = 2 * time.Second // for each handshake before it counts as a timeout
	MinInterval     = time.Millisecond
	// KeepAttempts bounds the memory of a long run: once Result.Attempts holds twice this many, the
	// oldest are folded into the statistics and dropped from the list.
	KeepAttempts = 10000
)

// Errors Ping returns when it cannot run.
var (
	// ErrResolve: the host is neither an IP address nor a name the host's resolver knows.
	ErrResolve = icmp.ErrResolve
	// ErrBadAddr: the address is not HOST:PORT with a port from 1 to 65535.
	ErrBadAddr = errors.New("not HOST:PORT")
	// ErrNotSupported: TCP probes are implemented for Linux only.
	ErrNotSupported = errors.New("not supported on this OS")
)

// Outcome is what became of one attempt. The values are stable (JSON).
type Outcome string

// The outcomes of an attempt; each attempt has exactly one.
const (
	OutcomeConnected   Outcome = "connected"   // the handshake completed
	OutcomeRefused     Outcome = "refused"     // a TCP RST answered the SYN (no listener, REJECT tcp-reset)
	OutcomeTimeout     Outcome = "timeout"     // nothing came back within Options.Wait (SYN dropped)
	OutcomeUnreachable Outcome = "unreachable" // an ICMP error came back, or the local host could not send
	OutcomeCancelled   Outcome = "cancelled"   // the run ended during the attempt; not counted
)

// Reason says why an attempt was unreachable. ICMP-derived reasons are icmp.Reason values.
type Reason string

// Reasons for OutcomeUnreachable besides the icmp.Reason values (net-unreachable, host-unreachable,
// port-unreachable, host-prohibited, admin-prohibited, ...).
const (
	// ReasonNoRoute: the vantage namespace has no route to the address (connect gave ENETUNREACH at once).
	ReasonNoRoute Reason = "no-route"
	// ReasonLocalFirewall: a rule in the vantage namespace refused to send the SYN (EPERM / EACCES).
	ReasonLocalFirewall Reason = "local-firewall"
	// ReasonLocalUnreachable: the kernel gave up without an ICMP message (e.g. EHOSTUNREACH from a
	// neighbour that never answered ARP), see Attempt.Errno.
	ReasonLocalUnreachable Reason = "local-unreachable"
)

// Options configure Ping. Zero values take the defaults above.
type Options struct {
	// Addr is HOST:PORT ([v6]:PORT for IPv6). Names are resolved by the host's resolver; an IPv4
	// address is preferred.
	Addr string
	// Count is the number of attempts; 0 runs until ctx ends.
	Count int
	// Interval is from one attempt's start to the next one's (default 1 s); an attempt that takes
	// longer delays the next, attempts never overlap.
	Interval time.Duration
	// Wait bounds each handshake (default 2 s). The kernel retransmits a lost SYN after 1 s, so a
	// Wait above 1 s can turn a single lost SYN into a slow connect rather than a timeout.
	Wait time.Duration
	// OnStart, when set, is called once the address is resolved, before the first attempt.
	OnStart func(r *Result)
	// OnAttempt, when set, is called with each attempt's final outcome, from Ping's goroutine.
	OnAttempt func(a Attempt)
}

// Attempt is one connection attempt.
type Attempt struct {
	Seq     int       // 1-based
	Start   time.Time // just before connect(2)
	Outcome Outcome
	// RTT is from just before connect(2) to the socket reporting the result: the handshake time for
	// connected, the time until the RST or ICMP error for refused and unreachable; 0 for timeout.
	RTT time.Duration
	// KernelRTT is the kernel's own measurement of SYN to SYN/ACK (TCP_INFO tcpi_rtt, microseconds),
	// for connected attempts; 0 when the kernel had no sample (a retransmitted SYN).
	KernelRTT time.Duration
	// Local is the source address and port the attempt used, when known.
	Local netip.AddrPort
	// Reason says why, for unreachable.
	Reason Reason
	// From is who sent the ICMP error (a router, or the target); invalid for local failures.
	From netip.Addr
	// ICMP is the ICMP error that made the attempt unreachable, when one came back.
	ICMP *icmp.ErrorReply
	// Errno is the error connect(2) reported ("connection refused"), empty when connected or timed out.
	Errno string
}

// Result is the outcome of one Ping run.
type Result struct {
	Target   string         // as given
	Addr     netip.AddrPort // the address probed
	Started  time.Time
	Duration time.Duration
	// Attempts lists the attempts in order, cancelled ones included: all of them, or in a long run
	// the last KeepAttempts to KeepAttempts*2 (older ones are counted in Stats and Omitted).
	Attempts []Attempt
	// Omitted is how many of the oldest attempts were dropped from Attempts to bound memory.
	Omitted int
	// Stats count attempts with a final outcome; Received counts connected ones; RTTs are handshakes.
	Stats rtt.Stats
	// Refused, Timeouts and Unreachable count the attempts with those outcomes.
	Refused, Timeouts, Unreachable int
}

// OK reports whether at least one attempt was made and every one connected.
func (r *Result) OK() bool { return r.Stats.Sent > 0 && r.Stats.Received == r.Stats.Sent }

// Ping makes o.Count connection attempts to o.Addr from ns (nil: the caller's namespace). It ends
// early when ctx ends (a running attempt is then cancelled). If ns vanishes mid-run it returns the
// partial result and an error wrapping netns.ErrGone or netns.ErrProcessGone; any other error means
// it could not run.
func Ping(ctx context.Context, ns *netns.NS, o Options) (*Result, error) {
	if err := o.normalize(); err != nil {
		return nil, err
	}
	ap, err := ResolveAddr(ctx, o.Addr)
	if err != nil {
		return nil, err
	}
	return ping(ctx, ns, o, ap)
}

func (o *Options) normalize() error {
	switch {
	case o.Count < 0:
		return fmt.Errorf("probe/tcp: count %d is negative", o.Count)
	case o.Interval < 0, o.Interval > 0 && o.Interval < MinInterval:
		return fmt.Errorf("probe/tcp: interval %v is below %v", o.Interval, MinInterval)
	case o.Wait < 0:
		return fmt.Errorf("probe/tcp: wait %v is negative", o.Wait)
	}
	if o.Interval == 0 {
		o.Interval = DefaultInterval
	}
	if o.Wait == 0 {
		o.Wait = DefaultWait
	}
	return nil
}

// SplitAddr checks HOST:PORT and returns its parts; the error wraps ErrBadAddr.
func SplitAddr(s string) (host string, port uint16, err error) {
	h, p, err := net.SplitHostPort(s)
	if err != nil || h == "" {
		return "", 0, fmt.Errorf("probe/tcp: %q: %w", s, ErrBadAddr)
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil || n == 0 {
		return "", 0, fmt.Errorf("probe/tcp: %q: port %q is not 1-65535: %w", s, p, ErrBadAddr)
	}
	return h, uint16(n), nil
}

// ResolveAddr parses HOST:PORT and resolves HOST like icmp.Resolve.
func ResolveAddr(ctx context.Context, s string) (netip.AddrPort, error) {
	h, port, err := SplitAddr(s)
	if err != nil {
		return netip.AddrPort{}, err
	}
	a, err := icmp.Resolve(ctx, h)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("probe/tcp: %q: %w", h, ErrResolve)
	}
	return netip.AddrPortFrom(a, port), nil
}

// tally accumulates what the statistics need from attempts.
type tally struct {
	sent, refused, timeouts, unreachable int
	rtts                                 []time.Duration
}

func (t *tally) add(a Attempt) {
	switch a.Outcome {
	case OutcomeConnected:
		t.rtts = append(t.rtts, a.RTT)
	case OutcomeRefused:
		t.refused++
	case OutcomeTimeout:
		t.timeouts++
	case OutcomeUnreachable:
		t.unreachable++
	default:
		return
	}
	t.sent++
}

// fold moves all but the last keep attempts into t once twice keep are listed.
func (r *Result) fold(t *tally, keep int) {
	if len(r.Attempts) < 2*keep {
		return
	}
	cut := len(r.Attempts) - keep
	for _, a := range r.Attempts[:cut] {
		t.add(a)
	}
	r.Omitted += cut
	r.Attempts = append([]Attempt(nil), r.Attempts[cut:]...)
}

// finish computes the statistics from old (attempts no longer listed) and the listed attempts.
func (r *Result) finish(end time.Time, old tally) {
	t := old
	t.rtts = append([]time.Duration(nil), old.rtts...)
	for _, a := range r.Attempts {
		t.add(a)
	}
	r.Refused, r.Timeouts, r.Unreachable = t.refused, t.timeouts, t.unreachable
	r.Stats = rtt.Compute(t.sent, t.rtts)
	if !r.Started.IsZero() {
		r.Duration = end.Sub(r.Started)
	}
}
