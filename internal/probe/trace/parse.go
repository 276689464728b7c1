package trace

import (
	"encoding/binary"
	"net/netip"
)

// ICMP types and codes the trace understands.
const (
	icmpEchoReply    = 0
	icmpDestUnreach  = 3
	icmpEcho         = 8
	icmpTimeExceeded = 11
	codePortUnreach  = 3
)

// reply is an ICMP message that answers one of our probes.
type reply struct {
	proto    Proto      // kind of the probe it answers
	key      uint16     // echo sequence (icmp), destination port (udp) or source port (tcp)
	id       uint16     // echo identifier (icmp only)
	from     netip.Addr // who sent the ICMP message
	icmpType int
	code     int
}

// parseICMP decodes an ICMPv4 message (without its IP header) received from `from` and returns the
// probe it answers, if it answers a probe to target at all.
func parseICMP(b []byte, from, target netip.Addr) (reply, bool) {
	if len(b) < 8 {
		return reply{}, false
	}
	r := reply{from: from, icmpType: int(b[0]), code: int(b[1])}
	switch r.icmpType {
	case icmpEchoReply:
		if from != target {
			return reply{}, false
		}
		r.proto = ProtoICMP
		r.id = binary.BigEndian.Uint16(b[4:6])
		r.key = binary.BigEndian.Uint16(b[6:8])
		return r, true
	case icmpTimeExceeded, icmpDestUnreach:
		return parseQuoted(r, b[8:], target)
	}
	return reply{}, false
}

// parseQuoted reads the IP header and first 8 bytes of the probe quoted in an ICMP error.
func parseQuoted(r reply, q []byte, target netip.Addr) (reply, bool) {
	if len(q) < 20 || q[0]>>4 != 4 {
		return reply{}, false
	}
	ihl := int(q[0]&0x0f) * 4
	if ihl < 20 || len(q) < ihl+8 {
		return reply{}, false
	}
	dst := netip.AddrFrom4([4]byte(q[16:20]))
	if dst != target {
		return reply{}, false
	}
	l4 := q[ihl:]
	switch q[9] {
	case 1: // ICMP
		if l4[0] != icmpEcho {
			return reply{}, false
		}
		r.proto = ProtoICMP
		r.id = binary.BigEndian.Uint16(l4[4:6])
		r.key = binary.BigEndian.Uint16(l4[6:8])
	case 17: // UDP
		r.proto = ProtoUDP
		r.key = binary.BigEndian.Uint16(l4[2:4])
		r.id = binary.BigEndian.Uint16(l4[0:2])
	case 6: // TCP
		r.proto = ProtoTCP
		r.key = binary.BigEndian.Uint16(l4[0:2])
		r.id = binary.BigEndian.Uint16(l4[2:4])
	default:
		return reply{}, false
	}
	return r, true
}

// unreachName names an ICMP destination-unreachable code the way traceroute hints it.
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
	case 4:
		return "fragmentation-needed"
	case 9, 10, 13:
		return "administratively-prohibited"
	}
	return "unreachable-code-" + itoa(code)
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b [20]byte
	n := len(b)
	neg := i < 0
	if neg {
		i = -i
	}
	for i > 0 {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
	}
	if neg {
		n--
		b[n] = '-'
	}
	return string(b[n:])
}
