package filter

const protoUndef = -1

// portProto maps the protocol qualifier of `port`/`portrange` to an IP protocol number.
func (ps *parser) portProto(t token, proto int) int {
	switch proto {
	case qDefault:
		return protoUndef
	case qTCP:
		return 6
	case qUDP:
		return 17
	case qSCTP:
		return 132
	}
	ps.errAt(t, "illegal qualifier of 'port'")
	return 0
}

// genPorts is libpcap's gen_port/gen_port6 (or the portrange variants): over IPv6 (fixed 40-byte
// header, no extension headers) or IPv4 (header length from IHL, first fragment only).
func (ps *parser) genPorts(t token, lo, hi uint32, ipProto int, dir int, isRange bool) node {
	if lo > hi {
		lo, hi = hi, lo
	}
	pl := ps.lk.pl
	atom := func(load func() []insn, off uint32) node {
		if !isRange {
			return &testNode{stmts: load(), op: jmpJEQ, k: lo}
		}
		ge := &testNode{stmts: load(), op: jmpJGE, k: lo}
		gt := &testNode{stmts: load(), op: jmpJGT, k: hi}
		return and(ge, not(gt))
	}
	dirs := func(at func(off uint32) node) node {
		switch dir {
		case dSrc:
			return at(0)
		case dDst:
			return at(2)
		case dAnd:
			return and(at(0), at(2))
		case dDefault, dOr:
			return or(at(0), at(2))
		}
		ps.errAt(t, "illegal direction for port")
		return nil
	}
	v4at := func(off uint32) node {
		return atom(func() []insn { return []insn{ldxMSH(pl), ldInd(sizeH, pl+off)} }, off)
	}
	v6at := func(off uint32) node {
		return atom(func() []insn { return []insn{ldAbs(sizeH, pl+40+off)} }, off)
	}
	protos := []uint32{132, 6, 17} // libpcap's order
	if ipProto != protoUndef {
		protos = []uint32{uint32(ipProto)}
	}
	var v4, v6 node = constNode(false), constNode(false)
	for _, p := range protos {
		v4 = or(v4, and(and(cmp(sizeB, pl+9, p), ps.ipFrag()), dirs(v4at)))
		v6 = or(v6, and(cmp(sizeB, pl+6, p), dirs(v6at)))
	}
	return or(and(ps.linktype(0x86dd), v6), and(ps.linktype(0x0800), v4))
}
