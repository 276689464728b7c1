//go:build linux

package icmp

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// reply builds an IPv4 packet (header + ICMP) as a raw socket reads it.
func ipv4Packet(src, dst netip.Addr, proto byte, payload []byte) []byte {
	h := make([]byte, 20, 20+len(payload))
	h[0], h[8], h[9] = 0x45, 63, proto
	binary.BigEndian.PutUint16(h[2:], uint16(20+len(payload)))
	copy(h[12:16], src.AsSlice())
	copy(h[16:20], dst.AsSlice())
	return append(h, payload...)
}

func icmpMsg(typ, code byte, rest uint32, body []byte) []byte {
	m := make([]byte, 8, 8+len(body))
	m[0], m[1] = typ, code
	binary.BigEndian.PutUint32(m[4:], rest)
	return append(m, body...)
}

func TestParseRawIPv4(t *testing.T) {
	me, target, router := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.2.1"), netip.MustParseAddr("10.0.1.1")
	s := &sock{mode: ModeRaw, target: target, id: 0x1234, cookie: []byte("cookie!!")}
	echo := icmpMsg(8, 0, 0x1234<<16|7, []byte("cookie!!rest"))
	reply := icmpMsg(0, 0, 0x1234<<16|7, []byte("cookie!!rest"))
	p, ok := s.parse(packet{from: target}, ipv4Packet(target, me, 1, reply))
	if !ok || !p.reply || p.seq != 7 || p.ttl != 63 || p.bytes != len(reply) {
		t.Errorf("echo reply: %+v ok %v", p, ok)
	}
	if _, ok := s.parse(packet{}, ipv4Packet(target, me, 1, icmpMsg(0, 0, 0x9999<<16|7, []byte("cookie!!")))); ok {
		t.Error("a reply with another identifier was taken")
	}
	if _, ok := s.parse(packet{}, ipv4Packet(target, me, 1, icmpMsg(0, 0, 0x1234<<16|7, []byte("other!!!")))); ok {
		t.Error("a reply with another cookie was taken")
	}
	quoted := ipv4Packet(me, target, 1, echo)[:28]
	p, ok = s.parse(packet{from: router}, ipv4Packet(router, me, 1, icmpMsg(3, 4, 1400, quoted)))
	if !ok || p.reply || p.seq != 7 || p.icmp == nil || p.icmp.Reason != ReasonFragNeeded || p.icmp.MTU != 1400 || p.icmp.From != router {
		t.Errorf("frag needed: %+v ok %v icmp %+v", p, ok, p.icmp)
	}
	p, ok = s.parse(packet{from: router}, ipv4Packet(router, me, 1, icmpMsg(11, 0, 0, quoted)))
	if !ok || p.icmp == nil || p.icmp.Reason != ReasonTimeExceeded {
		t.Errorf("time exceeded: %+v ok %v", p, ok)
	}
	other := ipv4Packet(me, netip.MustParseAddr("10.9.9.9"), 1, echo)[:28]
	if _, ok := s.parse(packet{}, ipv4Packet(router, me, 1, icmpMsg(3, 1, 0, other))); ok {
		t.Error("an error about a packet to another host was taken")
	}
}

func FuzzParse(f *testing.F) {
	me, target := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.2.1")
	echo := icmpMsg(8, 0, 0x1234<<16|7, []byte("cookie!!"))
	f.Add(ipv4Packet(target, me, 1, icmpMsg(0, 0, 0x1234<<16|7, []byte("cookie!!"))), false)
	f.Add(ipv4Packet(target, me, 1, icmpMsg(3, 13, 0, ipv4Packet(me, target, 1, echo))), false)
	f.Add(icmpMsg(1, 4, 0, make([]byte, 48)), true)
	f.Add(icmpMsg(2, 0, 1280, make([]byte, 40)), true)
	f.Add([]byte{0x4f}, false)
	f.Fuzz(func(t *testing.T, b []byte, v6 bool) {
		tgt := target
		if v6 {
			tgt = netip.MustParseAddr("fd00::2")
		}
		for _, mode := range []Mode{ModeRaw, ModeDatagram} {
			s := &sock{mode: mode, v6: v6, target: tgt, id: 0x1234, cookie: []byte("cookie!!")}
			s.parse(packet{}, b)
		}
	})
}

func FuzzParseErrQueue(f *testing.F) {
	f.Add(unix.UnixRights(1))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, oob []byte) {
		parseErrQueue(oob)
		sockaddrAddr(oob)
		parseTimespec(oob)
	})
}

func TestTrimKeepsStatistics(t *testing.T) {
	l := &loop{r: &Result{}, pending: map[int]int{}, last: map[int]int{}, keep: 3}
	var all []Probe
	for seq := 1; seq <= 20; seq++ {
		p := Probe{Seq: seq, Outcome: OutcomeReply, RTT: time.Duration(seq) * time.Millisecond}
		switch {
		case seq%5 == 0:
			p = Probe{Seq: seq, Outcome: OutcomeTimeout}
		case seq%7 == 0:
			p = Probe{Seq: seq, Outcome: OutcomeICMPError, ICMP: &ErrorReply{}}
		}
		if seq == 19 { // still pending when later probes are sent
			p = Probe{Seq: seq}
		}
		l.trim()
		l.r.Probes = append(l.r.Probes, p)
		l.last[seq] = len(l.r.Probes) - 1
		if p.Outcome == "" {
			l.pending[seq] = len(l.r.Probes) - 1
		}
		all = append(all, p)
	}
	if len(l.r.Probes) >= 2*l.keep+1 || l.r.Omitted+len(l.r.Probes) != 20 || l.r.Probes[l.pending[19]].Seq != 19 ||
		l.r.Probes[l.last[20]].Seq != 20 {
		t.Fatalf("listed %d, omitted %d, pending %v, last %v", len(l.r.Probes), l.r.Omitted, l.pending, l.last)
	}
	l.r.finish(time.Now(), l.old)
	want := &Result{Probes: all}
	want.finish(time.Now(), tally{})
	if l.r.Stats != want.Stats || l.r.Errors != want.Errors {
		t.Errorf("stats after trimming %+v errors %d, want %+v errors %d", l.r.Stats, l.r.Errors, want.Stats, want.Errors)
	}
}
