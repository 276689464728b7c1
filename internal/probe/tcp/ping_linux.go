//go:build linux

package tcp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"

	"github.com/netdoctor/netdoctor/internal/netns"
	"github.com/netdoctor/netdoctor/internal/probe/icmp"
)

// gonePoll is how often the vantage namespace is checked (the CLI contract: notice within 1 s).
const gonePoll = 250 * time.Millisecond

func ping(ctx context.Context, ns *netns.NS, o Options, ap netip.AddrPort) (*Result, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go ns.WatchGone(ctx, gonePoll, cancel)
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("probe/tcp: eventfd: %w", err)
	}
	woke := make(chan struct{})
	go func() {
		defer close(woke)
		<-ctx.Done()
		_, _ = unix.Write(efd, []byte{1, 0, 0, 0, 0, 0, 0, 0})
	}()
	defer func() { cancel(nil); <-woke; unix.Close(efd) }()

	r := &Result{Target: o.Addr, Addr: ap}
	if o.OnStart != nil {
		hdr := *r
		o.OnStart(&hdr)
	}
	var runErr error
	var old tally
	next := time.Now()
	for seq := 1; o.Count == 0 || seq <= o.Count; seq++ {
		if seq > 1 && !sleepUntil(ctx, efd, next) {
			break
		}
		next = time.Now().Add(o.Interval)
		a, err := attempt(ctx, ns, ap, o.Wait, efd)
		if err != nil {
			runErr = err
			break
		}
		a.Seq = seq
		if r.Started.IsZero() {
			r.Started = a.Start
		}
		r.fold(&old, KeepAttempts)
		r.Attempts = append(r.Attempts, a)
		if a.Outcome == OutcomeCancelled {
			break
		}
		if o.OnAttempt != nil {
			o.OnAttempt(a)
		}
	}
	r.finish(time.Now(), old)
	if cause := context.Cause(ctx); cause != nil && (errors.Is(cause, netns.ErrGone) || errors.Is(cause, netns.ErrProcessGone)) {
		return r, fmt.Errorf("probe/tcp: vantage %w", cause)
	}
	if runErr != nil {
		return r, runErr
	}
	return r, nil
}

// sleepUntil waits until t or until ctx ends (false).
func sleepUntil(ctx context.Context, efd int, t time.Time) bool {
	for ctx.Err() == nil {
		d := time.Until(t)
		if d <= 0 {
			return true
		}
		ts := unix.NsecToTimespec(d.Nanoseconds())
		_, _ = unix.Ppoll([]unix.PollFd{{Fd: int32(efd), Events: unix.POLLIN}}, &ts, nil)
	}
	return false
}

// attempt makes one connection attempt. Its error means the socket could not be made.
func attempt(ctx context.Context, ns *netns.NS, ap netip.AddrPort, wait time.Duration, efd int) (Attempt, error) {
	v6 := ap.Addr().Is6()
	fd := -1
	err := ns.Do(func() error {
		family, level, opt := unix.AF_INET, unix.SOL_IP, unix.IP_RECVERR
		if v6 {
			family, level, opt = unix.AF_INET6, unix.SOL_IPV6, unix.IPV6_RECVERR
		}
		var err error
		if fd, err = unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0); err != nil {
			return fmt.Errorf("probe/tcp: socket: %w", err)
		}
		if err := unix.SetsockoptInt(fd, level, opt, 1); err != nil {
			return fmt.Errorf("probe/tcp: IP_RECVERR: %w", err)
		}
		// Close with an RST: no FIN exchange, no TIME_WAIT left in the vantage namespace.
		return unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	})
	if fd >= 0 {
		defer unix.Close(fd)
	}
	if err != nil {
		return Attempt{}, err
	}
	var sa unix.Sockaddr
	if v6 {
		sa = &unix.SockaddrInet6{Addr: ap.Addr().As16(), Port: int(ap.Port())}
	} else {
		sa = &unix.SockaddrInet4{Addr: ap.Addr().As4(), Port: int(ap.Port())}
	}
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}, {Fd: int32(efd), Events: unix.POLLIN}}
	deadline := time.Now().Add(wait)

	a := Attempt{Start: time.Now()}
	cerr := unix.Connect(fd, sa)
	var end time.Time
	if errors.Is(cerr, unix.EINPROGRESS) || cerr == nil {
		for {
			if ctx.Err() != nil {
				a.Outcome = OutcomeCancelled
				return a, nil
			}
			d := time.Until(deadline)
			if d <= 0 {
				a.Outcome = OutcomeTimeout
				a.Local = localAddr(fd)
				return a, nil
			}
			ts := unix.NsecToTimespec(d.Nanoseconds())
			fds[0].Revents, fds[1].Revents = 0, 0
			n, err := unix.Ppoll(fds, &ts, nil)
			end = time.Now()
			if err != nil && !errors.Is(err, unix.EINTR) {
				return a, fmt.Errorf("probe/tcp: poll: %w", err)
			}
			if n > 0 && fds[0].Revents != 0 {
				break
			}
		}
		soerr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
		if err != nil {
			return a, fmt.Errorf("probe/tcp: SO_ERROR: %w", err)
		}
		cerr = nil
		if soerr != 0 {
			cerr = unix.Errno(soerr)
		}
	} else {
		end = time.Now()
	}
	a.RTT = end.Sub(a.Start)
	a.Local = localAddr(fd)
	if cerr == nil {
		a.Outcome = OutcomeConnected
		if ti, err := unix.GetsockoptTCPInfo(fd, unix.SOL_TCP, unix.TCP_INFO); err == nil {
			a.KernelRTT = time.Duration(ti.Rtt) * time.Microsecond
		}
		return a, nil
	}
	classify(&a, fd, cerr)
	return a, nil
}

// classify sets the outcome of a failed connect: an ICMP error on the error queue wins over the
// errno, which is ambiguous (ECONNREFUSED is both an RST and an ICMP port-unreachable).
func classify(a *Attempt, fd int, cerr error) {
	var errno unix.Errno
	errors.As(cerr, &errno)
	a.Errno = errno.Error()
	for range 8 {
		q, err := icmp.ReadErrQueue(fd)
		if err != nil || q == nil {
			break
		}
		if q.ICMP != nil {
			a.Outcome, a.ICMP, a.From, a.Reason = OutcomeUnreachable, q.ICMP, q.ICMP.From, Reason(q.ICMP.Reason)
			return
		}
	}
	a.RTT = max(a.RTT, 0)
	switch errno {
	case unix.ECONNREFUSED:
		a.Outcome = OutcomeRefused
	case unix.ETIMEDOUT:
		a.Outcome, a.RTT = OutcomeTimeout, 0
	case unix.ENETUNREACH:
		a.Outcome, a.Reason = OutcomeUnreachable, ReasonNoRoute
	case unix.EPERM, unix.EACCES:
		a.Outcome, a.Reason = OutcomeUnreachable, ReasonLocalFirewall
	default:
		a.Outcome, a.Reason = OutcomeUnreachable, ReasonLocalUnreachable
	}
}

func localAddr(fd int) netip.AddrPort {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return netip.AddrPort{}
	}
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), uint16(sa.Port))
	}
	return netip.AddrPort{}
}
