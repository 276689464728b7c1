//go:build linux

package icmp

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	xicmp "golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"

	"github.com/netdoctor/netdoctor/internal/netns"
)

// sock is an open ICMP socket in the vantage namespace.
type sock struct {
	fd     int
	mtuFD  int // a UDP socket connected to the target, to read the route MTU; -1 unless DF
	v6     bool
	mode   Mode
	target netip.Addr
	id     int    // echo identifier (raw: ours; datagram: the kernel's, known after the first send)
	cookie []byte // start of every payload, to tell our replies from another pinger's
	rbuf   []byte
	oob    []byte
}

// openSocket opens the ICMP socket inside ns: datagram first unless DF or o.Mode asks for raw.
func openSocket(ns *netns.NS, target netip.Addr, o Options) (*sock, error) {
	s := &sock{fd: -1, mtuFD: -1, v6: target.Is6(), target: target,
		rbuf: make([]byte, 1<<17), oob: make([]byte, 512)}
	err := ns.Do(func() error {
		var dgramErr error
		if !o.DF && o.Mode != ModeRaw {
			if dgramErr = s.open(ModeDatagram, o); dgramErr == nil {
				return nil
			}
			if o.Mode == ModeDatagram || !permissionErr(dgramErr) {
				return dgramErr
			}
		}
		if err := s.open(ModeRaw, o); err != nil {
			if permissionErr(err) {
				why := "needs CAP_NET_RAW (or net.ipv4.ping_group_range covering your group)"
				if o.DF {
					why = "needs CAP_NET_RAW for don't-fragment"
				}
				return fmt.Errorf("probe/icmp: open raw socket: %s: %w", why, ErrPermission)
			}
			return err
		}
		if o.DF {
			return s.openMTUSocket()
		}
		return nil
	})
	if err != nil {
		s.close()
		return nil, err
	}
	if s.mode == ModeRaw {
		var b [2]byte
		_, _ = rand.Read(b[:])
		s.id = int(binary.BigEndian.Uint16(b[:]))
	}
	s.cookie = make([]byte, 8)
	_, _ = rand.Read(s.cookie)
	return s, nil
}

func permissionErr(err error) bool {
	return errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPROTONOSUPPORT)
}

func (s *sock) open(mode Mode, o Options) error {
	df := o.DF
	family, proto := unix.AF_INET, unix.IPPROTO_ICMP
	if s.v6 {
		family, proto = unix.AF_INET6, unix.IPPROTO_ICMPV6
	}
	typ := unix.SOCK_RAW
	if mode == ModeDatagram {
		typ = unix.SOCK_DGRAM
	}
	fd, err := unix.Socket(family, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return fmt.Errorf("probe/icmp: open %s socket: %w", mode, err)
	}
	s.fd, s.mode = fd, mode
	opts := []struct{ level, name, value int }{
		{unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1},
		{unix.SOL_SOCKET, unix.SO_RCVBUF, 1 << 20},
	}
	pmtu := unix.IP_PMTUDISC_DONT
	if df {
		pmtu = unix.IP_PMTUDISC_DO
	}
	if s.v6 {
		pmtu6 := unix.IPV6_PMTUDISC_DONT
		if df {
			pmtu6 = unix.IPV6_PMTUDISC_DO
		}
		opts = append(opts, struct{ level, name, value int }{unix.SOL_IPV6, unix.IPV6_RECVHOPLIMIT, 1},
			struct{ level, name, value int }{unix.SOL_IPV6, unix.IPV6_MTU_DISCOVER, pmtu6})
		if mode == ModeDatagram {
			opts = append(opts, struct{ level, name, value int }{unix.SOL_IPV6, unix.IPV6_RECVERR, 1})
		}
	} else {
		opts = append(opts, struct{ level, name, value int }{unix.SOL_IP, unix.IP_MTU_DISCOVER, pmtu})
		if mode == ModeDatagram {
			opts = append(opts, struct{ level, name, value int }{unix.SOL_IP, unix.IP_RECVTTL, 1},
				struct{ level, name, value int }{unix.SOL_IP, unix.IP_RECVERR, 1})
		}
	}
	if o.TTL > 0 {
		if s.v6 {
			opts = append(opts, struct{ level, name, value int }{unix.SOL_IPV6, unix.IPV6_UNICAST_HOPS, o.TTL})
		} else {
			opts = append(opts, struct{ level, name, value int }{unix.SOL_IP, unix.IP_TTL, o.TTL})
		}
	}
	for _, o := range opts {
		if err := unix.SetsockoptInt(fd, o.level, o.name, o.value); err != nil && o.name != unix.SO_RCVBUF {
			unix.Close(fd)
			s.fd = -1
			return fmt.Errorf("probe/icmp: setsockopt %d/%d on %s socket: %w", o.level, o.name, mode, err)
		}
	}
	if !s.v6 && mode == ModeRaw {
		// Wake only for what can concern an echo request: reply, unreachable, time exceeded,
		// parameter problem (the kernel drops the other types before they reach the socket).
		var pass uint32 = 1<<0 | 1<<3 | 1<<11 | 1<<12
		if err := unix.SetsockoptInt(fd, unix.SOL_RAW, unix.ICMP_FILTER, int(int32(^pass))); err != nil {
			unix.Close(fd)
			s.fd = -1
			return fmt.Errorf("probe/icmp: ICMP_FILTER: %w", err)
		}
	}
	if s.v6 && mode == ModeRaw {
		// Only what can concern an echo request: replies and the four error types.
		var f unix.ICMPv6Filter
		for i := range f.Data {
			f.Data[i] = 0xffffffff
		}
		for _, t := range []int{1, 2, 3, 4, 129} {
			f.Data[t>>5] &^= 1 << (uint(t) & 31)
		}
		_ = unix.SetsockoptICMPv6Filter(fd, unix.SOL_ICMPV6, unix.ICMPV6_FILTER, &f)
	}
	return nil
}

