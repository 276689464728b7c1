package analyze

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// maxICMPErrors bounds the ICMP errors kept in a Result.
const maxICMPErrors = 10000

func icmp4Kind(typ, code uint8) string {
	switch typ {
	case 3:
		switch code {
		case 0:
			return "net-unreachable"
		case 1:
			return "host-unreachable"
		case 3:
			return "port-unreachable"
		case 4:
			return "frag-needed"
		case 9, 10, 13:
			return "admin-prohibited"
		}
		return "unreachable"
	case 11:
		return "time-exceeded"
	case 12:
		return "param-problem"
	}
	return ""
}

func icmp6Kind(typ, code uint8) string {
	switch typ {
	case 1:
		switch code {
		case 0:
			return "net-unreachable"
		case 1:
			return "admin-prohibited"
		case 3:
			return "host-unreachable"
		case 4:
			return "port-unreachable"
		}
		return "unreachable"
	case 2:
		return "packet-too-big"
	case 3:
		return "time-exceeded"
	case 4:
		return "param-problem"
	}
	return ""
}

func (a *Analyzer) addICMP4(p *pkt) {
	l := p.icmp4
	typ, code := l.TypeCode.Type(), l.TypeCode.Code()
	kind := icmp4Kind(typ, code)
	if kind == "" {
		return
	}
	e := ICMPError{Time: p.ts, Packet: p.idx, From: p.src, To: p.dst, Type: typ, Code: code, Kind: kind}
	if kind == "frag-needed" {
		e.MTU = int(l.Seq)
	}
	a.addICMPError(p, e, l.Payload)
}

func (a *Analyzer) addICMP6(p *pkt) {
	l := p.icmp6
	typ, code := l.TypeCode.Type(), l.TypeCode.Code()
	kind := icmp6Kind(typ, code)
	if kind == "" || len(l.Payload) < 4 {
		return
	}
	e := ICMPError{Time: p.ts, Packet: p.idx, From: p.src, To: p.dst, Type: typ, Code: code, Kind: kind}
	if kind == "packet-too-big" {
		e.MTU = int(binary.BigEndian.Uint32(l.Payload[:4]))
	}
	a.addICMPError(p, e, l.Payload[4:])
}

func (a *Analyzer) addICMPError(p *pkt, e ICMPError, quoted []byte) {
	if p.tunnel != nil {
		e.Tunnel = p.tunnel.String()
	}
	q, ok := parseQuoted(quoted)
	if ok {
		e.QuotedProto, e.QuotedSrc, e.QuotedDst, e.QuotedLen = q.proto, q.src, q.dst, q.length
		e.Quoted = fmt.Sprintf("%s %s → %s", q.proto, q.src, q.dst)
		if q.proto == "tcp" {
			k := connKey{lo: q.src, hi: q.dst, vni: tunnelVNI(p.tunnel)}
			if q.src.Compare(q.dst) > 0 {
				k.lo, k.hi = q.dst, q.src
			}
			if cs := a.conns[k]; cs != nil {
				if cs.c.ICMPError == nil {
					ce := e
					cs.c.ICMPError = &ce
				}
				if e.MTU > 0 {
					cs.fragNeeded = append(cs.fragNeeded, e.MTU)
					if q.haveSeq {
						cs.dropped(q.src, q.seq)
					}
				}
			}
		}
	}
	if len(a.res.ICMPErrors) < maxICMPErrors {
		a.res.ICMPErrors = append(a.res.ICMPErrors, e)
	}
}

type quotedPkt struct {
	proto    string
	src, dst netip.AddrPort
	length   int
	seq      uint32 // TCP sequence number of the quoted segment
	haveSeq  bool
}

// parseQuoted reads the IP header (and ports) of the packet an ICMP error quotes. The quote is
// usually cut short, so it is parsed by hand rather than by a decoder that checks lengths.
func parseQuoted(b []byte) (quotedPkt, bool) {
	var q quotedPkt
	if len(b) < 1 {
		return q, false
	}
	var proto uint8
	var src, dst netip.Addr
	var rest []byte
	switch b[0] >> 4 {
	case 4:
		ihl := int(b[0]&0x0f) * 4
		if ihl < 20 || len(b) < ihl {
			return q, false
		}
		q.length = int(binary.BigEndian.Uint16(b[2:4]))
		proto = b[9]
		src = netip.AddrFrom4([4]byte(b[12:16]))
		dst = netip.AddrFrom4([4]byte(b[16:20]))
		rest = b[ihl:]
	case 6:
		if len(b) < 40 {
			return q, false
		}
		q.length = 40 + int(binary.BigEndian.Uint16(b[4:6]))
		proto = b[6]
		src = netip.AddrFrom16([16]byte(b[8:24]))
		dst = netip.AddrFrom16([16]byte(b[24:40]))
		rest = b[40:]
	default:
		return q, false
	}
	var sp, dp uint16
	switch proto {
	case 6, 17, 132:
		if len(rest) >= 4 {
			sp, dp = binary.BigEndian.Uint16(rest[0:2]), binary.BigEndian.Uint16(rest[2:4])
		}
		if proto == 6 && len(rest) >= 8 {
			q.seq, q.haveSeq = binary.BigEndian.Uint32(rest[4:8]), true
		}
	}
	switch proto {
	case 6:
		q.proto = "tcp"
	case 17:
		q.proto = "udp"
	case 1:
		q.proto = "icmp"
	case 58:
		q.proto = "icmpv6"
	case 132:
		q.proto = "sctp"
	default:
		q.proto = fmt.Sprintf("proto-%d", proto)
	}
	q.src = netip.AddrPortFrom(src, sp)
	q.dst = netip.AddrPortFrom(dst, dp)
	return q, true
}
