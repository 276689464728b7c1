// Package pmtu discovers the path MTU to a host with don't-fragment probes, the way tracepath does,
// and also finds PMTU black holes, which tracepath cannot.
//
// Probes are sent with IP_PMTUDISC_PROBE: the DF bit is set and the kernel's PMTU cache is ignored,
// so an MTU learned earlier never shrinks a probe. An ICMP fragmentation-needed error is read from a
// raw ICMP socket; the search then jumps to the MTU it announces. When no such error arrives (it is
// filtered somewhere: a black hole), a binary search between the largest size that passed and the
// smallest that vanished finds the exact limit.
package pmtu

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/netdoctor/netdoctor/internal/netns"
)

// ErrNotSupported is returned on systems other than Linux.
var ErrNotSupported = errors.New("probe/pmtu: only supported on Linux")

// ErrPermission is returned when the raw ICMP socket cannot be opened.
var ErrPermission = errors.New("probe/pmtu: raw ICMP socket needs CAP_NET_RAW: run as root or through the node agent")

// Proto is the kind of probe packet.
type Proto string

// The probe protocols.
const (
	// ProtoICMP sends ICMP echo requests; the destination's echo reply means "passed".
	ProtoICMP Proto = "icmp"
	// ProtoUDP sends UDP datagrams to Port; the destination's ICMP port-unreachable means "passed",
	// so Port must be closed on the target. Those replies are rate-limited (6 at once, then 1/s), so
	// UDP probes are paced and a search can take several seconds.
	ProtoUDP Proto = "udp"
	// ProtoTCP sends TCP SYNs carrying payload up to the probe size (from a raw socket, a fresh source
	// port each) to Port; the destination's SYN/ACK or RST means "passed". Port may be open or closed.
	ProtoTCP Proto = "tcp"
)

// Defaults and bounds for Options.
const (
	DefaultUDPPort   = 33434
	DefaultWait      = time.Second
	DefaultMinWait   = 250 * time.Millisecond
	DefaultMaxProbes = 20
	MinSize          = 68 // the smallest IPv4 MTU (RFC 791)
	MaxSize          = 65535
)

// Options says where and how to probe.
type Options struct {
	// Target is the destination (IPv4).
	Target netip.Addr
	// Proto is the probe packet kind; empty means ICMP.
	Proto Proto
	// Port is the UDP (0: 33434) or TCP (required) destination port.
	Port int
	// Max is the largest packet size tried, in bytes of IP packet (0: the local route MTU).
	Max int
	// Wait is the most a probe waits for an answer (0: DefaultWait). Once a round trip is measured a
	// probe waits max(MinWait, 5×the slowest round trip) up to Wait.
	Wait time.Duration
	// MinWait is the least a probe waits (0: DefaultMinWait).
	MinWait time.Duration
	// MaxProbes bounds the number of probes (0: DefaultMaxProbes).
	MaxProbes int
}

// Outcome is what became of one probe.
type Outcome string

// Probe outcomes.
const (
	OutcomeOK          Outcome = "ok"          // the destination answered: this size passes
	OutcomeFragNeeded  Outcome = "frag-needed" // a hop answered ICMP fragmentation-needed
	OutcomeLost        Outcome = "lost"        // no answer within the wait
	OutcomeTooBig      Outcome = "too-big"     // larger than the local MTU: refused by our kernel
	OutcomeUnreachable Outcome = "unreachable" // another ICMP destination-unreachable (see Probe.Detail)
)

// Probe is one packet sent.
type Probe struct {
	// Size is the IP packet size in bytes (header included), like tracepath's pmtu.
	Size int `json:"size"`
	// Outcome is what happened to it.
	Outcome Outcome `json:"outcome"`
	// From is who answered (the destination, or the hop that sent an ICMP error).
	From netip.Addr `json:"from,omitzero"`
	// MTU is the next-hop MTU a frag-needed announced.
	MTU int `json:"mtu,omitempty"`
	// RTTMs is the time to the answer in milliseconds (0 when lost).
	RTTMs float64 `json:"rttMs,omitempty"`
	// Detail names an unexpected ICMP error ("host-unreachable", …).
	Detail string `json:"detail,omitempty"`
}

