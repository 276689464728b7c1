//go:build linux

package bulk

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/netdoctor/netdoctor/internal/netns"
)

func run(ctx context.Context, ns *netns.NS, o Options) (*Result, error) {
	start := time.Now()
	r := &Result{Addr: o.Addr}
	fam := unix.AF_INET
	if o.Addr.Addr().Is6() && !o.Addr.Addr().Is4In6() {
		fam = unix.AF_INET6
	}
	var fd int
	err := ns.Do(func() error {
		var err error
		fd, err = unix.Socket(fam, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("probe/bulk: socket: %w", err)
	}
	defer unix.Close(fd)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20)
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	var sa unix.Sockaddr
	if fam == unix.AF_INET {
		sa = &unix.SockaddrInet4{Port: int(o.Addr.Port()), Addr: o.Addr.Addr().Unmap().As4()}
	} else {
		sa = &unix.SockaddrInet6{Port: int(o.Addr.Port()), Addr: o.Addr.Addr().As16()}
	}
	defer func() { r.Duration = time.Since(start) }()
	if err := unix.Connect(fd, sa); err != nil && err != unix.EINPROGRESS {
		r.Outcome, r.Detail = OutcomeFailed, "connect: "+err.Error()
		return r, nil
	}
	if err := waitWritable(ctx, fd, o.Wait); err != nil {
		r.Outcome, r.Detail = OutcomeFailed, "handshake: "+err.Error()
		return r, nil
	}
	if soerr, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR); soerr != 0 {
		r.Outcome, r.Detail = OutcomeFailed, "handshake: "+unix.Errno(soerr).Error()
		return r, nil
	}
	r.Handshake = true

	head := []byte(fmt.Sprintf("POST /netdoctor-large-probe HTTP/1.1\r\nHost: %s\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", o.Addr, o.Bytes))
	base := info(fd)
	if n, err := writeAll(ctx, fd, head, o.Wait); err != nil || n < len(head) {
		r.Outcome, r.Detail = OutcomeFailed, fmt.Sprintf("small request: wrote %d of %d bytes: %v", n, len(head), err)
		return r, nil
	}
	if !waitAcked(ctx, fd, base+uint64(len(head)), o.Wait) {
		fill(r, fd, base+uint64(len(head)))
		r.Outcome, r.Detail = OutcomeFailed, fmt.Sprintf("the %d-byte request was never acknowledged (%d retransmissions)", len(head), r.Retransmits)
		return r, nil
	}
	r.SmallOK = true
	body := make([]byte, o.Bytes)
	for i := range body {
		body[i] = byte('a' + i%26)
	}
	base = base + uint64(len(head))
	n, werr := writeAll(ctx, fd, body, o.Wait)
	r.Bytes = n
	ok := waitAcked(ctx, fd, base+uint64(n), o.Wait)
	fill(r, fd, base)
	switch {
	case werr != nil && (werr == unix.ECONNRESET || werr == unix.EPIPE):
		r.Outcome, r.Detail = OutcomeReset, fmt.Sprintf("the peer reset the connection after %d bytes", r.Acked)
	case ok && n == o.Bytes:
		r.Outcome = OutcomeOK
		r.Detail = fmt.Sprintf("%d bytes acknowledged, %d retransmissions, MSS %d", r.Acked, r.Retransmits, r.MSS)
	default:
		r.Outcome = OutcomeStalled
		r.Detail = fmt.Sprintf("handshake and a %d-byte request acknowledged, then only %d of %d bytes within %s; %d retransmissions of %d-byte segments (MSS %d, path MTU %d)",
			len(head), r.Acked, o.Bytes, o.Wait, r.Retransmits, r.MSS, r.MSS, r.PMTU)
	}
	return r, nil
}

func info(fd int) uint64 {
	ti, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
	if err != nil {
		return 0
	}
	return ti.Bytes_acked
}

func fill(r *Result, fd int, base uint64) {
	ti, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
	if err != nil {
		return
	}
	if ti.Bytes_acked > base {
		r.Acked = int(ti.Bytes_acked - base)
	}
	r.Retransmits = int(ti.Total_retrans)
	r.MSS = int(ti.Snd_mss)
	r.PMTU = int(ti.Pmtu)
	r.RTT = time.Duration(ti.Rtt) * time.Microsecond
}

// waitAcked polls TCP_INFO until the peer acknowledged target bytes (counting the SYN's one) or wait ends.
func waitAcked(ctx context.Context, fd int, target uint64, wait time.Duration) bool {
	deadline := time.Now().Add(wait)
	for {
		ti, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
		if err != nil {
			return false
		}
		if ti.Bytes_acked >= target {
			return true
		}
		if ti.State != 1 /* TCP_ESTABLISHED */ && ti.State != 8 /* CLOSE_WAIT */ {
			return false
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func waitWritable(ctx context.Context, fd int, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("no answer within %s", wait)
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		ms := int(min(left, 50*time.Millisecond) / time.Millisecond)
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
		n, err := unix.Poll(pfd, max(ms, 1))
		if err != nil && err != unix.EINTR {
			return err
		}
		if n > 0 {
			return nil
		}
	}
}

func writeAll(ctx context.Context, fd int, b []byte, wait time.Duration) (int, error) {
	deadline := time.Now().Add(wait)
	n := 0
	for n < len(b) {
		k, err := unix.Write(fd, b[n:])
		if k > 0 {
			n += k
		}
		switch {
		case err == unix.EAGAIN:
			if time.Now().After(deadline) || ctx.Err() != nil {
				return n, nil
			}
			pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
			_, _ = unix.Poll(pfd, 20)
		case err != nil:
			return n, err
		}
	}
	return n, nil
}
