//go:build linux

package trace

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"

	"github.com/netdoctor/netdoctor/internal/netns"
)

// payloadLen makes probes 64 bytes on the wire, like mtr's default.
const payloadLen = 36

// tracer holds the state of one trace; the receiving goroutine and the sender share it under mu.
type tracer struct {
	o       Options
	ns      *netns.NS
	start   time.Time
	id      uint16 // ICMP echo identifier
	srcPort uint16 // UDP source port
	icmp    *net.IPConn
	udp     *net.UDPConn
	done    chan struct{}
	notify  chan struct{}

	mu     sync.Mutex
	probes []*probe
	byKey  map[uint16]*probe
	seq    uint16
	sent   int
}

func run(ctx context.Context, ns *netns.NS, o Options) (*Result, error) {
	t := &tracer{o: o, ns: ns, done: make(chan struct{}), notify: make(chan struct{}, 1), byKey: map[uint16]*probe{}}
	var b [2]byte
	_, _ = rand.Read(b[:])
	t.id = binary.BigEndian.Uint16(b[:])
	if err := t.open(); err != nil {
		return nil, err
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); t.receive() }()
	t.start = time.Now()
	rounds, runErr := t.send(ctx, &wg)
	if runErr == nil {
		if ctx.Err() == nil {
			t.drain(ctx)
		} else {
			// Stopped early: give the probes already on the wire a short grace, not the full wait.
			grace, cancel := context.WithTimeout(context.Background(), min(t.o.Wait, stopGrace))
			t.drain(grace)
			cancel()
		}
	}
	close(t.done)
	t.icmp.Close()
	if t.udp != nil {
		t.udp.Close()
	}
	wg.Wait()
	if runErr != nil {
		return nil, runErr
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	res := &Result{Target: o.Target, Proto: o.Proto, Rounds: rounds, ProbesSent: t.sent,
		DurationMs: ms(time.Since(t.start))}
	if o.Proto != ProtoICMP {
		res.Port = o.Port
	}
	res.Hops, res.Reached, res.DestLossPct = summarize(t.probes)
	if err := context.Cause(ctx); err != nil && rounds < o.Rounds {
		res.Stopped = err.Error()
	}
	return res, nil
}

// open creates the sockets inside the namespace: a raw ICMP socket that sees every reply, and for
// UDP the socket the probes leave from.
func (t *tracer) open() error {
	err := t.ns.Do(func() error {
		c, err := net.ListenPacket("ip4:icmp", "0.0.0.0")
		if err != nil {
			return err
		}
		t.icmp = c.(*net.IPConn)
		if t.o.Proto == ProtoUDP {
			u, err := net.ListenPacket("udp4", "0.0.0.0:0")
			if err != nil {
				c.Close()
				return err
			}
			t.udp = u.(*net.UDPConn)
			t.srcPort = uint16(t.udp.LocalAddr().(*net.UDPAddr).Port)
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
			return ErrPermission
		}
		return fmt.Errorf("probe/trace: open sockets in %s: %w", t.ns, err)
	}
	// Let only echo replies, destination-unreachable and time-exceeded through (ICMP_FILTER).
	if rc, err := t.icmp.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			mask := ^uint32(1<<icmpEchoReply | 1<<icmpDestUnreach | 1<<icmpTimeExceeded)
			_ = unix.SetsockoptInt(int(fd), unix.SOL_RAW, 1 /* ICMP_FILTER */, int(int32(mask)))
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
		})
	}
	return nil
}

