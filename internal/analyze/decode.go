package analyze

import (
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Analyzer accumulates packets one by one; Result computes the verdicts. It is not safe for
// concurrent use. The zero value is not usable: call NewAnalyzer.
type Analyzer struct {
	opts    Options
	res     Result
	n       int // packets seen
	conns   map[connKey]*connState
	order   []*connState
	queries map[dnsKey]*DNSQuery
	tunnels map[tunnelKey]*Tunnel
	// over counts things not tracked because a bound was hit.
	overConns, overQueries int
	gsoSeen                bool
}

// NewAnalyzer returns an empty Analyzer bounded by opts (zero fields take the defaults).
func NewAnalyzer(opts Options) *Analyzer {
	return &Analyzer{
		opts:    opts.withDefaults(),
		conns:   map[connKey]*connState{},
		queries: map[dnsKey]*DNSQuery{},
		tunnels: map[tunnelKey]*Tunnel{},
	}
}

func (a *Analyzer) warnf(format string, args ...any) {
	a.res.Warnings = append(a.res.Warnings, sprintf(format, args...))
}

// AddData decodes one raw packet of the given link type and adds it.
func (a *Analyzer) AddData(data []byte, ci gopacket.CaptureInfo, lt layers.LinkType) {
	p := gopacket.NewPacket(data, lt, gopacket.DecodeOptions{NoCopy: true})
	md := p.Metadata()
	md.CaptureInfo = ci
	a.AddPacket(p)
}

// pkt is the innermost IP packet of a frame, flattened for the analysers.
type pkt struct {
	idx    int
	ts     time.Time
	src    netip.Addr
	dst    netip.Addr
	ipLen  int // IP total length (header included), from the header, not the captured bytes
	l4Len  int // transport header + payload length, from the IP header
	frag   bool
	tunnel *Tunnel
	tcp    *layers.TCP
	udp    *layers.UDP
	icmp4  *layers.ICMPv4
	icmp6  *layers.ICMPv6
	dns    *layers.DNS
}

// AddPacket adds one decoded packet. Packets must come in capture order.
func (a *Analyzer) AddPacket(p gopacket.Packet) {
	a.n++
	a.res.Packets++
	ts := p.Metadata().Timestamp
	if a.res.First.IsZero() || ts.Before(a.res.First) {
		a.res.First = ts
	}
	if ts.After(a.res.Last) {
		a.res.Last = ts
	}
	cur := &pkt{idx: a.n, ts: ts}
	if !a.walk(p.Layers(), cur, 0) {
		a.res.Undecoded++
		return
	}
	a.dispatch(cur)
}

// walk fills cur from the layers; a VXLAN layer resets it to the inner packet. It reports whether an
// IP header was found.
func (a *Analyzer) walk(ls []gopacket.Layer, cur *pkt, depth int) bool {
	haveIP := false
	for _, l := range ls {
		switch l := l.(type) {
		case *layers.IPv4:
			*cur = pkt{idx: cur.idx, ts: cur.ts, tunnel: cur.tunnel}
			cur.src, _ = netip.AddrFromSlice(l.SrcIP.To4())
			cur.dst, _ = netip.AddrFromSlice(l.DstIP.To4())
			cur.ipLen = int(l.Length)
			cur.l4Len = int(l.Length) - int(l.IHL)*4
			cur.frag = l.FragOffset != 0 || l.Flags&layers.IPv4MoreFragments != 0
			haveIP = cur.src.IsValid() && cur.dst.IsValid()
		case *layers.IPv6:
			*cur = pkt{idx: cur.idx, ts: cur.ts, tunnel: cur.tunnel}
			cur.src, _ = netip.AddrFromSlice(l.SrcIP.To16())
			cur.dst, _ = netip.AddrFromSlice(l.DstIP.To16())
			cur.ipLen = 40 + int(l.Length)
			cur.l4Len = int(l.Length)
			haveIP = cur.src.IsValid() && cur.dst.IsValid()
		case *layers.IPv6Fragment:
			cur.frag = true
		case *layers.TCP:
			if haveIP && !cur.frag {
				cur.tcp = l
			}
		case *layers.UDP:
			if haveIP && !cur.frag {
				cur.udp = l
			}
		case *layers.VXLAN:
			if haveIP && cur.udp != nil {
				cur.tunnel = a.tunnel(cur.src, cur.dst, uint16(cur.udp.DstPort), l.VNI)
				cur.tunnel.Packets++
				*cur = pkt{idx: cur.idx, ts: cur.ts, tunnel: cur.tunnel}
				haveIP = false
			}
		case *layers.ICMPv4:
			if haveIP {
				cur.icmp4 = l
			}
		case *layers.ICMPv6:
			if haveIP {
				cur.icmp6 = l
			}
		case *layers.DNS:
			if cur.udp != nil || cur.tcp != nil {
				cur.dns = l
			}
		}
	}
	// flannel's VXLAN port 8472 is not decoded by gopacket: do it here.
	if haveIP && cur.udp != nil && depth == 0 && (cur.udp.DstPort == 8472 || cur.udp.SrcPort == 8472) {
		pl := cur.udp.Payload
		if len(pl) >= 8+14 && pl[0]&0x08 != 0 {
			inner := gopacket.NewPacket(pl, layers.LayerTypeVXLAN, gopacket.DecodeOptions{NoCopy: true})
			if vx, ok := inner.Layer(layers.LayerTypeVXLAN).(*layers.VXLAN); ok {
				outer := *cur
				t := a.tunnel(cur.src, cur.dst, uint16(cur.udp.DstPort), vx.VNI)
				*cur = pkt{idx: cur.idx, ts: cur.ts, tunnel: t}
				if a.walk(inner.Layers(), cur, depth+1) {
					t.Packets++
					return true
				}
				*cur = outer
			}
		}
	}
	return haveIP
}

func (a *Analyzer) dispatch(p *pkt) {
	if p.dns == nil {
		p.dns = decodeDNS(p)
	}
	switch {
	case p.tcp != nil:
		a.addTCP(p)
		if p.dns != nil {
			a.addDNS(p, p.dns, true)
		}
	case p.udp != nil:
		if p.dns != nil {
			a.addDNS(p, p.dns, false)
		}
	case p.icmp4 != nil:
		a.addICMP4(p)
	case p.icmp6 != nil:
		a.addICMP6(p)
	}
}

type tunnelKey struct {
	src, dst netip.Addr
	vni      uint32
}

func (a *Analyzer) tunnel(src, dst netip.Addr, port uint16, vni uint32) *Tunnel {
	k := tunnelKey{src, dst, vni}
	t := a.tunnels[k]
	if t == nil {
		t = &Tunnel{OuterSrc: src, OuterDst: dst, Port: port, VNI: vni}
		a.tunnels[k] = t
		a.res.Tunnels = append(a.res.Tunnels, t)
	}
	return t
}

// decodeDNS decodes DNS that gopacket's port table misses: UDP 5353 and DNS over TCP (a 2-byte
// length, then the message), when a segment starts with a whole message.
func decodeDNS(p *pkt) *layers.DNS {
	var pl []byte
	switch {
	case p.udp != nil && (p.udp.SrcPort == 53 || p.udp.DstPort == 53 || p.udp.SrcPort == 5353 || p.udp.DstPort == 5353):
		pl = p.udp.Payload
	case p.tcp != nil && (p.tcp.SrcPort == 53 || p.tcp.DstPort == 53) && len(p.tcp.Payload) >= 14:
		n := int(p.tcp.Payload[0])<<8 | int(p.tcp.Payload[1])
		if n+2 > len(p.tcp.Payload) || n < 12 {
			return nil
		}
		pl = p.tcp.Payload[2 : 2+n]
	default:
		return nil
	}
	if len(pl) < 12 {
		return nil
	}
	m := &layers.DNS{}
	if err := m.DecodeFromBytes(pl, gopacket.NilDecodeFeedback); err != nil {
		return nil
	}
	return m
}
