package capture

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// Summarize returns tcpdump's one-line view of a packet (`tcpdump -nn -S`, without the timestamp
// and TCP options): for example "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [S], seq 1000, win 64240,
// length 0". A VXLAN packet shows its encapsulation followed by the inner packet.
func Summarize(f *Frame) string {
	var b strings.Builder
	switch {
	case f.Encap != nil:
		o := f.Outer
		fmt.Fprintf(&b, "%s %s > %s: VXLAN, vni %d: ", ipWord(o), hostPort(o.Src, o.Sport), hostPort(o.Dst, o.Dport), f.Encap.VNI)
		if f.ARP != nil {
			writeARP(&b, f.ARP)
		} else {
			writeIP(&b, f.IP)
		}
	case f.ARP != nil:
		writeARP(&b, f.ARP)
	case f.IP != nil:
		writeIP(&b, f.IP)
	default:
		fmt.Fprintf(&b, "ethertype %s (0x%04x), length %d", f.EtherType, uint16(f.EtherType), f.Length)
	}
	return b.String()
}

// Line is the whole tcpdump-style line: local time with microseconds, then for captures on "any"
// the interface and direction, then Summarize.
func Line(ts time.Time, iface string, dir Direction, f *Frame) string {
	t := ts.Format("15:04:05.000000")
	if iface != "" {
		return fmt.Sprintf("%s %s %-3s %s", t, iface, dir, Summarize(f))
	}
	return t + " " + Summarize(f)
}

func ipWord(ip *IPInfo) string {
	if ip.Version == 6 {
		return "IP6"
	}
	return "IP"
}

func hostPort(a netip.Addr, port uint16) string {
	return a.String() + "." + strconv.Itoa(int(port))
}

func writeARP(b *strings.Builder, a *layers.ARP) {
	spa, _ := netip.AddrFromSlice(a.SourceProtAddress)
	tpa, _ := netip.AddrFromSlice(a.DstProtAddress)
	switch a.Operation {
	case layers.ARPRequest:
		fmt.Fprintf(b, "ARP, Request who-has %s tell %s, length 28", tpa, spa)
	case layers.ARPReply:
		fmt.Fprintf(b, "ARP, Reply %s is-at %s, length 28", spa, fmtMAC(a.SourceHwAddress))
	default:
		fmt.Fprintf(b, "ARP, op %d, length 28", a.Operation)
	}
}

func fmtMAC(m []byte) string {
	parts := make([]string, len(m))
	for i, x := range m {
		parts[i] = fmt.Sprintf("%02x", x)
	}
	return strings.Join(parts, ":")
}

func writeIP(b *strings.Builder, ip *IPInfo) {
	b.WriteString(ipWord(ip))
	b.WriteByte(' ')
	if ip.FragOff != 0 {
		fmt.Fprintf(b, "%s > %s: ip-proto-%d (frag %d:%d@%d)", ip.Src, ip.Dst, ip.Proto, ip.ID, ip.Len-20, ip.FragOff)
		return
	}
	switch layers.IPProtocol(ip.Proto) {
	case layers.IPProtocolTCP:
		fmt.Fprintf(b, "%s > %s: Flags [%s]", hostPort(ip.Src, ip.Sport), hostPort(ip.Dst, ip.Dport), ip.Flags)
		// Like tcpdump: a bare ACK shows no sequence number.
		if ip.PayloadLen > 0 || strings.ContainsAny(ip.Flags, "SFR") {
			fmt.Fprintf(b, ", seq %d", ip.Seq)
			if ip.PayloadLen > 0 {
				fmt.Fprintf(b, ":%d", ip.Seq+uint32(ip.PayloadLen))
			}
		}
		if strings.Contains(ip.Flags, ".") {
			fmt.Fprintf(b, ", ack %d", ip.Ack)
		}
		fmt.Fprintf(b, ", win %d, length %d", ip.Win, ip.PayloadLen)
	case layers.IPProtocolUDP:
		fmt.Fprintf(b, "%s > %s: UDP, length %d", hostPort(ip.Src, ip.Sport), hostPort(ip.Dst, ip.Dport), ip.PayloadLen)
	case layers.IPProtocolICMPv4:
		fmt.Fprintf(b, "%s > %s: ICMP %s, length %d", ip.Src, ip.Dst, icmp4Text(ip), ip.PayloadLen+8)
	case layers.IPProtocolICMPv6:
		fmt.Fprintf(b, "%s > %s: ICMP6, %s, length %d", ip.Src, ip.Dst, icmp6Text(ip), ip.PayloadLen+4)
	default:
		fmt.Fprintf(b, "%s > %s: ip-proto-%d %d", ip.Src, ip.Dst, ip.Proto, ip.Len)
	}
}

func icmp4Text(ip *IPInfo) string {
	q := ip.Quoted
	switch ip.ICMPType {
	case 0:
		return fmt.Sprintf("echo reply, id %d, seq %d", ip.ICMPID, ip.ICMPSeq)
	case 8:
		return fmt.Sprintf("echo request, id %d, seq %d", ip.ICMPID, ip.ICMPSeq)
	case 3:
		switch {
		case ip.ICMPCode == 3 && q != nil && q.Proto == uint8(layers.IPProtocolUDP):
			return fmt.Sprintf("%s udp port %d unreachable", q.Dst, q.Dport)
		case ip.ICMPCode == 3 && q != nil && q.Proto == uint8(layers.IPProtocolTCP):
			return fmt.Sprintf("%s tcp port %d unreachable", q.Dst, q.Dport)
		case ip.ICMPCode == 4 && q != nil:
			return fmt.Sprintf("%s unreachable - need to frag (mtu %d)", q.Dst, ip.MTU)
		case ip.ICMPCode == 1 && q != nil:
			return fmt.Sprintf("host %s unreachable", q.Dst)
		case ip.ICMPCode == 0 && q != nil:
			return fmt.Sprintf("net %s unreachable", q.Dst)
		case ip.ICMPCode == 13 && q != nil:
			return fmt.Sprintf("host %s unreachable - admin prohibited filter", q.Dst)
		}
		return fmt.Sprintf("unreachable code %d", ip.ICMPCode)
	case 11:
		if ip.ICMPCode == 0 {
			if q != nil {
				return fmt.Sprintf("time exceeded in-transit (for %s)", q.Dst)
			}
			return "time exceeded in-transit"
		}
		return "ip reassembly time exceeded"
	}
	return fmt.Sprintf("type %d, code %d", ip.ICMPType, ip.ICMPCode)
}

func icmp6Text(ip *IPInfo) string {
	switch ip.ICMPType {
	case 128:
		return fmt.Sprintf("echo request, id %d, seq %d", ip.ICMPID, ip.ICMPSeq)
	case 129:
		return fmt.Sprintf("echo reply, id %d, seq %d", ip.ICMPID, ip.ICMPSeq)
	case 1:
		return fmt.Sprintf("destination unreachable, code %d", ip.ICMPCode)
	case 2:
		return fmt.Sprintf("packet too big, mtu %d", ip.MTU)
	case 3:
		return "time exceeded in-transit"
	case 133:
		return "router solicitation"
	case 134:
		return "router advertisement"
	case 135:
		return "neighbor solicitation"
	case 136:
		return "neighbor advertisement"
	}
	return fmt.Sprintf("type %d, code %d", ip.ICMPType, ip.ICMPCode)
}
