// Package icmp is the ICMP echo probe: it sends echo requests from a vantage network namespace and
// reports, per probe, exactly what came back — an echo reply, an ICMP error (with its type, code,
// sender and, for "fragmentation needed", the next-hop MTU it announces), a local error from the
// sending host (with the route MTU for "message too long"), or nothing within the wait.
//
// It prefers an unprivileged ICMP datagram socket (allowed by net.ipv4.ping_group_range) and uses a
// raw socket when that is refused or when the caller asks for the don't-fragment bit; the mode that
// ran is part of the result, because it changes what the kernel lets the probe see.
//
// A probe measures; it does not judge. Ping returns an error only when it could not run (bad options,
// unknown host, no permission, the vantage namespace vanished); lost and refused probes are results.
package icmp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/netdoctor/netdoctor/internal/netns"
	"github.com/netdoctor/netdoctor/internal/probe/rtt"
)

// Defaults applied by Ping to zero Options fields.
const (
	DefaultSize     = 56              // payload bytes, like ping -s
	DefaultInterval = time.Second     // between probes, like ping -i
	DefaultWait     = 2 * time.Second // for each reply before it counts as lost
	// EmptyPayload as Options.Size sends echo requests without payload (Size 0 means DefaultSize).
	EmptyPayload = -1
	// MaxSize is the largest payload an IPv4 echo request can carry.
	MaxSize = 65507
	// MinInterval is the shortest interval Ping accepts.
	MinInterval = time.Millisecond
	// KeepProbes bounds the memory of a long run: once Result.Probes holds twice this many, the
	// oldest finished ones are folded into the statistics and dropped from the list.
	KeepProbes = 10000
)

// Errors Ping returns when it cannot run; they are wrapped with detail.
var (
	// ErrPermission: neither an ICMP datagram socket nor a raw socket may be opened (or a raw one is
	// needed, for DF, and is not allowed). Needs CAP_NET_RAW or a ping_group_range with the caller's group.
	ErrPermission = errors.New("permission denied")
	// ErrResolve: the target is neither an IP address nor a name the host's resolver knows.
	ErrResolve = errors.New("unknown host")
	// ErrNotSupported: ICMP probes are implemented for Linux only.
	ErrNotSupported = errors.New("not supported on this OS")
)

// Mode is the kind of socket the probe used.
type Mode string

// The socket modes.
const (
	// ModeDatagram is an unprivileged ICMP socket (SOCK_DGRAM, IPPROTO_ICMP): the kernel picks the echo
	// identifier and delivers only this socket's replies; ICMP errors arrive on the error queue.
	ModeDatagram Mode = "datagram"
	// ModeRaw is a raw ICMP socket (needs CAP_NET_RAW): required to set don't-fragment.
	ModeRaw Mode = "raw"
)

// Outcome is what became of one probe. The values are stable (they appear in JSON).
type Outcome string

// The outcomes of a probe.
const (
	OutcomeReply      Outcome = "reply"       // an echo reply came back
	OutcomeTimeout    Outcome = "timeout"     // nothing came back within Options.Wait
	OutcomeICMPError  Outcome = "icmp-error"  // an ICMP error came back instead (Probe.ICMP)
	OutcomeLocalError Outcome = "local-error" // the sending host refused to send it (Probe.Local)
	OutcomeCancelled  Outcome = "cancelled"   // the run ended while it was still within its wait; not counted
)

// Options configure Ping. Zero values take the defaults above.
type Options struct {
	// Target is an IP address or a host name. Names are resolved by the host's resolver (not the
	// vantage namespace's resolv.conf); an IPv4 address is preferred.
	Target string
	// Count is how many probes to send; 0 sends until ctx ends.
	Count int
	// Interval is the time between probe sends (default 1 s, at least MinInterval).
	Interval time.Duration
	// Size is the ICMP payload in bytes, like ping -s (0: DefaultSize; EmptyPayload: none).
	Size int
	// DF sets the don't-fragment bit (IP_PMTUDISC_DO); it needs a raw socket, so CAP_NET_RAW.
	DF bool
	// Wait is how long each probe waits for its answer (default 2 s).
	Wait time.Duration
	// TTL is the IP time-to-live (IPv6 hop limit) of the requests, 1-255; 0 keeps the system default.
	// A router where it runs out answers with time-exceeded.
	TTL int
	// Mode forces a socket mode; empty tries datagram first, then raw.
	Mode Mode
	// OnStart, when set, is called once the socket is open, with the result header filled in
	// (Target, Addr, Mode, Size, DF, ID) and no probes yet.
	OnStart func(r *Result)
	// OnProbe, when set, is called as each probe reaches its final outcome, in that order, from the
	// goroutine running Ping. It must not block for long: it delays the next send.
	OnProbe func(p Probe)
}

