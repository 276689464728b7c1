// Package trace measures the path to a host the way `mtr -r` does: rounds of probes with increasing
// TTL, every TTL of a round sent at once, and per hop the addresses that answered, loss and round-trip
// statistics.
//
// Linux routers rate-limit the ICMP time-exceeded messages a trace depends on (net.ipv4.icmp_ratelimit:
// a bucket of about six messages per destination, then one per second). By default Run paces its rounds
// to that limit (a burst, then one round per second), so a healthy path shows no loss. A reply that is
// missing while a deeper TTL of the same round did answer cannot be loss (the probe went through the
// hop); it is counted as RateLimited, never as Lost.
package trace

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/netdoctor/netdoctor/internal/netns"
)

// ErrNotSupported is returned on systems other than Linux.
var ErrNotSupported = errors.New("probe/trace: only supported on Linux")

// ErrPermission is returned when the probe socket cannot be opened (needs CAP_NET_RAW).
var ErrPermission = errors.New("probe/trace: raw ICMP socket needs CAP_NET_RAW: run as root or through the node agent")

// Proto is the kind of probe packet.
type Proto string

// The probe protocols.
const (
	ProtoICMP Proto = "icmp" // ICMP echo requests; the destination answers with echo replies
	ProtoUDP  Proto = "udp"  // UDP datagrams to Port+seq; the destination answers port-unreachable
	ProtoTCP  Proto = "tcp"  // TCP SYNs to Port; the destination answers SYN/ACK or RST
)

// Defaults used when an Options field is zero.
const (
	DefaultRounds  = 10
	DefaultMaxTTL  = 30
	DefaultWait    = time.Second
	DefaultUDPPort = 33434
	DefaultBurst   = 6
	DefaultRefill  = time.Second
	MaxRounds      = 10000
	MaxMaxTTL      = 64
)

// Options says what to trace and how.
type Options struct {
	// Target is the destination address (IPv4).
	Target netip.Addr
	// Proto is the probe packet kind; empty means ICMP.
	Proto Proto
	// Port is the TCP destination port, or the first UDP destination port (0: 33434 for UDP; TCP
	// needs a port).
	Port int
	// Rounds is how many probes each TTL gets (0: DefaultRounds).
	Rounds int
	// MaxTTL is the largest TTL probed (0: DefaultMaxTTL).
	MaxTTL int
	// Interval, when > 0, sends round r at r×Interval. Zero paces rounds to the ICMP rate limit of
	// Linux routers: Burst rounds at once, then one round every Refill.
	Interval time.Duration
	// Burst and Refill describe the routers' rate limit for the default pacing (0: DefaultBurst
	// messages, one more every DefaultRefill = net.ipv4.icmp_ratelimit).
	Burst  int
	Refill time.Duration
	// Wait is how long a probe may stay unanswered before it counts as missing (0: DefaultWait).
	Wait time.Duration
}

// Hop is one TTL of the path, with statistics over every round.
type Hop struct {
	// TTL is the hop number (1 = first router).
	TTL int `json:"ttl"`
	// Addrs are all addresses that answered at this TTL, in order of first appearance; empty when
	// nothing answered ("???").
	Addrs []netip.Addr `json:"addrs"`
	// Sent is the number of probes sent with this TTL.
	Sent int `json:"sent"`
	// Received is the number of probes answered.
	Received int `json:"received"`
	// Lost counts unanswered probes for which no deeper TTL of the same round answered either.
	Lost int `json:"lost"`
	// RateLimited counts unanswered probes while a deeper TTL of the same round answered: the probe
	// passed this hop, which chose not to reply (ICMP rate limiting). Never counted as loss.
	RateLimited int `json:"rateLimited"`
	// LossPct is 100×Lost/Sent. For a hop that never answered it is 100.
	LossPct float64 `json:"lossPct"`
	// LastMs, AvgMs, BestMs, WorstMs and StdevMs are round-trip statistics over answered probes, in
	// milliseconds (StdevMs is the population standard deviation).
	LastMs  float64 `json:"lastMs"`
	AvgMs   float64 `json:"avgMs"`
	BestMs  float64 `json:"bestMs"`
	WorstMs float64 `json:"worstMs"`
	StdevMs float64 `json:"stdevMs"`
	// Unreachable is set when this hop answered with an ICMP destination-unreachable other than the
	// one the protocol expects from the destination (e.g. "host-unreachable", "admin-prohibited").
	Unreachable string `json:"unreachable,omitempty"`
}

