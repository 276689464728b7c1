package filter

import (
	"encoding/binary"
	"net/netip"
	"strings"
)

// genProtoAbbrev is a bare protocol name: `ip`, `tcp`, `icmp6`...
func (ps *parser) genProtoAbbrev(t token, proto int) node {
	switch proto {
	case qIP:
		return ps.linktype(0x0800)
	case qIP6:
		return ps.linktype(0x86dd)
	case qARP:
		return ps.linktype(0x0806)
	case qRARP:
		return ps.linktype(0x8035)
	case qTCP:
		return ps.genProto(t, 6, qDefault)
	case qUDP:
		return ps.genProto(t, 17, qDefault)
	case qSCTP:
		return ps.genProto(t, 132, qDefault)
	case qICMP:
		return ps.genProto(t, 1, qIP)
	case qIGMP:
		return ps.genProto(t, 2, qIP)
	case qICMP6:
		return ps.genProto(t, 58, qIP6)
	case qLink:
		ps.errAt(t, "link layer applied in wrong context")
	}
	ps.errAt(t, "%q is not supported", t.s)
	return nil
}

// genProto is "<proto> proto v": the IP protocol (or EtherType for `ether proto`) is v. For IPv6
// libpcap also accepts v behind one fragment header.
func (ps *parser) genProto(t token, v uint32, proto int) node {
	pl := ps.lk.pl
	switch proto {
	case qDefault:
		return or(ps.genProto(t, v, qIP), ps.genProto(t, v, qIP6))
	case qLink:
		return ps.linktype(v)
	case qIP:
		return and(ps.linktype(0x0800), cmp(sizeB, pl+9, v))
	case qIP6:
		frag := and(cmp(sizeB, pl+6, 44), cmp(sizeB, pl+40, v))
		return and(ps.linktype(0x86dd), or(cmp(sizeB, pl+6, v), frag))
	case qARP:
		ps.errAt(t, "arp does not encapsulate another protocol")
	case qRARP:
		ps.errAt(t, "rarp does not encapsulate another protocol")
	}
	ps.errAt(t, "'%s proto' is bogus", protoNames[proto])
	return nil
}

// hostop compares the 32-bit address at pl+srcOff / pl+dstOff under mask.
func (ps *parser) hostop(t token, addr, mask uint32, dir int, ethertype, srcOff, dstOff uint32) node {
	one := func(off uint32) node {
		return and(ps.linktype(ethertype), mcmp(sizeW, ps.lk.pl+off, addr, mask))
	}
	switch dir {
	case dSrc:
		return one(srcOff)
	case dDst:
		return one(dstOff)
	case dAnd:
		return and(one(srcOff), one(dstOff))
	default:
		return or(one(srcOff), one(dstOff))
	}
}

// genHost is IPv4 `[proto] [dir] host|net addr/mask`.
func (ps *parser) genHost(t token, addr, mask uint32, q qual) node {
	kind := "host"
	if q.addr == aNet {
		kind = "net"
	}
	switch q.proto {
	case qDefault:
		b := or(ps.genHost(t, addr, mask, qual{qIP, q.dir, q.addr}), ps.genHost(t, addr, mask, qual{qARP, q.dir, q.addr}))
		return or(b, ps.genHost(t, addr, mask, qual{qRARP, q.dir, q.addr}))
	case qIP:
		return ps.hostop(t, addr, mask, q.dir, 0x0800, 12, 16)
	case qARP:
		return ps.hostop(t, addr, mask, q.dir, 0x0806, 14, 24)
	case qRARP:
		return ps.hostop(t, addr, mask, q.dir, 0x8035, 14, 24)
	case qLink:
		ps.errAt(t, "link-layer modifier applied to %s", kind)
	case qIP6:
		ps.errAt(t, "'ip6' modifier applied to ip %s", kind)
	}
	ps.errAt(t, "'%s' modifier applied to %s", protoNames[q.proto], kind)
	return nil
}

// genNcode is a number or dotted IPv4 prefix with qualifier q (libpcap's gen_ncode).
func (ps *parser) genNcode(t token, s string, v uint32, q qual) node {
	switch q.addr {
	case aDefault, aHost, aNet:
		if q.proto == qLink {
			ps.errAt(t, "illegal link layer address")
		}
		mask := uint32(0xffffffff)
		if s == "" && q.addr == aNet {
			for v != 0 && v&0xff000000 == 0 {
				v <<= 8
				mask <<= 8
			}
		} else if s != "" {
			var bits int
			v, bits = atoin(s)
			if bits < 0 {
				ps.errAt(t, "invalid IPv4 address")
			}
			if bits < 32 {
				v <<= 32 - bits
				mask <<= 32 - bits
			}
		}
		return ps.genHost(t, v, mask, q)
	case aPort, aPortrange:
		ipProto := ps.portProto(t, q.proto)
		if v > 65535 {
			ps.errAt(t, "illegal port number %d > 65535", v)
		}
		if q.addr == aPort {
			return ps.genPorts(t, v, v, ipProto, q.dir, false)
		}
		return ps.genPorts(t, v, v, ipProto, q.dir, true)
	case aProto:
		if q.dir != dDefault {
			ps.errAt(t, "direction applied to 'proto'")
		}
		return ps.genProto(t, v, q.proto)
	case aGateway:
		ps.errAt(t, "'gateway' requires a name")
	case aProtochain:
		ps.errAt(t, "'protochain' is not supported")
	}
	ps.errAt(t, "syntax error")
	return nil
}

// atoin parses 1 to 4 dotted decimal parts into their packed value and bit count (-1 on error).
func atoin(s string) (uint32, int) {
	var v uint32
	parts := strings.Split(s, ".")
	for _, p := range parts {
		n, ok := parseNum(p)
		if !ok || n > 255 {
			return 0, -1
		}
		v = v<<8 | n
	}
	return v, 8 * len(parts)
}