// Reason names an ICMP error in words shared by IPv4 and IPv6. The values are stable (JSON).
type Reason string

// The reasons an ICMP error gives.
const (
	ReasonNetUnreachable   Reason = "net-unreachable"  // v4 3/0, 3/6, 3/11; v6 1/0 (no route)
	ReasonHostUnreachable  Reason = "host-unreachable" // v4 3/1, 3/7, 3/12; v6 1/3 (address unreachable)
	ReasonProtoUnreachable Reason = "protocol-unreachable"
	ReasonPortUnreachable  Reason = "port-unreachable" // v4 3/3; v6 1/4
	ReasonFragNeeded       Reason = "frag-needed"      // v4 3/4 and v6 packet too big; ErrorReply.MTU set
	ReasonNetProhibited    Reason = "net-prohibited"   // v4 3/9
	ReasonHostProhibited   Reason = "host-prohibited"  // v4 3/10 (iptables icmp-host-prohibited)
	ReasonAdminProhibited  Reason = "admin-prohibited" // v4 3/13 (icmp-admin-prohibited); v6 1/1
	ReasonTimeExceeded     Reason = "time-exceeded"    // TTL / hop limit reached zero in transit
	ReasonReassemblyFailed Reason = "reassembly-time-exceeded"
	ReasonParamProblem     Reason = "param-problem"
	ReasonOther            Reason = "other" // any other destination-unreachable code
)

// ErrorReply is an ICMP error message that came back about a probe.
type ErrorReply struct {
	IPv6   bool       // an ICMPv6 message (types and codes are ICMPv6 ones)
	Type   int        // ICMP type, as on the wire
	Code   int        // ICMP code, as on the wire
	Reason Reason     // the type and code in words
	From   netip.Addr // the host that sent it (a router on the path, or the target)
	MTU    int        // next-hop MTU announced by frag-needed / packet-too-big; 0 otherwise
}

// Probe is one echo request and what became of it.
type Probe struct {
	Seq     int           // 1-based sequence number (the wire carries it modulo 65536)
	Sent    time.Time     // when it was handed to the kernel
	Outcome Outcome       // what came back
	RTT     time.Duration // send to arrival of the reply or ICMP error (kernel receive timestamp)
	From    netip.Addr    // who answered: reply source or ICMP error sender; invalid for timeout/local
	TTL     int           // TTL (hop limit) of the reply, 0 when unknown
	Bytes   int           // ICMP bytes of the reply (header + payload), like ping's "64 bytes"
	ICMP    *ErrorReply   // set for OutcomeICMPError
	// Local is the error the sending host gave, for OutcomeLocalError, e.g. "message too long, local MTU 1400".
	Local string
	// LocalMTU is the route MTU when Local is "message too long"; 0 otherwise.
	LocalMTU int
	// Duplicates counts extra replies with this sequence number (duplicated on the path).
	Duplicates int
}

// Result is the outcome of one Ping run.
type Result struct {
	Target   string        // as given in Options
	Addr     netip.Addr    // the address probed
	Mode     Mode          // the socket mode that ran
	Size     int           // payload bytes per request
	DF       bool          // whether don't-fragment was set
	ID       int           // ICMP echo identifier on the wire
	Started  time.Time     // when the first probe was sent
	Duration time.Duration // first send to end of run
	// Probes lists the probes in sequence order, cancelled ones included: all of them, or in a long
	// run the last KeepProbes to KeepProbes*2 (the older ones are counted in Stats and Omitted).
	Probes []Probe
	// Omitted is how many of the oldest probes were dropped from Probes to bound memory.
	Omitted int
	// Stats count every probe with a final outcome (not cancelled); Received counts replies.
	Stats rtt.Stats
	// Errors counts probes answered by an ICMP error or refused locally.
	Errors int
	// Duplicates counts duplicated replies over all probes.
	Duplicates int
}

