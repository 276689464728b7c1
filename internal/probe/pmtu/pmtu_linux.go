//go:build linux

package pmtu

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/netdoctor/netdoctor/internal/netns"
)

// answer is an ICMP message that concerns one of our probes.
type answer struct {
	size     int // IP total length of the probe it answers
	seq      uint16
	from     netip.Addr
	icmpType int
	code     int
	mtu      int
	at       time.Time
}

type prober struct {
	o       Options
	ns      *netns.NS
	id      uint16
	icmp    *net.IPConn
	udp     *net.UDPConn
	srcPort uint16
	tcp     *tcpState
	answers chan answer
	seq     uint16
	// late lists the sizes of earlier probes whose answer came after their wait.
	late []int
	// destReplies are the times the destination answered a UDP probe (its port-unreachable messages
	// are rate-limited, so UDP probes are paced).
	destReplies []time.Time
}

func discover(ctx context.Context, ns *netns.NS, o Options) (*Result, error) {
	start := time.Now()
	res := &Result{Target: o.Target, Proto: o.Proto}
	if o.Proto != ProtoICMP {
		res.Port = o.Port
	}
	var err error
	if res.LocalMTU, res.Interface, err = localMTU(ns, o.Target); err != nil {
		return nil, err
	}
	p := &prober{o: o, ns: ns, answers: make(chan answer, 64)}
	var b [2]byte
	_, _ = rand.Read(b[:])
	p.id = binary.BigEndian.Uint16(b[:])
	if err := p.open(); err != nil {
		return nil, err
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); p.receive(done) }()
	if p.tcp != nil {
		wg.Add(1)
		go func() { defer wg.Done(); p.receiveTCP(done) }()
	}
	defer func() {
		close(done)
		p.closeAll()
		wg.Wait()
	}()

	limit := o.Max
	if limit == 0 {
		limit = res.LocalMTU
	}
	s := &search{max: limit, budget: o.MaxProbes}
	var slowest time.Duration
	for size := s.next(); size > 0; size = s.next() {
		if ctx.Err() != nil {
			res.Stopped = context.Cause(ctx).Error()
			break
		}
		wait := o.Wait
		if slowest > 0 {
			wait = min(o.Wait, max2(o.MinWait, 5*slowest))
		}
		pr, err := p.probe(ctx, size, wait)
		if err != nil {
			return nil, err
		}
		if pr.Outcome == OutcomeOK || pr.Outcome == OutcomeFragNeeded {
			slowest = max2(slowest, time.Duration(pr.RTTMs*float64(time.Millisecond)))
		}
		if pr.Outcome == OutcomeLost && ctx.Err() != nil {
			res.Stopped = context.Cause(ctx).Error()
			break // not a real loss: we stopped waiting
		}
		s.probes = append(s.probes, pr)
		s.lateAnswers(p.late)
		p.late = p.late[:0]
	}
	s.result(res)
	res.DurationMs = math.Round(float64(time.Since(start))/float64(time.Microsecond)) / 1000
	return res, nil
}

func max2(a, b time.Duration) time.Duration {
	if a > b {
		return a
	}
	return b
}

// localMTU reads the MTU of the route to target from the FIB (RTM_F_FIB_MATCH), so an MTU the
// kernel learned from an earlier frag-needed (a PMTU cache entry) is not mistaken for it.
func localMTU(ns *netns.NS, target netip.Addr) (int, string, error) {
	h, err := ns.Netlink()
	if err != nil {
		return 0, "", fmt.Errorf("probe/pmtu: %w", err)
	}
	defer h.Close()
	routes, err := h.RouteGetWithOptions(target.AsSlice(), &netlink.RouteGetOptions{FIBMatch: true})
	if err != nil || len(routes) == 0 {
		if routes, err = h.RouteGet(target.AsSlice()); err != nil || len(routes) == 0 {
			return 0, "", fmt.Errorf("probe/pmtu: no route to %s in %s: %w", target, ns, err)
		}
	}
	rt := routes[0]
	if rt.LinkIndex == 0 {
		if byDst, err := h.RouteGet(target.AsSlice()); err == nil && len(byDst) > 0 {
			rt.LinkIndex = byDst[0].LinkIndex
		}
	}
	link, err := h.LinkByIndex(rt.LinkIndex)
	if err != nil {
		return 0, "", fmt.Errorf("probe/pmtu: route to %s: device %d: %w", target, rt.LinkIndex, err)
	}
	mtu := link.Attrs().MTU
	if rt.MTU > 0 && rt.MTU < mtu {
		mtu = rt.MTU
	}
	return mtu, link.Attrs().Name, nil
}

