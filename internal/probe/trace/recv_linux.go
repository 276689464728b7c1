//go:build linux

package trace

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// receive matches every ICMP message to the probe it answers until the socket is closed.
func (t *tracer) receive() {
	buf, oob := make([]byte, 1500), make([]byte, 128)
	for {
		n, oobn, _, from, err := t.icmp.ReadMsgIP(buf, oob)
		if err != nil {
			select {
			case <-t.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		now := time.Since(t.start)
		rx := kernelStamp(oob[:oobn])
		ip, ok := netip.AddrFromSlice(from.IP)
		if !ok {
			continue
		}
		// ReadMsgIP, unlike ReadFrom, leaves the IPv4 header on.
		msg := buf[:n]
		if len(msg) < 20 || msg[0]>>4 != 4 || len(msg) < int(msg[0]&0x0f)*4 {
			continue
		}
		msg = msg[int(msg[0]&0x0f)*4:]
		r, ok := parseICMP(msg, ip.Unmap(), t.o.Target)
		if !ok || r.proto != t.o.Proto {
			continue
		}
		switch t.o.Proto {
		case ProtoICMP:
			ok = r.id == t.id
		case ProtoUDP:
			ok = r.id == t.srcPort
		case ProtoTCP:
			ok = int(r.id) == t.o.Port
		}
		if ok {
			t.answer(r, now, rx)
		}
	}
}

// answer records reply r, read at now (since the start) and stamped rx by the kernel (zero if not),
// for the probe it matches.
func (t *tracer) answer(r reply, now time.Duration, rx time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.byKey[r.key]
	if p == nil || p.replied {
		return
	}
	p.replied, p.from, p.rtt = true, r.from, now-p.sentAt
	// The kernel's receive stamp leaves out how long this goroutine took to be scheduled.
	if !rx.IsZero() {
		if k := rx.Sub(p.sentWall); k > 0 && k < p.rtt {
			p.rtt = k
		}
	}
	switch {
	case r.icmpType == icmpEchoReply:
		p.final = true
	case r.icmpType == icmpDestUnreach && r.from == t.o.Target:
		p.final = true
		if !(t.o.Proto == ProtoUDP && r.code == codePortUnreach) {
			p.unreach = unreachName(r.code)
		}
	case r.icmpType == icmpDestUnreach:
		p.unreach = unreachName(r.code)
	}
	select {
	case t.notify <- struct{}{}:
	default:
	}
}

// kernelStamp returns the SCM_TIMESTAMPNS receive time in oob, or the zero time.
func kernelStamp(oob []byte) time.Time {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return time.Time{}
	}
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_TIMESTAMPNS && len(m.Data) >= 16 {
			sec := int64(binary.NativeEndian.Uint64(m.Data[0:8]))
			nsec := int64(binary.NativeEndian.Uint64(m.Data[8:16]))
			return time.Unix(sec, nsec)
		}
	}
	return time.Time{}
}

func checksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}
