//go:build linux

package icmp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"

	"github.com/netdoctor/netdoctor/internal/netns"
)

// gonePoll is how often the vantage namespace is checked for having vanished (the CLI contract asks
// for notice within 1 s).
const gonePoll = 250 * time.Millisecond

// maxCatchUp bounds how many probes a delayed send loop sends back to back to get back on schedule.
const maxCatchUp = 10

// ping runs the probe loop: one goroutine, one ppoll over the socket and an eventfd that ctx's end
// writes to, sending on schedule and expiring probes at their deadline.
func ping(ctx context.Context, ns *netns.NS, o Options, addr netip.Addr) (*Result, error) {
	s, err := openSocket(ns, addr, o)
	if err != nil {
		return nil, err
	}
	defer s.close()

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go ns.WatchGone(ctx, gonePoll, cancel)
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("probe/icmp: eventfd: %w", err)
	}
	woke := make(chan struct{})
	go func() {
		defer close(woke)
		<-ctx.Done()
		var one = []byte{1, 0, 0, 0, 0, 0, 0, 0}
		_, _ = unix.Write(efd, one)
	}()
	defer func() { cancel(nil); <-woke; unix.Close(efd) }()

	l := &loop{s: s, o: o, r: &Result{Target: o.Target, Addr: addr, Mode: s.mode, Size: o.Size, DF: o.DF, ID: s.id},
		pending: map[int]int{}, last: map[int]int{}, keep: KeepProbes}
	if o.OnStart != nil {
		hdr := *l.r
		o.OnStart(&hdr)
	}
	l.run(ctx, efd)
	l.r.ID = s.id
	end := time.Now()
	for i := range l.r.Probes {
		if l.r.Probes[i].Outcome == "" {
			l.r.Probes[i].Outcome = OutcomeCancelled
		}
	}
	l.r.finish(end, l.old)
	if cause := context.Cause(ctx); cause != nil && (errors.Is(cause, netns.ErrGone) || errors.Is(cause, netns.ErrProcessGone)) {
		return l.r, fmt.Errorf("probe/icmp: vantage %w", cause)
	}
	return l.r, nil
}

type loop struct {
	s       *sock
	o       Options
	r       *Result
	pending map[int]int // wire seq → index in r.Probes, for probes still waiting
	last    map[int]int // wire seq → index of the latest probe that used it (for duplicates)
	sent    int
	keep    int   // probes kept listed (KeepProbes)
	old     tally // probes no longer listed
}

// trim drops the oldest finished probes once twice l.keep are listed, folding them into l.old.
func (l *loop) trim() {
	if len(l.r.Probes) < 2*l.keep {
		return
	}
	cut := len(l.r.Probes) - l.keep
	for _, i := range l.pending {
		cut = min(cut, i)
	}
	if cut <= 0 {
		return
	}
	for _, p := range l.r.Probes[:cut] {
		l.old.add(p)
	}
	l.r.Omitted += cut
	l.r.Probes = append([]Probe(nil), l.r.Probes[cut:]...)
	for k, i := range l.pending {
		l.pending[k] = i - cut
	}
	for k, i := range l.last {
		if i < cut {
			delete(l.last, k)
		} else {
			l.last[k] = i - cut
		}
	}
}

func (l *loop) run(ctx context.Context, efd int) {
	next := time.Now()
	fds := []unix.PollFd{{Fd: int32(l.s.fd), Events: unix.POLLIN}, {Fd: int32(efd), Events: unix.POLLIN}}
	for ctx.Err() == nil {
		now := time.Now()
		more := l.o.Count == 0 || l.sent < l.o.Count
		if more && !now.Before(next) {
			l.send(l.sent + 1)
			// Keep the schedule, like iputils: a loop that fell behind (a loaded machine) catches up,
			// but never by more than maxCatchUp probes at once.
			next = next.Add(l.o.Interval)
			if now.Sub(next) > maxCatchUp*l.o.Interval {
				next = now
			}
			more = l.o.Count == 0 || l.sent < l.o.Count
		}
		l.expire(now)
		if !more && len(l.pending) == 0 {
			return
		}
		wake := l.earliestDeadline()
		if more && (wake.IsZero() || next.Before(wake)) {
			wake = next
		}
		d := time.Until(wake)
		if d < 0 {
			d = 0
		}
		ts := unix.NsecToTimespec(d.Nanoseconds())
		fds[0].Revents, fds[1].Revents = 0, 0
		if _, err := unix.Ppoll(fds, &ts, nil); err != nil && !errors.Is(err, unix.EINTR) {
			return
		}
		if fds[0].Revents&(unix.POLLIN|unix.POLLERR) != 0 {
			l.drain()
		}
	}
}