// FragNeeded is an ICMP fragmentation-needed error that arrived.
type FragNeeded struct {
	// From is the hop that sent it.
	From netip.Addr `json:"from"`
	// MTU is the next-hop MTU it announced (0 when the hop did not say).
	MTU int `json:"mtu"`
}

// Result is what Discover measured.
type Result struct {
	Target netip.Addr `json:"target"`
	Proto  Proto      `json:"proto"`
	Port   int        `json:"port,omitempty"`
	// LocalMTU is the MTU of the route to Target in the vantage namespace (link MTU, or the route's
	// mtu metric when smaller), read from the FIB, not from the PMTU cache. Interface is its device.
	LocalMTU  int    `json:"localMtu"`
	Interface string `json:"interface,omitempty"`
	// PathMTU is the largest packet that reaches Target: LargestOK once the search converged, 0 when
	// nothing passed.
	PathMTU int `json:"pathMtu"`
	// FragNeeded is the fragmentation-needed error with the smallest MTU that arrived, nil if none.
	FragNeeded *FragNeeded `json:"fragNeeded,omitempty"`
	// BlackHole is set when packets larger than LargestOK vanish without any frag-needed error.
	BlackHole bool `json:"blackHole"`
	// LargestOK is the largest size that passed; SmallestLost the smallest size that vanished
	// silently (0 when none did).
	LargestOK    int `json:"largestOk"`
	SmallestLost int `json:"smallestLost,omitempty"`
	// Reached reports whether any probe reached Target.
	Reached bool `json:"reached"`
	// Exact reports whether the search converged (PathMTU is exact) within MaxProbes.
	Exact bool `json:"exact"`
	// Probes lists every probe in the order sent.
	Probes []Probe `json:"probes"`
	// DurationMs is how long discovery took.
	DurationMs float64 `json:"durationMs"`
	// Stopped is why discovery ended early (ctx's cause), "" when it finished.
	Stopped string `json:"stopped,omitempty"`
}

// Smaller reports whether the path MTU is smaller than the local MTU, or a black hole was found.
func (r *Result) Smaller() bool {
	return r.BlackHole || (r.PathMTU > 0 && r.PathMTU < r.LocalMTU)
}

func (o Options) withDefaults() (Options, error) {
	if !o.Target.IsValid() || !o.Target.Unmap().Is4() {
		return o, fmt.Errorf("probe/pmtu: target %v: only IPv4 addresses are supported", o.Target)
	}
	o.Target = o.Target.Unmap()
	switch o.Proto {
	case "":
		o.Proto = ProtoICMP
	case ProtoICMP, ProtoUDP:
	case ProtoTCP:
		if o.Port == 0 {
			return o, fmt.Errorf("probe/pmtu: tcp probes need a destination port")
		}
	default:
		return o, fmt.Errorf("probe/pmtu: unknown protocol %q: use icmp, udp or tcp", o.Proto)
	}
	if o.Proto == ProtoUDP && o.Port == 0 {
		o.Port = DefaultUDPPort
	}
	if o.Port < 0 || o.Port > 65535 {
		return o, fmt.Errorf("probe/pmtu: port %d out of range 1..65535", o.Port)
	}
	if o.Max != 0 && (o.Max < MinSize || o.Max > MaxSize) {
		return o, fmt.Errorf("probe/pmtu: max size %d out of range %d..%d", o.Max, MinSize, MaxSize)
	}
	if o.Wait < 0 || o.MinWait < 0 || o.MaxProbes < 0 {
		return o, fmt.Errorf("probe/pmtu: negative wait or probe count")
	}
	if o.Wait == 0 {
		o.Wait = DefaultWait
	}
	if o.MinWait == 0 {
		o.MinWait = min(DefaultMinWait, o.Wait)
	}
	if o.MaxProbes == 0 {
		o.MaxProbes = DefaultMaxProbes
	}
	return o, nil
}

// Discover finds the path MTU to o.Target from inside ns (nil: the current namespace). It returns
// an error only when it could not run; an unreachable target or a black hole is a Result. When ctx
// ends early it returns what it measured with Result.Stopped set.
func Discover(ctx context.Context, ns *netns.NS, o Options) (*Result, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	return discover(ctx, ns, o)
}