// openMTUSocket opens a UDP socket used only to ask the kernel for the route MTU to the target.
func (s *sock) openMTUSocket() error {
	family := unix.AF_INET
	if s.v6 {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("probe/icmp: open MTU socket: %w", err)
	}
	s.mtuFD = fd
	return nil
}

// routeMTU is the MTU the kernel currently uses towards the target (path MTU cache included), 0 if
// unknown.
func (s *sock) routeMTU() int {
	if s.mtuFD < 0 {
		return 0
	}
	// Reconnecting redoes the route look-up, so a PMTU learnt since is seen.
	if err := unix.Connect(s.mtuFD, sockaddr(s.target, 9)); err != nil {
		return 0
	}
	level, opt := unix.SOL_IP, unix.IP_MTU
	if s.v6 {
		level, opt = unix.SOL_IPV6, unix.IPV6_MTU
	}
	mtu, err := unix.GetsockoptInt(s.mtuFD, level, opt)
	if err != nil {
		return 0
	}
	return mtu
}

func (s *sock) close() {
	if s.fd >= 0 {
		unix.Close(s.fd)
		s.fd = -1
	}
	if s.mtuFD >= 0 {
		unix.Close(s.mtuFD)
		s.mtuFD = -1
	}
}

func sockaddr(a netip.Addr, port int) unix.Sockaddr {
	if a.Is4() {
		return &unix.SockaddrInet4{Addr: a.As4(), Port: port}
	}
	return &unix.SockaddrInet6{Addr: a.As16(), Port: port}
}

// send sends echo request seq with size payload bytes and returns the time just before sendto(2).
func (s *sock) send(seq, size int) (time.Time, error) {
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i)
	}
	copy(data, s.cookie)
	var typ xicmp.Type = ipv4.ICMPTypeEcho
	if s.v6 {
		typ = ipv6.ICMPTypeEchoRequest
	}
	m := xicmp.Message{Type: typ, Body: &xicmp.Echo{ID: s.id & 0xffff, Seq: seq & 0xffff, Data: data}}
	b, err := m.Marshal(nil) // computes the IPv4 checksum; the kernel does it for IPv6 and datagram sockets
	if err != nil {
		return time.Now(), fmt.Errorf("probe/icmp: marshal: %w", err)
	}
	sa := sockaddr(s.target, 0)
	at := time.Now()
	for {
		err = unix.Sendto(s.fd, b, 0, sa)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err == nil && s.mode == ModeDatagram && s.id == 0 {
		if sa, gerr := unix.Getsockname(s.fd); gerr == nil {
			switch sa := sa.(type) {
			case *unix.SockaddrInet4:
				s.id = sa.Port
			case *unix.SockaddrInet6:
				s.id = sa.Port
			}
		}
	}
	return at, err
}

// packet is something the socket received that concerns one of our probes.
type packet struct {
	seq   int // wire sequence number (16 bits)
	reply bool
	from  netip.Addr
	ttl   int
	bytes int
	icmp  *ErrorReply
	at    time.Time
}