// Result is what a trace measured.
type Result struct {
	// Target and Proto are what was traced; Port is the destination port for UDP/TCP.
	Target netip.Addr `json:"target"`
	Proto  Proto      `json:"proto"`
	Port   int        `json:"port,omitempty"`
	// Rounds is the number of complete rounds sent (fewer than asked when stopped early).
	Rounds int `json:"rounds"`
	// Hops lists TTL 1 up to the destination (or up to the last TTL that answered, or MaxTTL).
	Hops []Hop `json:"hops"`
	// Reached reports whether the destination answered at least once.
	Reached bool `json:"reached"`
	// DestLossPct is the loss at the destination (100 when it never answered).
	DestLossPct float64 `json:"destLossPct"`
	// ProbesSent is the total number of probe packets sent, including TTLs beyond the destination
	// sent before its distance was known.
	ProbesSent int `json:"probesSent"`
	// DurationMs is how long the trace ran, in milliseconds.
	DurationMs float64 `json:"durationMs"`
	// Stopped is why the trace ended before all rounds were sent ("" when it completed): the cause
	// of the context (interrupted, timed out, namespace vanished).
	Stopped string `json:"stopped,omitempty"`
}

// RateLimited reports whether any hop had replies suppressed by rate limiting.
func (r *Result) RateLimited() bool {
	for _, h := range r.Hops {
		if h.RateLimited > 0 {
			return true
		}
	}
	return false
}

// withDefaults validates o and fills in its zero fields.
func (o Options) withDefaults() (Options, error) {
	if !o.Target.IsValid() {
		return o, fmt.Errorf("probe/trace: no target address")
	}
	if !o.Target.Unmap().Is4() {
		return o, fmt.Errorf("probe/trace: %s: only IPv4 targets are supported", o.Target)
	}
	o.Target = o.Target.Unmap()
	switch o.Proto {
	case "":
		o.Proto = ProtoICMP
	case ProtoICMP, ProtoUDP, ProtoTCP:
	default:
		return o, fmt.Errorf("probe/trace: unknown protocol %q: use icmp, udp or tcp", o.Proto)
	}
	if o.Proto == ProtoTCP && (o.Port <= 0 || o.Port > 65535) {
		return o, fmt.Errorf("probe/trace: tcp needs a destination port in 1..65535, got %d", o.Port)
	}
	if o.Proto == ProtoUDP && o.Port == 0 {
		o.Port = DefaultUDPPort
	}
	if o.Port < 0 || o.Port > 65535 {
		return o, fmt.Errorf("probe/trace: port %d is out of range 1..65535", o.Port)
	}
	if o.Rounds == 0 {
		o.Rounds = DefaultRounds
	}
	if o.Rounds < 0 || o.Rounds > MaxRounds {
		return o, fmt.Errorf("probe/trace: rounds %d out of range 1..%d", o.Rounds, MaxRounds)
	}
	if o.MaxTTL == 0 {
		o.MaxTTL = DefaultMaxTTL
	}
	if o.MaxTTL < 1 || o.MaxTTL > MaxMaxTTL {
		return o, fmt.Errorf("probe/trace: max TTL %d out of range 1..%d", o.MaxTTL, MaxMaxTTL)
	}
	if o.Proto == ProtoUDP && o.Port+o.MaxTTL*o.Rounds > 65535 {
		// Each probe has its own destination port; wrap within the range instead of failing.
		o.Port = DefaultUDPPort
	}
	if o.Interval < 0 || o.Wait < 0 || o.Refill < 0 || o.Burst < 0 {
		return o, fmt.Errorf("probe/trace: negative interval, wait, burst or refill")
	}
	if o.Wait == 0 {
		o.Wait = DefaultWait
	}
	if o.Burst == 0 {
		o.Burst = DefaultBurst
	}
	if o.Refill == 0 {
		o.Refill = DefaultRefill
	}
	return o, nil
}

// Run traces the path to o.Target from inside ns (nil: the current namespace). It returns an error
// only when it could not run (bad options, no permission, socket failure); a path that loses packets
// or never reaches the target is a Result. When ctx ends early (Ctrl-C, deadline) Run stops sending,
// waits for nothing more and returns what it measured, with Result.Stopped saying why.
func Run(ctx context.Context, ns *netns.NS, o Options) (*Result, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	return run(ctx, ns, o)
}