// send runs the rounds, paced, until all are sent or ctx ends; it returns the number of rounds sent.
func (t *tracer) send(ctx context.Context, wg *sync.WaitGroup) (int, error) {
	pace := newPacer(t.o.Burst, t.o.Refill)
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	var prev time.Duration // when the previous round was sent
	for r := 0; r < t.o.Rounds; r++ {
		dest := t.dest()
		if dest == 0 && r > 0 {
			// Learn the destination's distance from the first rounds before sending more probes
			// past it; if it does not answer, keep probing every TTL.
			dest = t.awaitDest(ctx, prev+min(t.o.Wait, destWait))
		}
		n, unreach := t.o.MaxTTL, 0
		if dest > 0 {
			n = dest
		} else if unreach = t.unreachTTL(); unreach > 0 {
			n = unreach // a router says the destination is unreachable: probing past it is pointless
		}
		silent := t.observeDenials(pace)
		var at time.Duration
		if t.o.Interval > 0 {
			at = time.Duration(r) * t.o.Interval
		} else {
			at = pace.next(max(time.Since(t.start), prev+minGap), t.groups(dest, unreach, silent))
		}
		if d := at - time.Since(t.start); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				return r, nil
			case <-timer.C:
			}
		} else if ctx.Err() != nil {
			return r, nil
		}
		for ttl := 1; ttl <= n; ttl++ {
			sentAt, err := t.probe(r, ttl, wg)
			if err != nil {
				return r, err
			}
			if ttl == 1 {
				prev = sentAt
			}
			pace.sent(ttl, sentAt)
			if r == 0 && t.o.Proto == ProtoUDP && t.o.Interval == 0 {
				// The destination's port-unreachable replies are rate-limited: find its distance
				// one TTL at a time instead of spending its whole burst on TTLs past it.
				if t.awaitAnswer(ctx, ttl, sentAt+min(t.o.Wait, destWait)) {
					break
				}
			}
		}
	}
	return t.o.Rounds, nil
}

// groups lists the rate-limit buckets the next round draws on: one per router before the end of the
// path, plus one for whoever answers every TTL at or past the end, fed by all of them: the
// destination for UDP (its port-unreachable replies are rate-limited too; echo replies and TCP
// answers are not), or the router that said the destination is unreachable.
func (t *tracer) groups(dest, unreach int, silent map[int]bool) [][]int {
	var g [][]int
	end := 0
	switch {
	case dest > 0:
		end = dest
	case unreach > 0:
		end = unreach
	}
	last := t.o.MaxTTL
	if end > 0 {
		last = end - 1
	}
	for ttl := 1; ttl <= last; ttl++ {
		if !silent[ttl] {
			g = append(g, []int{ttl})
		}
	}
	if unreach > 0 || (dest > 0 && t.o.Proto == ProtoUDP) {
		var all []int
		for ttl := end; ttl <= t.o.MaxTTL; ttl++ {
			all = append(all, ttl)
		}
		g = append(g, all)
	}
	return g
}

// destWait bounds how long a round waits for the previous ones to reveal the destination's distance;
// minGap spaces rounds so that one round's replies are not queued behind the next round's probes.
const (
	stopGrace = 200 * time.Millisecond
	destWait  = 300 * time.Millisecond
	minGap    = 2 * time.Millisecond
)

