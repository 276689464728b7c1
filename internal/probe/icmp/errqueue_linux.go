//go:build linux

package icmp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// QueuedError is one entry of a socket's error queue, which the kernel fills when IP_RECVERR (or
// IPV6_RECVERR) is set: an ICMP error about a packet the socket sent, or a local error.
type QueuedError struct {
	// Errno is the error the kernel maps the entry to (EHOSTUNREACH, ECONNREFUSED, EMSGSIZE...).
	Errno syscall.Errno
	// Origin is where it came from: unix.SO_EE_ORIGIN_LOCAL, _ICMP or _ICMP6.
	Origin int
	// ICMP is the ICMP message, with its sender, when Origin is ICMP or ICMP6; nil otherwise.
	ICMP *ErrorReply
	// Info is ee_info: the MTU for EMSGSIZE and frag-needed.
	Info int
	// Payload is the start of the packet the error is about, as this socket sent it (for an ICMP
	// socket the echo request, for TCP empty).
	Payload []byte
	// Time is the kernel's receive timestamp when SO_TIMESTAMPNS is on; zero otherwise.
	Time time.Time
}

// ReadErrQueue reads one entry from fd's error queue without blocking. It returns (nil, nil) when the
// queue is empty.
func ReadErrQueue(fd int) (*QueuedError, error) {
	buf := make([]byte, 512)
	oob := make([]byte, 512)
	for {
		n, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if errors.Is(err, unix.EAGAIN) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("probe/icmp: read error queue: %w", err)
		}
		q, ok := parseErrQueue(oob[:oobn])
		if !ok {
			return nil, nil
		}
		q.Payload = buf[:n]
		return q, nil
	}
}

const sizeofExtendedErr = int(unsafe.Sizeof(unix.SockExtendedErr{}))

// parseErrQueue decodes the control messages of an MSG_ERRQUEUE read.
func parseErrQueue(oob []byte) (*QueuedError, bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, false
	}
	var q *QueuedError
	var ts time.Time
	for _, m := range msgs {
		switch {
		case m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SO_TIMESTAMPNS:
			ts = parseTimespec(m.Data)
		case (m.Header.Level == unix.SOL_IP && m.Header.Type == unix.IP_RECVERR) ||
			(m.Header.Level == unix.SOL_IPV6 && m.Header.Type == unix.IPV6_RECVERR):
			if len(m.Data) < sizeofExtendedErr {
				continue
			}
			ee := (*unix.SockExtendedErr)(unsafe.Pointer(&m.Data[0]))
			q = &QueuedError{Errno: syscall.Errno(ee.Errno), Origin: int(ee.Origin), Info: int(ee.Info)}
			if ee.Origin == unix.SO_EE_ORIGIN_ICMP || ee.Origin == unix.SO_EE_ORIGIN_ICMP6 {
				v6 := ee.Origin == unix.SO_EE_ORIGIN_ICMP6
				r := &ErrorReply{IPv6: v6, Type: int(ee.Type), Code: int(ee.Code), From: sockaddrAddr(m.Data[sizeofExtendedErr:])}
				if v6 {
					r.Reason, _ = ClassifyV6(r.Type, r.Code)
				} else {
					r.Reason, _ = ClassifyV4(r.Type, r.Code)
				}
				if r.Reason == ReasonFragNeeded {
					r.MTU = int(ee.Info)
				}
				q.ICMP = r
			}
		}
	}
	if q == nil {
		return nil, false
	}
	q.Time = ts
	return q, true
}

// sockaddrAddr decodes the address of a raw struct sockaddr_in / sockaddr_in6 (the "offender").
func sockaddrAddr(b []byte) netip.Addr {
	if len(b) < 2 {
		return netip.Addr{}
	}
	switch binary.NativeEndian.Uint16(b) {
	case unix.AF_INET:
		if len(b) >= 8 {
			return netip.AddrFrom4([4]byte(b[4:8]))
		}
	case unix.AF_INET6:
		if len(b) >= 24 {
			return netip.AddrFrom16([16]byte(b[8:24])).Unmap()
		}
	}
	return netip.Addr{}
}

func parseTimespec(b []byte) time.Time {
	if len(b) < 16 {
		return time.Time{}
	}
	sec := int64(binary.NativeEndian.Uint64(b[0:8]))
	nsec := int64(binary.NativeEndian.Uint64(b[8:16]))
	return time.Unix(sec, nsec)
}
