package capture

import (
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// VXLAN UDP ports: Linux's (and flannel's) default, and the IANA port.
const (
	PortVXLANLinux = 8472
	PortVXLANIANA  = 4789
)

// IPInfo is what one IP header and the transport header behind it say. Fields that do not apply
// to Proto are zero.
type IPInfo struct {
	Version  int        `json:"version"`             // 4 or 6
	Src      netip.Addr `json:"src"`                 // source address
	Dst      netip.Addr `json:"dst"`                 // destination address
	Proto    uint8      `json:"proto"`               // IP protocol number (for IPv6, the last next-header)
	TTL      uint8      `json:"ttl"`                 // TTL or hop limit
	ID       uint16     `json:"id"`                  // IPv4 identification (IPv6: fragment id, else 0)
	Len      int        `json:"len"`                 // IP total length as on the wire
	DF       bool       `json:"df,omitempty"`        // IPv4 don't-fragment bit
	FragOff  uint16     `json:"frag_off,omitempty"`  // fragment offset in bytes
	MoreFrag bool       `json:"more_frag,omitempty"` // more fragments follow
	Sport    uint16     `json:"sport,omitempty"`     // TCP/UDP source port
	Dport    uint16     `json:"dport,omitempty"`     // TCP/UDP destination port
	Flags    string     `json:"tcp_flags,omitempty"` // tcpdump notation: "S.", "P.", "R"...
	Seq      uint32     `json:"seq,omitempty"`       // TCP sequence number (absolute)
	Ack      uint32     `json:"ack,omitempty"`       // TCP acknowledgement number (absolute)
	Win      uint16     `json:"win,omitempty"`       // TCP window (unscaled)
	ICMPType uint8      `json:"icmp_type,omitempty"` // ICMP or ICMPv6 type
	ICMPCode uint8      `json:"icmp_code,omitempty"` // ICMP or ICMPv6 code
	ICMPID   uint16     `json:"icmp_id,omitempty"`   // echo identifier
	ICMPSeq  uint16     `json:"icmp_seq,omitempty"`  // echo sequence
	// MTU is the next-hop MTU of an ICMP "fragmentation needed" / ICMPv6 "packet too big".
	MTU int `json:"mtu,omitempty"`
	// PayloadLen is the transport payload length as on the wire.
	PayloadLen int `json:"payload_len"`
	// Payload is the transport payload as captured (may be truncated by the snaplen).
	Payload []byte `json:"-"`
	// Quoted is the IP packet an ICMP error quotes, when present.
	Quoted *IPInfo `json:"quoted,omitempty"`
}

// Encap is a VXLAN encapsulation: the outer (underlay) addresses and the VNI.
type Encap struct {
	OuterSrc netip.Addr `json:"outer_src"` // the sending VTEP's address (seed case 1 looks here)
	OuterDst netip.Addr `json:"outer_dst"` // the receiving VTEP's address
	VNI      uint32     `json:"vni"`       // VXLAN network identifier
	Port     uint16     `json:"port"`      // UDP destination port (8472 or 4789)
}

// Frame is a decoded captured packet.
type Frame struct {
	// IP is the innermost IP packet: for a VXLAN packet the encapsulated one, otherwise the packet
	// itself; nil for non-IP frames (ARP...).
	IP *IPInfo
	// Outer is the underlay IP packet of an encapsulated frame (nil otherwise).
	Outer *IPInfo
	// Encap describes the encapsulation (nil when none).
	Encap *Encap
	// ARP is set for ARP frames.
	ARP *layers.ARP
	// EtherType is the link-layer protocol when known.
	EtherType layers.EthernetType
	// Length is the frame's length on the wire.
	Length int
}

var decodeOpts = gopacket.DecodeOptions{Lazy: true, NoCopy: true}

// Dissect decodes a captured packet of the given link type, following VXLAN (UDP 8472 and 4789)
// one level into the inner packet.
func Dissect(data []byte, length int, lt layers.LinkType) *Frame {
	f := &Frame{Length: length}
	pkt := gopacket.NewPacket(data, lt, decodeOpts)
	f.fill(pkt, 0)
	return f
}

func (f *Frame) fill(pkt gopacket.Packet, depth int) {
	if l, ok := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet); ok {
		f.EtherType = l.EthernetType
	} else if l, ok := pkt.Layer(layers.LayerTypeLinuxSLL).(*layers.LinuxSLL); ok {
		f.EtherType = l.EthernetType
	}
	if a, ok := pkt.Layer(layers.LayerTypeARP).(*layers.ARP); ok {
		f.ARP = a
		return
	}
	ip := ipInfo(pkt)
	if ip == nil {
		return
	}
	f.IP = ip
	if depth > 0 || ip.Proto != uint8(layers.IPProtocolUDP) || ip.FragOff != 0 {
		return
	}
	if ip.Dport != PortVXLANLinux && ip.Dport != PortVXLANIANA {
		return
	}
	vx := gopacket.NewPacket(ip.Payload, layers.LayerTypeVXLAN, decodeOpts)
	v, ok := vx.Layer(layers.LayerTypeVXLAN).(*layers.VXLAN)
	if !ok || !v.ValidIDFlag {
		return
	}
	inner := &Frame{}
	inner.fill(vx, depth+1)
	if inner.IP == nil && inner.ARP == nil {
		return
	}
	f.Outer = ip
	f.Encap = &Encap{OuterSrc: ip.Src, OuterDst: ip.Dst, VNI: v.VNI, Port: ip.Dport}
	f.IP, f.ARP, f.EtherType = inner.IP, inner.ARP, inner.EtherType
}