// recv reads one packet without blocking. ok is false when the packet was not ours; err is EAGAIN
// when nothing is queued.
func (s *sock) recv() (p packet, ok bool, err error) {
	n, oobn, _, from, err := unix.Recvmsg(s.fd, s.rbuf, s.oob, unix.MSG_DONTWAIT)
	if err != nil {
		return p, false, err
	}
	b := s.rbuf[:n]
	p.at = time.Now()
	p.ttl = -1
	if msgs, err := unix.ParseSocketControlMessage(s.oob[:oobn]); err == nil {
		for _, m := range msgs {
			switch {
			case m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SO_TIMESTAMPNS:
				if ts := parseTimespec(m.Data); !ts.IsZero() {
					p.at = ts
				}
			case m.Header.Level == unix.SOL_IP && m.Header.Type == unix.IP_TTL,
				m.Header.Level == unix.SOL_IPV6 && m.Header.Type == unix.IPV6_HOPLIMIT:
				if len(m.Data) >= 4 {
					p.ttl = int(binary.NativeEndian.Uint32(m.Data))
				}
			}
		}
	}
	switch sa := from.(type) {
	case *unix.SockaddrInet4:
		p.from = netip.AddrFrom4(sa.Addr)
	case *unix.SockaddrInet6:
		p.from = netip.AddrFrom16(sa.Addr).Unmap()
	}
	p, ok = s.parse(p, b)
	return p, ok, nil
}

// parse decodes a received ICMP message (with its IPv4 header on a raw IPv4 socket) into p; ok is
// false when it is not about one of this socket's probes. It never panics, whatever b holds.
func (s *sock) parse(p packet, b []byte) (packet, bool) {
	if s.mode == ModeRaw && !s.v6 {
		// A raw IPv4 socket sees the IP header.
		if len(b) < 20 {
			return p, false
		}
		ihl := int(b[0]&0x0f) * 4
		if ihl < 20 || len(b) < ihl {
			return p, false
		}
		p.ttl = int(b[8])
		b = b[ihl:]
	}
	if len(b) < 8 {
		return p, false
	}
	typ, code := int(b[0]), int(b[1])
	replyType := 0
	if s.v6 {
		replyType = 129
	}
	if typ == replyType {
		if s.mode == ModeRaw && int(binary.BigEndian.Uint16(b[4:6])) != s.id {
			return p, false
		}
		if len(b) >= 16 && len(s.cookie) > 0 && !bytes.Equal(b[8:16], s.cookie) {
			return p, false
		}
		p.reply, p.seq, p.bytes = true, int(binary.BigEndian.Uint16(b[6:8])), len(b)
		return p, true
	}
	if s.mode != ModeRaw {
		return p, false
	}
	return s.parseError(p, typ, code, b)
}

// parseError matches an ICMP error received on a raw socket to the echo request it quotes.
func (s *sock) parseError(p packet, typ, code int, b []byte) (packet, bool) {
	var reason Reason
	var isErr bool
	if s.v6 {
		reason, isErr = ClassifyV6(typ, code)
	} else {
		reason, isErr = ClassifyV4(typ, code)
	}
	if !isErr {
		return p, false
	}
	e := &ErrorReply{IPv6: s.v6, Type: typ, Code: code, Reason: reason, From: p.from}
	if reason == ReasonFragNeeded {
		if s.v6 {
			e.MTU = int(binary.BigEndian.Uint32(b[4:8]))
		} else {
			e.MTU = int(binary.BigEndian.Uint16(b[6:8]))
		}
	}
	inner := b[8:]
	var echo []byte
	if s.v6 {
		if len(inner) < 48 || inner[6] != unix.IPPROTO_ICMPV6 || netip.AddrFrom16([16]byte(inner[24:40])) != s.target {
			return p, false
		}
		echo = inner[40:]
		if echo[0] != 128 {
			return p, false
		}
	} else {
		if len(inner) < 20 {
			return p, false
		}
		ihl := int(inner[0]&0x0f) * 4
		if ihl < 20 || len(inner) < ihl+8 || inner[9] != unix.IPPROTO_ICMP || netip.AddrFrom4([4]byte(inner[16:20])) != s.target {
			return p, false
		}
		echo = inner[ihl:]
		if echo[0] != 8 {
			return p, false
		}
	}
	if int(binary.BigEndian.Uint16(echo[4:6])) != s.id {
		return p, false
	}
	p.seq, p.icmp = int(binary.BigEndian.Uint16(echo[6:8])), e
	return p, true
}

// recvErrQueue reads one error-queue entry of a datagram socket and matches it to a probe.
func (s *sock) recvErrQueue() (p packet, ok bool, more bool, err error) {
	q, err := ReadErrQueue(s.fd)
	if err != nil || q == nil {
		return p, false, false, err
	}
	p.at = q.Time
	if p.at.IsZero() {
		p.at = time.Now()
	}
	if q.ICMP == nil || len(q.Payload) < 8 {
		return p, false, true, nil
	}
	p.seq, p.icmp, p.from = int(binary.BigEndian.Uint16(q.Payload[6:8])), q.ICMP, q.ICMP.From
	return p, true, true, nil
}