// OK reports whether at least one probe was sent and every one got its reply.
func (r *Result) OK() bool { return r.Stats.Sent > 0 && r.Stats.Received == r.Stats.Sent }

// Ping sends echo requests to o.Target from the namespace ns (nil: the caller's own) and returns
// what came back. It ends after o.Count probes have their outcome, or when ctx ends (pending probes
// are then marked cancelled). If ns vanishes mid-run it returns the partial result and an error
// wrapping netns.ErrGone or netns.ErrProcessGone. Other errors mean the probe could not run.
func Ping(ctx context.Context, ns *netns.NS, o Options) (*Result, error) {
	if err := o.normalize(); err != nil {
		return nil, err
	}
	addr, err := Resolve(ctx, o.Target)
	if err != nil {
		return nil, err
	}
	return ping(ctx, ns, o, addr)
}

func (o *Options) normalize() error {
	switch {
	case o.Target == "":
		return fmt.Errorf("probe/icmp: no target")
	case o.Count < 0:
		return fmt.Errorf("probe/icmp: count %d is negative", o.Count)
	case o.Interval < 0, o.Interval > 0 && o.Interval < MinInterval:
		return fmt.Errorf("probe/icmp: interval %v is below %v", o.Interval, MinInterval)
	case o.Wait < 0:
		return fmt.Errorf("probe/icmp: wait %v is negative", o.Wait)
	case o.Size > MaxSize || o.Size < EmptyPayload:
		return fmt.Errorf("probe/icmp: size %d is outside 0..%d", o.Size, MaxSize)
	case o.TTL < 0 || o.TTL > 255:
		return fmt.Errorf("probe/icmp: TTL %d is outside 1..255", o.TTL)
	case o.Mode != "" && o.Mode != ModeDatagram && o.Mode != ModeRaw:
		return fmt.Errorf("probe/icmp: unknown mode %q", o.Mode)
	case o.DF && o.Mode == ModeDatagram:
		return fmt.Errorf("probe/icmp: don't-fragment needs a raw socket, not %s", o.Mode)
	}
	if o.Interval == 0 {
		o.Interval = DefaultInterval
	}
	if o.Wait == 0 {
		o.Wait = DefaultWait
	}
	switch o.Size {
	case 0:
		o.Size = DefaultSize
	case EmptyPayload:
		o.Size = 0
	}
	return nil
}

