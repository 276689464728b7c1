//go:build linux

package trace

import (
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// tcpProbe sends one SYN with p.ttl from a fresh non-blocking socket created in the namespace. The
// source port identifies the probe in ICMP errors; a completed or refused connect is the
// destination's answer. The socket is closed with a reset once answered or after Wait.
func (t *tracer) tcpProbe(p *probe, wg *sync.WaitGroup) error {
	var fd int
	err := t.ns.Do(func() error {
		var err error
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		return err
	})
	if err != nil {
		return fmt.Errorf("probe/trace: tcp socket: %w", err)
	}
	fail := func(what string, err error) error {
		unix.Close(fd)
		return fmt.Errorf("probe/trace: tcp %s: %w", what, err)
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TTL, p.ttl); err != nil {
		return fail("set TTL", err)
	}
	_ = unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	if err := unix.Bind(fd, &unix.SockaddrInet4{}); err != nil {
		return fail("bind", err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return fail("getsockname", err)
	}
	port := uint16(sa.(*unix.SockaddrInet4).Port)
	t.mu.Lock()
	t.byKey[port] = p
	t.mu.Unlock()
	t.record(p)
	err = unix.Connect(fd, &unix.SockaddrInet4{Port: t.o.Port, Addr: t.o.Target.As4()})
	if err != nil && !errors.Is(err, unix.EINPROGRESS) {
		unix.Close(fd)
		if errors.Is(err, syscall.ECONNREFUSED) {
			t.answerTCP(port, time.Since(t.start))
			return nil
		}
		if transient(err) {
			return nil
		}
		return fmt.Errorf("probe/trace: tcp connect: %w", err)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer unix.Close(fd)
		deadline := time.Now().Add(t.o.Wait)
		for time.Now().Before(deadline) {
			select {
			case <-t.done:
				return
			default:
			}
			pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
			n, err := unix.Poll(pfd, 50)
			if err != nil && !errors.Is(err, unix.EINTR) {
				return
			}
			if n == 0 {
				continue
			}
			now := time.Since(t.start)
			serr, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
			if serr == 0 || syscall.Errno(serr) == syscall.ECONNREFUSED {
				t.answerTCP(port, now)
			}
			return
		}
	}()
	return nil
}

// answerTCP records that the destination answered the probe with source port port.
func (t *tracer) answerTCP(port uint16, now time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.byKey[port]
	if p == nil || p.replied {
		return
	}
	p.replied, p.final, p.from, p.rtt = true, true, t.o.Target, now-p.sentAt
	select {
	case t.notify <- struct{}{}:
	default:
	}
}