func (l *loop) send(seq int) {
	l.sent = seq
	wire := seq & 0xffff
	sent, err := l.s.send(seq, l.o.Size)
	if l.r.Started.IsZero() {
		l.r.Started = sent
	}
	l.trim()
	l.r.Probes = append(l.r.Probes, Probe{Seq: seq, Sent: sent})
	i := len(l.r.Probes) - 1
	if old, ok := l.pending[wire]; ok { // 65536 probes later and still pending: give up on the old one
		l.resolve(old, Probe{Outcome: OutcomeTimeout})
	}
	l.last[wire] = i
	if err != nil {
		l.resolve(i, l.localError(err))
		return
	}
	l.pending[wire] = i
}

func (l *loop) localError(err error) Probe {
	p := Probe{Outcome: OutcomeLocalError}
	var errno unix.Errno
	if errors.As(err, &errno) {
		switch errno {
		case unix.EMSGSIZE:
			p.LocalMTU = l.s.routeMTU()
			p.Local = fmt.Sprintf("message too long, local MTU %d", p.LocalMTU)
			return p
		case unix.EPERM:
			p.Local = "operation not permitted (a local firewall rule drops it)"
			return p
		}
	}
	p.Local = err.Error()
	if errors.As(err, &errno) {
		p.Local = errno.Error()
	}
	return p
}

// resolve sets the final outcome of probe i (keeping Seq and Sent) and reports it.
func (l *loop) resolve(i int, p Probe) {
	pr := &l.r.Probes[i]
	p.Seq, p.Sent, p.Duplicates = pr.Seq, pr.Sent, pr.Duplicates
	*pr = p
	delete(l.pending, pr.Seq&0xffff)
	if l.o.OnProbe != nil {
		l.o.OnProbe(*pr)
	}
}

func (l *loop) expire(now time.Time) {
	for _, i := range l.pending {
		if !now.Before(l.r.Probes[i].Sent.Add(l.o.Wait)) {
			l.resolve(i, Probe{Outcome: OutcomeTimeout})
		}
	}
}

func (l *loop) earliestDeadline() time.Time {
	var t time.Time
	for _, i := range l.pending {
		d := l.r.Probes[i].Sent.Add(l.o.Wait)
		if t.IsZero() || d.Before(t) {
			t = d
		}
	}
	return t
}

// drain reads everything queued on the socket (and its error queue) without blocking.
func (l *loop) drain() {
	for range 4096 {
		p, ok, err := l.s.recv()
		if errors.Is(err, unix.EAGAIN) {
			break
		}
		if err != nil {
			// A raw socket reports some ICMP errors once as a socket error too; the message itself
			// is read inline. Reading clears it.
			continue
		}
		if ok {
			l.match(p)
		}
	}
	if l.s.mode == ModeDatagram {
		for range 4096 {
			p, ok, more, err := l.s.recvErrQueue()
			if err != nil || !more {
				break
			}
			if ok {
				l.match(p)
			}
		}
	} else {
		_, _ = unix.GetsockoptInt(l.s.fd, unix.SOL_SOCKET, unix.SO_ERROR)
	}
}

func (l *loop) match(p packet) {
	i, ok := l.pending[p.seq]
	if !ok {
		if j, seen := l.last[p.seq]; seen && p.reply && l.r.Probes[j].Outcome == OutcomeReply {
			l.r.Probes[j].Duplicates++
		}
		return
	}
	pr := l.r.Probes[i]
	rtt := p.at.Sub(pr.Sent)
	if rtt < 0 {
		rtt = time.Since(pr.Sent)
	}
	if p.reply {
		l.resolve(i, Probe{Outcome: OutcomeReply, RTT: rtt, From: p.from, TTL: max(p.ttl, 0), Bytes: p.bytes})
		return
	}
	l.resolve(i, Probe{Outcome: OutcomeICMPError, RTT: rtt, From: p.from, ICMP: p.icmp})
}
