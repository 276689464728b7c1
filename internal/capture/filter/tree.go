package filter

// node is a boolean expression over one packet: the tree the parser builds and emit lays out.
type node interface{ isNode() }

type andNode struct{ l, r node }
type orNode struct{ l, r node }
type notNode struct{ x node }
type constNode bool

// testNode runs stmts (non-jump instructions that leave a value in A, and maybe use X and scratch
// memory), then a conditional jump: op is jmpJEQ/JGT/JGE/JSET | srcK/srcX, compared with k or X.
type testNode struct {
	stmts []insn
	op    uint16
	k     uint32
}

func (andNode) isNode()   {}
func (orNode) isNode()    {}
func (notNode) isNode()   {}
func (constNode) isNode() {}
func (*testNode) isNode() {}

// and builds l && r, folding constants where that cannot change which packets are accepted (a test
// whose load runs past the packet rejects the packet, so `x or true` keeps x).
func and(l, r node) node {
	if c, ok := l.(constNode); ok {
		if !c {
			return constNode(false)
		}
		return r
	}
	if c, ok := r.(constNode); ok {
		if c {
			return l
		}
		return constNode(false) // x && false rejects whether or not x's loads fit the packet
	}
	return andNode{l, r}
}

func or(l, r node) node {
	if c, ok := l.(constNode); ok {
		if c {
			return constNode(true)
		}
		return r
	}
	if c, ok := r.(constNode); ok && !bool(c) {
		return l
	}
	return orNode{l, r}
}

func not(x node) node {
	switch v := x.(type) {
	case constNode:
		return !v
	case notNode:
		return v.x
	}
	return notNode{x}
}

// Statement helpers.
func ldAbs(size uint16, off uint32) insn { return insn{op: clsLD | size | modeABS, k: off} }
func ldInd(size uint16, off uint32) insn { return insn{op: clsLD | size | modeIND, k: off} }
func ldImm(k uint32) insn                { return insn{op: clsLD | modeIMM, k: k} }
func ldLen() insn                        { return insn{op: clsLD | sizeW | modeLEN} }
func ldMem(r uint32) insn                { return insn{op: clsLD | modeMEM, k: r} }
func ldxMem(r uint32) insn               { return insn{op: clsLDX | modeMEM, k: r} }
func ldxMSH(off uint32) insn             { return insn{op: clsLDX | sizeB | modeMSH, k: off} }
func st(r uint32) insn                   { return insn{op: clsST, k: r} }
func aluK(op uint16, k uint32) insn      { return insn{op: clsALU | op | srcK, k: k} }
func aluX(op uint16) insn                { return insn{op: clsALU | op | srcX} }
func tax() insn                          { return insn{op: clsMISC | miscTAX} }

// cmp is "load (size at off) == v".
func cmp(size uint16, off, v uint32) node {
	return &testNode{stmts: []insn{ldAbs(size, off)}, op: jmpJEQ, k: v}
}

// mcmp is "(load & mask) == v"; a full mask is a plain comparison.
func mcmp(size uint16, off, v, mask uint32) node {
	full := map[uint16]uint32{sizeB: 0xff, sizeH: 0xffff, sizeW: 0xffffffff}[size]
	if mask&full == full {
		return cmp(size, off, v)
	}
	return &testNode{stmts: []insn{ldAbs(size, off), aluK(aluAND, mask)}, op: jmpJEQ, k: v}
}

// cmpOp is "load op v" for op JGT/JGE.
func cmpOp(size uint16, off uint32, op uint16, v uint32) node {
	return &testNode{stmts: []insn{ldAbs(size, off)}, op: op, k: v}
}

// jset is "(load & mask) != 0".
func jset(size uint16, off, mask uint32) node {
	return &testNode{stmts: []insn{ldAbs(size, off)}, op: jmpJSET, k: mask}
}