// open creates, inside the namespace, the raw ICMP socket that sends echo probes and sees every
// answer, and the UDP socket for UDP probes; both send with DF set and ignore the PMTU cache.
func (p *prober) open() error {
	err := p.ns.Do(func() error {
		c, err := net.ListenPacket("ip4:icmp", "0.0.0.0")
		if err != nil {
			return err
		}
		p.icmp = c.(*net.IPConn)
		if p.o.Proto == ProtoUDP {
			u, err := net.ListenPacket("udp4", "0.0.0.0:0")
			if err != nil {
				c.Close()
				return err
			}
			p.udp = u.(*net.UDPConn)
			p.srcPort = uint16(p.udp.LocalAddr().(*net.UDPAddr).Port)
		}
		if p.o.Proto == ProtoTCP {
			if err := p.openTCP(); err != nil {
				c.Close()
				return err
			}
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
			return ErrPermission
		}
		return fmt.Errorf("probe/pmtu: open sockets in %s: %w", p.ns, err)
	}
	conns := []syscall.Conn{p.icmp}
	if p.udp != nil {
		conns = append(conns, p.udp)
	}
	if p.tcp != nil {
		conns = append(conns, p.tcp.conn)
	}
	for _, c := range conns {
		if err := setProbeMode(c); err != nil {
			p.closeAll()
			return err
		}
	}
	return nil
}

// closeAll closes every socket the prober opened.
func (p *prober) closeAll() {
	p.icmp.Close()
	if p.udp != nil {
		p.udp.Close()
	}
	if p.tcp != nil {
		p.tcp.conn.Close()
	}
}

func setProbeMode(c syscall.Conn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return fmt.Errorf("probe/pmtu: %w", err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_PROBE)
	}); err != nil {
		return fmt.Errorf("probe/pmtu: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("probe/pmtu: set IP_PMTUDISC_PROBE: %w", serr)
	}
	return nil
}

// probe sends one packet of size bytes and waits up to wait for what becomes of it.
func (p *prober) probe(ctx context.Context, size int, wait time.Duration) (Probe, error) {
	pr := Probe{Size: size}
	if err := p.paceUDP(ctx); err != nil {
		pr.Outcome = OutcomeLost
		return pr, nil
	}
	p.seq++
	seq := p.seq
	dst := p.o.Target.AsSlice()
	var err error
	sent := time.Now()
	switch p.o.Proto {
	case ProtoICMP:
		msg := make([]byte, size-20)
		msg[0] = 8 // echo request
		binary.BigEndian.PutUint16(msg[4:], p.id)
		binary.BigEndian.PutUint16(msg[6:], seq)
		binary.BigEndian.PutUint16(msg[2:], checksum(msg))
		_, err = p.icmp.WriteTo(msg, &net.IPAddr{IP: dst})
	case ProtoUDP:
		_, err = p.udp.WriteToUDP(make([]byte, size-28), &net.UDPAddr{IP: dst, Port: p.o.Port})
	case ProtoTCP:
		err = p.sendTCP(size)
	}
	if err != nil {
		if errors.Is(err, syscall.EMSGSIZE) {
			pr.Outcome = OutcomeTooBig
			return pr, nil
		}
		if errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) {
			pr.Outcome, pr.Detail = OutcomeUnreachable, "no route"
			return pr, nil
		}
		if !errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, syscall.ENOBUFS) {
			return pr, fmt.Errorf("probe/pmtu: send %d bytes: %w", size, err)
		}
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			pr.Outcome = OutcomeLost
			return pr, nil
		case <-timer.C:
			pr.Outcome = OutcomeLost
			return pr, nil
		case a := <-p.answers:
			if a.size != size || (p.o.Proto == ProtoICMP && a.seq != seq) {
				// A late answer to an earlier probe: keep it so that probe is not counted as lost.
				if a.icmpType == 0 || a.icmpType == tcpAnswer || (a.icmpType == 3 && a.code == 3 && a.from == p.o.Target) {
					p.late = append(p.late, a.size)
				}
				continue
			}
			pr.From = a.from
			pr.RTTMs = math.Round(float64(a.at.Sub(sent))/float64(time.Microsecond)) / 1000
			switch {
			case a.icmpType == tcpAnswer:
				pr.Outcome = OutcomeOK
			case a.icmpType == 3 && a.code == 4:
				pr.Outcome, pr.MTU = OutcomeFragNeeded, a.mtu
			case a.icmpType == 0, a.icmpType == 3 && a.code == 3 && p.o.Proto == ProtoUDP && a.from == p.o.Target:
				pr.Outcome = OutcomeOK
				if p.o.Proto == ProtoUDP {
					p.destReplies = append(p.destReplies, a.at)
				}
			case a.icmpType == 3:
				pr.Outcome, pr.Detail = OutcomeUnreachable, unreachName(a.code)
			default:
				continue
			}
			return pr, nil
		}
	}
}

