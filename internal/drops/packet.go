package drops

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/net/bpf"

	"github.com/netdoctor/netdoctor/internal/capture/filter"
)

// EtherTypes of skb->protocol that ParseFlow understands.
const (
	etherIPv4 = 0x0800
	etherIPv6 = 0x86dd
	etherARP  = 0x0806
)

// ParseFlow decodes the packet bytes that start at the network header, for an skb whose
// skb->protocol (host order) is proto. It never fails: what cannot be decoded stays zero, and data
// may be longer than the packet (the tail is ignored, bounded by the IP length).
func ParseFlow(proto uint16, data []byte) Flow {
	var f Flow
	switch proto {
	case etherIPv4:
		f.Family = "ipv4"
		if len(data) < 20 || data[0]>>4 != 4 {
			return f
		}
		ihl := int(data[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(data[2:4]))
		f.Src = netip.AddrFrom4([4]byte(data[12:16]))
		f.Dst = netip.AddrFrom4([4]byte(data[16:20]))
		var info []string
		frag := binary.BigEndian.Uint16(data[6:8])
		if frag&0x4000 != 0 {
			info = append(info, "DF")
		}
		info = append(info, "length "+strconv.Itoa(total))
		if frag&0x1fff != 0 || ihl < 20 || ihl > len(data) {
			f.Proto = ipProto(data[9])
			f.Info = strings.Join(info, " ")
			return f
		}
		l4(&f, data[9], data[ihl:], false)
		if f.Info != "" {
			info = append([]string{f.Info}, info...)
		}
		f.Info = strings.Join(info, " ")
	case etherIPv6:
		f.Family = "ipv6"
		if len(data) < 40 || data[0]>>4 != 6 {
			return f
		}
		f.Src = netip.AddrFrom16([16]byte(data[8:24]))
		f.Dst = netip.AddrFrom16([16]byte(data[24:40]))
		l4(&f, data[6], data[40:], true)
		plen := int(binary.BigEndian.Uint16(data[4:6]))
		if f.Info != "" {
			f.Info += " "
		}
		f.Info += "length " + strconv.Itoa(plen+40)
	case etherARP:
		f.Family = "arp"
		if len(data) >= 28 && binary.BigEndian.Uint16(data[2:4]) == etherIPv4 {
			f.Src = netip.AddrFrom4([4]byte(data[14:18]))
			f.Dst = netip.AddrFrom4([4]byte(data[24:28]))
			f.Proto = "arp"
			if binary.BigEndian.Uint16(data[6:8]) == 1 {
				f.Info = "who-has"
			} else {
				f.Info = "reply"
			}
		}
	case 0:
	default:
		f.Family = fmt.Sprintf("0x%04x", proto)
	}
	return f
}

func ipProto(p byte) string {
	switch p {
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 1:
		return "icmp"
	case 58:
		return "icmpv6"
	}
	return "proto-" + strconv.Itoa(int(p))
}

// l4 fills ports and protocol details from the transport header.
func l4(f *Flow, proto byte, b []byte, v6 bool) {
	f.Proto = ipProto(proto)
	switch proto {
	case 6:
		if len(b) >= 14 {
			f.SrcPort = binary.BigEndian.Uint16(b[0:2])
			f.DstPort = binary.BigEndian.Uint16(b[2:4])
			f.Info = tcpFlags(b[13])
		}
	case 17:
		if len(b) >= 4 {
			f.SrcPort = binary.BigEndian.Uint16(b[0:2])
			f.DstPort = binary.BigEndian.Uint16(b[2:4])
		}
	case 1, 58:
		if len(b) >= 2 {
			f.Info = icmpName(b[0], b[1], v6)
		}
	}
}

func tcpFlags(fl byte) string {
	s := ""
	for _, x := range []struct {
		bit byte
		c   string
	}{{0x02, "S"}, {0x01, "F"}, {0x04, "R"}, {0x08, "P"}} {
		if fl&x.bit != 0 {
			s += x.c
		}
	}
	if fl&0x10 != 0 {
		s += "."
	}
	return "[" + s + "]"
}

func icmpName(typ, code byte, v6 bool) string {
	if v6 {
		switch typ {
		case 128:
			return "echo request"
		case 129:
			return "echo reply"
		case 2:
			return "packet too big"
		case 1:
			return fmt.Sprintf("unreachable %d", code)
		}
		return fmt.Sprintf("type %d code %d", typ, code)
	}
	switch typ {
	case 8:
		return "echo request"
	case 0:
		return "echo reply"
	case 3:
		return fmt.Sprintf("unreachable %d", code)
	case 11:
		return "time exceeded"
	}
	return fmt.Sprintf("type %d code %d", typ, code)
}

// Matcher runs a tcpdump filter over dropped packets in user space, on a synthetic Ethernet frame
// made of the skb's protocol and its bytes from the network header.
type Matcher struct {
	vm *bpf.VM
}

// NewMatcher compiles expr; "" (or blanks) gives a nil Matcher, which matches everything. Errors
// are the filter package's one-line *filter.SyntaxError.
func NewMatcher(expr string) (*Matcher, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, nil
	}
	prog, err := filter.Compile(expr, filter.LinkTypeEthernet, 65535)
	if err != nil {
		return nil, err
	}
	vm, err := bpf.NewVM(prog)
	if err != nil {
		return nil, fmt.Errorf("drops: filter %q: %w", expr, err)
	}
	return &Matcher{vm: vm}, nil
}

// Match reports whether the packet (skb protocol in host order, bytes from the network header)
// passes the filter. A nil Matcher matches everything; a drop without packet bytes matches only
// a nil Matcher.
func (m *Matcher) Match(proto uint16, data []byte) bool {
	if m == nil {
		return true
	}
	if len(data) == 0 {
		return false
	}
	data = trimToIP(proto, data)
	frame := make([]byte, 14+len(data))
	binary.BigEndian.PutUint16(frame[12:14], proto)
	copy(frame[14:], data)
	n, err := m.vm.Run(frame)
	return err == nil && n > 0
}

// trimToIP cuts data to the IP packet's own length when the header says it is shorter.
func trimToIP(proto uint16, data []byte) []byte {
	switch {
	case proto == etherIPv4 && len(data) >= 20:
		if n := int(binary.BigEndian.Uint16(data[2:4])); n >= 20 && n < len(data) {
			return data[:n]
		}
	case proto == etherIPv6 && len(data) >= 40:
		if n := int(binary.BigEndian.Uint16(data[4:6])) + 40; n < len(data) {
			return data[:n]
		}
	}
	return data
}