// ipInfo reads the first IP layer of pkt and its transport header.
func ipInfo(pkt gopacket.Packet) *IPInfo {
	in := &IPInfo{}
	switch l := pkt.NetworkLayer().(type) {
	case *layers.IPv4:
		in.Version = 4
		in.Src, _ = netip.AddrFromSlice(l.SrcIP.To4())
		in.Dst, _ = netip.AddrFromSlice(l.DstIP.To4())
		in.Proto, in.TTL, in.ID, in.Len = uint8(l.Protocol), l.TTL, l.Id, int(l.Length)
		in.DF = l.Flags&layers.IPv4DontFragment != 0
		in.MoreFrag = l.Flags&layers.IPv4MoreFragments != 0
		in.FragOff = l.FragOffset * 8
	case *layers.IPv6:
		in.Version = 6
		in.Src, _ = netip.AddrFromSlice(l.SrcIP)
		in.Dst, _ = netip.AddrFromSlice(l.DstIP)
		in.Proto, in.TTL, in.Len = uint8(l.NextHeader), l.HopLimit, int(l.Length)+40
		if fr, ok := pkt.Layer(layers.LayerTypeIPv6Fragment).(*layers.IPv6Fragment); ok {
			in.Proto, in.FragOff, in.MoreFrag = uint8(fr.NextHeader), fr.FragmentOffset*8, fr.MoreFragments
			in.ID = uint16(fr.Identification)
		}
	default:
		return nil
	}
	in.Src, in.Dst = in.Src.Unmap(), in.Dst.Unmap()
	if in.FragOff != 0 {
		return in
	}
	switch l := pkt.TransportLayer().(type) {
	case *layers.TCP:
		in.Proto = uint8(layers.IPProtocolTCP)
		in.Sport, in.Dport = uint16(l.SrcPort), uint16(l.DstPort)
		in.Seq, in.Ack, in.Win = l.Seq, l.Ack, l.Window
		in.Flags = tcpFlags(l)
		in.Payload = l.Payload
		in.PayloadLen = in.Len - ipHeaderLen(pkt) - int(l.DataOffset)*4
	case *layers.UDP:
		in.Proto = uint8(layers.IPProtocolUDP)
		in.Sport, in.Dport = uint16(l.SrcPort), uint16(l.DstPort)
		in.Payload = l.Payload
		in.PayloadLen = int(l.Length) - 8
	}
	if l, ok := pkt.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4); ok {
		in.Proto = uint8(layers.IPProtocolICMPv4)
		in.ICMPType, in.ICMPCode = l.TypeCode.Type(), l.TypeCode.Code()
		in.ICMPID, in.ICMPSeq = l.Id, l.Seq
		in.Payload = l.Payload
		in.PayloadLen = in.Len - ipHeaderLen(pkt) - 8
		if in.ICMPType == 3 && in.ICMPCode == 4 {
			in.MTU = int(l.Seq) // next-hop MTU sits where an echo keeps its sequence
			in.ICMPSeq = 0
		}
		if in.ICMPType == 3 || in.ICMPType == 11 || in.ICMPType == 12 {
			in.ICMPID = 0
			in.Quoted = quoted(l.Payload, layers.LayerTypeIPv4)
		}
	}
	if l, ok := pkt.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6); ok {
		in.Proto = uint8(layers.IPProtocolICMPv6)
		in.ICMPType, in.ICMPCode = l.TypeCode.Type(), l.TypeCode.Code()
		in.PayloadLen = in.Len - ipHeaderLen(pkt) - 4
		rest := l.Payload // gopacket keeps the 4 bytes after the checksum in the payload
		in.Payload = rest
		switch {
		case (in.ICMPType == 128 || in.ICMPType == 129) && len(rest) >= 4:
			in.ICMPID = uint16(rest[0])<<8 | uint16(rest[1])
			in.ICMPSeq = uint16(rest[2])<<8 | uint16(rest[3])
			in.Payload = rest[4:]
		case in.ICMPType >= 1 && in.ICMPType <= 3 && len(rest) >= 4:
			if in.ICMPType == 2 {
				in.MTU = int(uint32(rest[0])<<24 | uint32(rest[1])<<16 | uint32(rest[2])<<8 | uint32(rest[3]))
			}
			in.Quoted = quoted(rest[4:], layers.LayerTypeIPv6)
		}
	}
	return in
}

func quoted(b []byte, first gopacket.LayerType) *IPInfo {
	if len(b) < 20 {
		return nil
	}
	q := ipInfo(gopacket.NewPacket(b, first, decodeOpts))
	if q != nil {
		q.Quoted = nil
	}
	return q
}

func ipHeaderLen(pkt gopacket.Packet) int {
	switch l := pkt.NetworkLayer().(type) {
	case *layers.IPv4:
		return int(l.IHL) * 4
	case *layers.IPv6:
		n := 40
		for _, ly := range pkt.Layers() {
			switch ly.LayerType() {
			case layers.LayerTypeIPv6HopByHop, layers.LayerTypeIPv6Routing, layers.LayerTypeIPv6Destination, layers.LayerTypeIPv6Fragment:
				n += len(ly.LayerContents())
			}
		}
		return n
	}
	return 0
}

func tcpFlags(t *layers.TCP) string {
	var b []byte
	for _, f := range []struct {
		on bool
		c  byte
	}{{t.FIN, 'F'}, {t.SYN, 'S'}, {t.RST, 'R'}, {t.PSH, 'P'}, {t.URG, 'U'}, {t.ECE, 'E'}, {t.CWR, 'W'}} {
		if f.on {
			b = append(b, f.c)
		}
	}
	if t.ACK {
		b = append(b, '.')
	}
	if len(b) == 0 {
		return "none"
	}
	return string(b)
}