// paceUDP waits until the destination may answer one more port-unreachable: Linux allows a burst
// of 6 per source, then one per second (net.ipv4.icmp_ratelimit).
func (p *prober) paceUDP(ctx context.Context) error {
	if p.o.Proto != ProtoUDP || len(p.destReplies) == 0 {
		return nil
	}
	const capacity, cost, margin = 6 * time.Second, time.Second, 25 * time.Millisecond
	credit := capacity
	for i, t := range p.destReplies {
		if i > 0 {
			credit = min(capacity, credit+t.Sub(p.destReplies[i-1]))
		}
		credit -= cost
	}
	ready := p.destReplies[len(p.destReplies)-1].Add(cost + margin - credit)
	d := time.Until(ready)
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

// receive parses every ICMP message and passes on those about our probes, until done.
func (p *prober) receive(done chan struct{}) {
	buf := make([]byte, 65536)
	for {
		n, from, err := p.icmp.ReadFrom(buf)
		if err != nil {
			select {
			case <-done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		at := time.Now()
		src, ok := netip.AddrFromSlice(from.(*net.IPAddr).IP)
		if !ok {
			continue
		}
		if a, ok := p.match(buf[:n], src.Unmap()); ok {
			a.at = at
			select {
			case p.answers <- a:
			case <-done:
				return
			}
		}
	}
}

// match decodes an ICMP message (IP header already stripped) and reports whether it answers one of
// our probes.
func (p *prober) match(b []byte, from netip.Addr) (answer, bool) {
	if len(b) < 8 {
		return answer{}, false
	}
	a := answer{from: from, icmpType: int(b[0]), code: int(b[1])}
	switch a.icmpType {
	case 0: // echo reply: its size mirrors the request
		if p.o.Proto != ProtoICMP || from != p.o.Target || binary.BigEndian.Uint16(b[4:6]) != p.id {
			return answer{}, false
		}
		a.seq = binary.BigEndian.Uint16(b[6:8])
		a.size = len(b) + 20
		return a, true
	case 3, 11:
		a.mtu = int(binary.BigEndian.Uint16(b[6:8]))
		q := b[8:]
		if len(q) < 28 || q[0]>>4 != 4 {
			return answer{}, false
		}
		ihl := int(q[0]&0x0f) * 4
		if len(q) < ihl+8 || netip.AddrFrom4([4]byte(q[16:20])) != p.o.Target {
			return answer{}, false
		}
		a.size = int(binary.BigEndian.Uint16(q[2:4]))
		l4 := q[ihl:]
		switch {
		case q[9] == 1 && p.o.Proto == ProtoICMP && l4[0] == 8 && binary.BigEndian.Uint16(l4[4:6]) == p.id:
			a.seq = binary.BigEndian.Uint16(l4[6:8])
		case q[9] == 17 && p.o.Proto == ProtoUDP && binary.BigEndian.Uint16(l4[0:2]) == p.srcPort &&
			int(binary.BigEndian.Uint16(l4[2:4])) == p.o.Port:
		case q[9] == 6 && p.o.Proto == ProtoTCP && int(binary.BigEndian.Uint16(l4[2:4])) == p.o.Port:
			if _, ok := p.tcpSize(binary.BigEndian.Uint16(l4[0:2])); !ok {
				return answer{}, false
			}
		default:
			return answer{}, false
		}
		return a, true
	}
	return answer{}, false
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

// unreachName names an ICMP destination-unreachable code.
func unreachName(code int) string {
	switch code {
	case 0:
		return "network-unreachable"
	case 1:
		return "host-unreachable"
	case 2:
		return "protocol-unreachable"
	case 3:
		return "port-unreachable"
	case 9, 10, 13:
		return "administratively-prohibited"
	}
	return fmt.Sprintf("unreachable code %d", code)
}