// Resolve turns an IP literal or host name into one address, preferring IPv4, with the host's
// resolver and ctx's deadline. A failure wraps ErrResolve.
func Resolve(ctx context.Context, target string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(target); err == nil {
		if a.Zone() != "" {
			return netip.Addr{}, fmt.Errorf("probe/icmp: %q: %w (zoned addresses are not supported)", target, ErrResolve)
		}
		return a.Unmap(), nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", target)
	if err != nil || len(addrs) == 0 {
		return netip.Addr{}, fmt.Errorf("probe/icmp: %q: %w", target, ErrResolve)
	}
	for _, a := range addrs {
		if a.Unmap().Is4() {
			return a.Unmap(), nil
		}
	}
	return addrs[0], nil
}

// Text is the error the way iputils ping words it, e.g. "Destination Host Unreachable" or
// "Frag needed and DF set (mtu = 1400)".
func (e *ErrorReply) Text() string {
	if e.IPv6 {
		return textV6(e)
	}
	return textV4(e)
}

func textV4(e *ErrorReply) string {
	switch e.Type {
	case 3:
		if e.Code == 4 {
			return fmt.Sprintf("Frag needed and DF set (mtu = %d)", e.MTU)
		}
		if e.Code < len(unreachV4) {
			return unreachV4[e.Code]
		}
		return fmt.Sprintf("Dest Unreachable, Bad Code: %d", e.Code)
	case 11:
		if e.Code == 1 {
			return "Frag reassembly time exceeded"
		}
		return "Time to live exceeded"
	case 12:
		return "Parameter problem"
	}
	return fmt.Sprintf("Bad ICMP type: %d", e.Type)
}

var unreachV4 = []string{
	"Destination Net Unreachable", "Destination Host Unreachable", "Destination Protocol Unreachable",
	"Destination Port Unreachable", "Frag needed and DF set", "Source Route Failed",
	"Destination Net Unknown", "Destination Host Unknown", "Source Host Isolated",
	"Destination Net Prohibited", "Destination Host Prohibited", "Destination Net Unreachable for Type of Service",
	"Destination Host Unreachable for Type of Service", "Packet filtered", "Precedence Violation",
	"Precedence Cutoff",
}

func textV6(e *ErrorReply) string {
	switch e.Type {
	case 1:
		names := []string{"No route", "Administratively prohibited", "Beyond scope of source address",
			"Address unreachable", "Port unreachable", "Source address failed ingress/egress policy", "Reject route to destination"}
		if e.Code < len(names) {
			return "Destination unreachable: " + names[e.Code]
		}
		return fmt.Sprintf("Destination unreachable: Unknown code %d", e.Code)
	case 2:
		return fmt.Sprintf("Packet too big: mtu=%d", e.MTU)
	case 3:
		if e.Code == 1 {
			return "Time exceeded: Defragmentation failure"
		}
		return "Time exceeded: Hop limit"
	case 4:
		return "Parameter problem"
	}
	return fmt.Sprintf("Unknown ICMPv6 type %d", e.Type)
}

// ClassifyV4 names an ICMPv4 error type and code; ok is false for messages that are not errors about
// a packet (echo reply, redirect, source quench...).
func ClassifyV4(typ, code int) (r Reason, ok bool) {
	switch typ {
	case 3:
		switch code {
		case 0, 6, 11:
			return ReasonNetUnreachable, true
		case 1, 7, 12:
			return ReasonHostUnreachable, true
		case 2:
			return ReasonProtoUnreachable, true
		case 3:
			return ReasonPortUnreachable, true
		case 4:
			return ReasonFragNeeded, true
		case 9:
			return ReasonNetProhibited, true
		case 10:
			return ReasonHostProhibited, true
		case 13:
			return ReasonAdminProhibited, true
		}
		return ReasonOther, true
	case 11:
		if code == 1 {
			return ReasonReassemblyFailed, true
		}
		return ReasonTimeExceeded, true
	case 12:
		return ReasonParamProblem, true
	}
	return "", false
}

// ClassifyV6 names an ICMPv6 error type and code; ok is false for non-error messages.
func ClassifyV6(typ, code int) (r Reason, ok bool) {
	switch typ {
	case 1:
		switch code {
		case 0:
			return ReasonNetUnreachable, true
		case 1:
			return ReasonAdminProhibited, true
		case 3:
			return ReasonHostUnreachable, true
		case 4:
			return ReasonPortUnreachable, true
		}
		return ReasonOther, true
	case 2:
		return ReasonFragNeeded, true
	case 3:
		if code == 1 {
			return ReasonReassemblyFailed, true
		}
		return ReasonTimeExceeded, true
	case 4:
		return ReasonParamProblem, true
	}
	return "", false
}

// tally accumulates what the statistics need from probes.
type tally struct {
	sent, errors, dups int
	rtts               []time.Duration
}

func (t *tally) add(p Probe) {
	t.dups += p.Duplicates
	switch p.Outcome {
	case OutcomeCancelled, "":
		return
	case OutcomeReply:
		t.rtts = append(t.rtts, p.RTT)
	case OutcomeICMPError, OutcomeLocalError:
		t.errors++
	}
	t.sent++
}

// finish computes the statistics of r from old (probes already dropped from the list) and its probes.
func (r *Result) finish(end time.Time, old tally) {
	t := tally{sent: old.sent, errors: old.errors, dups: old.dups, rtts: append([]time.Duration(nil), old.rtts...)}
	for _, p := range r.Probes {
		t.add(p)
	}
	r.Errors, r.Duplicates = t.errors, t.dups
	r.Stats = rtt.Compute(t.sent, t.rtts)
	if !r.Started.IsZero() {
		r.Duration = end.Sub(r.Started)
	}
}