// genMcode is `net a.b.c.d/len` or `net a.b.c.d mask m.m.m.m`.
func (ps *parser) genMcode(t token, bits uint32, maskStr string, q qual) node {
	v, n := atoin(t.s)
	if n < 0 {
		ps.errAt(t, "invalid IPv4 address")
	}
	v <<= 32 - n
	var mask uint32
	if maskStr != "" {
		m, mn := atoin(maskStr)
		if mn < 0 {
			ps.errAt(t, "invalid netmask %s", maskStr)
		}
		mask = m << (32 - mn)
		if v&^mask != 0 {
			ps.errAt(t, "non-network bits set in \"%s mask %s\"", t.s, maskStr)
		}
	} else {
		if bits > 32 {
			ps.errAt(t, "mask length must be <= 32")
		}
		if bits != 0 {
			mask = 0xffffffff << (32 - bits)
		}
		if v&^mask != 0 {
			ps.errAt(t, "non-network bits set in \"%s/%d\"", t.s, bits)
		}
	}
	if q.addr != aNet {
		ps.errAt(t, "Mask syntax for networks only")
	}
	return ps.genHost(t, v, mask, q)
}

// genMcode6 is an IPv6 host or prefix.
func (ps *parser) genMcode6(t token, bits uint32, q qual) node {
	addr, err := netip.ParseAddr(t.s)
	if err != nil || !addr.Is6() || addr.Zone() != "" {
		ps.errAt(t, "invalid IPv6 address")
	}
	if bits > 128 {
		ps.errAt(t, "mask length must be <= 128")
	}
	a := addr.As16()
	var m [16]byte
	for i := 0; i < int(bits); i++ {
		m[i/8] |= 0x80 >> (i % 8)
	}
	for i := range a {
		if a[i]&^m[i] != 0 {
			ps.errAt(t, "non-network bits set in \"%s/%d\"", t.s, bits)
		}
	}
	switch q.addr {
	case aDefault, aHost:
		if bits != 128 {
			ps.errAt(t, "Mask syntax for networks only")
		}
	case aNet:
	default:
		ps.errAt(t, "invalid qualifier against IPv6 address")
	}
	switch q.proto {
	case qDefault, qIP6:
	case qIP:
		ps.errAt(t, "'ip' modifier applied to ip6 host")
	case qLink:
		ps.errAt(t, "link-layer modifier applied to ip6 host")
	default:
		ps.errAt(t, "'%s' modifier applied to ip6 host", protoNames[q.proto])
	}
	one := func(off uint32) node {
		var b node = constNode(true)
		for w := 0; w < 4; w++ {
			mw := binary.BigEndian.Uint32(m[4*w:])
			if mw == 0 {
				continue
			}
			b = and(b, mcmp(sizeW, ps.lk.pl+off+uint32(4*w), binary.BigEndian.Uint32(a[4*w:]), mw))
		}
		return and(ps.linktype(0x86dd), b)
	}
	switch q.dir {
	case dSrc:
		return one(8)
	case dDst:
		return one(24)
	case dAnd:
		return and(one(8), one(24))
	}
	return or(one(8), one(24))
}

// genEcode is `ether [dir] host MAC`.
func (ps *parser) genEcode(t token, q qual) node {
	if !((q.addr == aHost || q.addr == aDefault) && q.proto == qLink) {
		ps.errAt(t, "ethernet address used in non-ether expression")
	}
	if !ps.lk.ether {
		ps.errAt(t, "ethernet addresses supported only on ethernet link types")
	}
	return ps.ehostop(parseMAC(t.s), q.dir)
}

func (ps *parser) ehostop(mac [6]byte, dir int) node {
	at := func(off uint32) node {
		return and(cmp(sizeW, off+2, binary.BigEndian.Uint32(mac[2:])), cmp(sizeH, off, uint32(binary.BigEndian.Uint16(mac[:2]))))
	}
	switch dir {
	case dSrc:
		return at(6)
	case dDst:
		return at(0)
	case dAnd:
		return and(at(6), at(0))
	}
	return or(at(6), at(0))
}

// genBroadcast: `[ether] broadcast` (destination ff:ff:ff:ff:ff:ff) or `ip broadcast` (destination
// 0.0.0.0 or 255.255.255.255: the netmask is not known, as for tcpdump -r).
func (ps *parser) genBroadcast(t token, proto int) node {
	switch proto {
	case qDefault, qLink:
		if !ps.lk.ether {
			ps.errAt(t, "not a broadcast link")
		}
		return ps.ehostop([6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, dDst)
	case qIP:
		dst := ps.lk.pl + 16
		return and(ps.linktype(0x0800), or(cmp(sizeW, dst, 0), cmp(sizeW, dst, 0xffffffff)))
	}
	ps.errAt(t, "only link-layer/IP broadcast filters supported")
	return nil
}

// genMulticast: `[ether] multicast` (group bit), `ip multicast` (224/4 and up), `ip6 multicast` (ff00::/8).
func (ps *parser) genMulticast(t token, proto int) node {
	switch proto {
	case qDefault, qLink:
		if !ps.lk.ether {
			ps.errAt(t, "not a broadcast link")
		}
		return jset(sizeB, 0, 1)
	case qIP:
		return and(ps.linktype(0x0800), cmpOp(sizeB, ps.lk.pl+16, jmpJGE, 224))
	case qIP6:
		return and(ps.linktype(0x86dd), cmp(sizeB, ps.lk.pl+24, 255))
	}
	ps.errAt(t, "link-layer multicast filters supported only on ethernet/FDDI/token ring/ARCNET/802.11/ATM LANE/Fibre Channel")
	return nil
}
