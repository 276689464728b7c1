package filter

import "fmt"

// link holds the offsets libpcap calls off_linktype and off_linkpl for one link type; `vlan`
// moves both by 4 as the expression is parsed.
type link struct {
	typ     int
	ether   bool   // frames carry Ethernet MAC addresses at 0 (dst) and 6 (src)
	hasType bool   // a 16-bit protocol (EtherType) field sits at offType
	offType uint32 // offset of the EtherType
	pl      uint32 // offset of the network-layer header
}

func linkFor(t int) (link, error) {
	switch t {
	case LinkTypeEthernet:
		return link{typ: t, ether: true, hasType: true, offType: 12, pl: 14}, nil
	case LinkTypeLinuxSLL:
		return link{typ: t, hasType: true, offType: 14, pl: 16}, nil
	case LinkTypeLinuxSLL2:
		return link{typ: t, hasType: true, offType: 0, pl: 20}, nil
	case LinkTypeRaw, LinkTypeRawDLT, LinkTypeRawOpenBSD:
		return link{typ: t}, nil
	}
	return link{}, fmt.Errorf("filter: link type %d is not supported (want 1 Ethernet, 113 or 276 Linux cooked, 12/14/101 raw IP)", t)
}

// linktype is libpcap's gen_linktype: "the link layer carries protocol v" (an EtherType, or an
// 802.2 LLC SAP when v <= 1500).
func (ps *parser) linktype(v uint32) node {
	lk := ps.lk
	if !lk.hasType {
		switch v {
		case 0x0800:
			return mcmp(sizeB, 0, 0x40, 0xf0)
		case 0x86dd:
			return mcmp(sizeB, 0, 0x60, 0xf0)
		}
		return constNode(false)
	}
	if v <= 1500 {
		if lk.ether {
			return and(not(cmpOp(sizeH, lk.offType, jmpJGT, 1500)), cmp(sizeB, lk.pl, v))
		}
		// Linux cooked: protocol 4 (ETH_P_802_2) means an 802.2 LLC header follows.
		return and(cmp(sizeH, lk.offType, 0x0004), cmp(sizeB, lk.pl, v))
	}
	return cmp(sizeH, lk.offType, v)
}

// ipFrag is "not a fragment other than the first": ip[6:2] & 0x1fff == 0.
func (ps *parser) ipFrag() node {
	return not(jset(sizeH, ps.lk.pl+6, 0x1fff))
}

// genVLAN is libpcap's savefile `vlan [id]`: TPID 0x8100, 0x88a8 or 0x9100 at the EtherType offset,
// then the VID, and every later primitive looks 4 bytes further.
func (ps *parser) genVLAN(t token, id uint32, hasID bool) node {
	if !ps.lk.ether {
		ps.errAt(t, "no VLAN support for link type %d", ps.lk.typ)
	}
	if hasID && id > 4095 {
		ps.errAt(t, "VLAN tag %d greater than maximum 4095", id)
	}
	b := or(or(ps.linktype(0x8100), ps.linktype(0x88a8)), ps.linktype(0x9100))
	if hasID {
		b = and(b, mcmp(sizeH, ps.lk.pl, id, 0x0fff))
	}
	ps.lk.offType += 4
	ps.lk.pl += 4
	return b
}