// awaitDest waits until the destination has answered (and returns its TTL), until (since the start),
// or until ctx ends (then it returns 0).
func (t *tracer) awaitDest(ctx context.Context, until time.Duration) int {
	for {
		if d := t.dest(); d > 0 {
			return d
		}
		left := until - time.Since(t.start)
		if left <= 0 {
			return 0
		}
		timer := time.NewTimer(left)
		select {
		case <-ctx.Done():
			timer.Stop()
			return 0
		case <-t.notify:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// observeDenials tells the pacer about replies a router skipped although a deeper TTL of the same
// round answered: its bucket was emptier than modelled (an earlier trace, another prober), so the next
// rounds wait for it to refill. It returns the TTLs that look silent (never answered, skipped twice):
// routers that do not send time-exceeded at all, which pacing cannot help and must not slow down.
func (t *tracer) observeDenials(pace *pacer) map[int]bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	deep := map[int]int{}
	answered, skipped := map[int]int{}, map[int]int{}
	for _, p := range t.probes {
		if p.replied {
			deep[p.round] = max(deep[p.round], p.ttl)
			answered[p.ttl]++
		}
	}
	for _, p := range t.probes {
		if !p.replied && deep[p.round] > p.ttl {
			skipped[p.ttl]++
			if !p.denied {
				p.denied = true
				pace.denied(p.ttl, p.sentAt)
			}
		}
	}
	silent := map[int]bool{}
	for ttl, n := range skipped {
		if n >= 2 && answered[ttl] == 0 {
			silent[ttl] = true
		}
	}
	return silent
}

// awaitAnswer waits until the round-0 probe with this TTL is answered, until (since the start) or
// ctx ends, and reports whether the destination has answered.
func (t *tracer) awaitAnswer(ctx context.Context, ttl int, until time.Duration) bool {
	for {
		t.mu.Lock()
		answered := false
		for _, p := range t.probes {
			if p.round == 0 && p.ttl == ttl && p.replied {
				answered = true
			}
		}
		dest := destTTL(t.probes)
		t.mu.Unlock()
		left := until - time.Since(t.start)
		if dest > 0 || answered || left <= 0 {
			return dest > 0
		}
		timer := time.NewTimer(left)
		select {
		case <-ctx.Done():
			timer.Stop()
			return false
		case <-t.notify:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// unreachTTL is the smallest TTL answered with a destination-unreachable by a router, 0 if none.
func (t *tracer) unreachTTL() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	u := 0
	for _, p := range t.probes {
		if p.replied && !p.final && p.unreach != "" && (u == 0 || p.ttl < u) {
			u = p.ttl
		}
	}
	return u
}

func (t *tracer) dest() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return destTTL(t.probes)
}

// probe sends one probe with the given TTL and registers it for matching.
func (t *tracer) probe(round, ttl int, wg *sync.WaitGroup) (time.Duration, error) {
	p := &probe{round: round, ttl: ttl}
	dst := t.o.Target.AsSlice()
	switch t.o.Proto {
	case ProtoICMP:
		t.mu.Lock()
		t.seq++
		seq := t.seq
		t.byKey[seq] = p
		t.mu.Unlock()
		msg := make([]byte, 8+payloadLen)
		msg[0] = icmpEcho
		binary.BigEndian.PutUint16(msg[4:], t.id)
		binary.BigEndian.PutUint16(msg[6:], seq)
		binary.BigEndian.PutUint16(msg[2:], checksum(msg))
		if err := ipv4.NewPacketConn(t.icmp).SetTTL(ttl); err != nil {
			return 0, fmt.Errorf("probe/trace: set TTL: %w", err)
		}
		p.sentAt = t.record(p)
		if _, err := t.icmp.WriteTo(msg, &net.IPAddr{IP: dst}); err != nil && !transient(err) {
			return 0, fmt.Errorf("probe/trace: send: %w", err)
		}
	case ProtoUDP:
		t.mu.Lock()
		span := 65536 - t.o.Port
		port := uint16(t.o.Port + int(t.seq)%span)
		t.seq++
		t.byKey[port] = p
		t.mu.Unlock()
		if err := ipv4.NewPacketConn(t.udp).SetTTL(ttl); err != nil {
			return 0, fmt.Errorf("probe/trace: set TTL: %w", err)
		}
		p.sentAt = t.record(p)
		if _, err := t.udp.WriteToUDP(make([]byte, payloadLen), &net.UDPAddr{IP: dst, Port: int(port)}); err != nil && !transient(err) {
			return 0, fmt.Errorf("probe/trace: send: %w", err)
		}
	case ProtoTCP:
		if err := t.tcpProbe(p, wg); err != nil {
			return 0, err
		}
	}
	return p.sentAt, nil
}

// record stamps p as sent now and adds it to the trace.
func (t *tracer) record(p *probe) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	p.sentAt, p.sentWall = now.Sub(t.start), now.Round(0)
	t.probes = append(t.probes, p)
	t.sent++
	return p.sentAt
}

// transient reports send errors that mean "this probe is lost" rather than "cannot run": an ICMP
// error already queued on the socket, or a full buffer.
func transient(err error) bool {
	return errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.EAGAIN)
}

// drain waits until every probe that matters (TTL up to the destination) is answered or has waited
// Wait, or ctx ends.
func (t *tracer) drain(ctx context.Context) {
	timer := time.NewTimer(t.o.Wait)
	defer timer.Stop()
	for {
		t.mu.Lock()
		dest := destTTL(t.probes)
		var until time.Duration
		for _, p := range t.probes {
			if p.replied || (dest > 0 && p.ttl > dest) {
				continue
			}
			until = max(until, p.sentAt+t.o.Wait)
		}
		t.mu.Unlock()
		left := until - time.Since(t.start)
		if left <= 0 {
			return
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(left)
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
			return
		case <-t.notify:
		}
	}
}
