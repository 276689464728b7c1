package filter

// arth is an arithmetic operand: code that leaves its value in A, the protocol checks that must hold
// for the value to mean anything (libpcap ANDs them with the relation), and, for constants, the value.
type arth struct {
	stmts  []insn
	guards node // nil: none
	konst  bool
	val    uint32
	regs   int // scratch registers M[0..regs-1] the code uses
}

func andGuards(a, b node) node {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return and(a, b)
}

func (a arth) code() []insn {
	if a.konst {
		return []insn{ldImm(a.val)}
	}
	return a.stmts
}

// parseRelation: arth relop arth.
func (ps *parser) parseRelation() node {
	a0 := ps.parseArth(0)
	t := ps.next()
	var op uint16
	reversed := false
	switch {
	case t.is(">"):
		op = jmpJGT
	case t.is(">="):
		op = jmpJGE
	case t.is("="), t.is("=="):
		op = jmpJEQ
	case t.is("<"):
		op, reversed = jmpJGE, true
	case t.is("<="):
		op, reversed = jmpJGT, true
	case t.is("!="):
		op, reversed = jmpJEQ, true
	default:
		ps.errAt(t, "syntax error, expected a relational operator")
	}
	a1 := ps.parseArth(0)
	var test node
	if a1.konst {
		test = &testNode{stmts: a0.code(), op: op, k: a1.val}
	} else {
		r := uint32(max(a0.regs, a1.regs))
		ps.checkReg(t, r)
		stmts := append([]insn{}, a1.code()...)
		stmts = append(stmts, st(r))
		stmts = append(stmts, a0.code()...)
		stmts = append(stmts, ldxMem(r))
		test = &testNode{stmts: stmts, op: op | srcX}
	}
	if reversed {
		test = not(test)
	}
	if g := andGuards(a0.guards, a1.guards); g != nil {
		return and(g, test)
	}
	return test
}

func (ps *parser) checkReg(t token, r uint32) {
	if r >= 16 {
		ps.errAt(t, "too many registers needed to evaluate expression")
	}
}

var binLevels = [][]string{{"|", "^"}, {"&"}, {"<<", ">>"}, {"+", "-"}, {"*", "/", "%"}}

var binOps = map[string]uint16{"|": aluOR, "^": aluXOR, "&": aluAND, "<<": aluLSH, ">>": aluRSH,
	"+": aluADD, "-": aluSUB, "*": aluMUL, "/": aluDIV, "%": aluMOD}

// parseArth parses binary operators of precedence level and above, left-associative.
func (ps *parser) parseArth(level int) arth {
	if level == len(binLevels) {
		return ps.parseUnary()
	}
	a := ps.parseArth(level + 1)
	for {
		t := ps.peek()
		found := false
		for _, s := range binLevels[level] {
			if t.is(s) {
				found = true
			}
		}
		if !found {
			return a
		}
		ps.next()
		b := ps.parseArth(level + 1)
		a = ps.binary(t, binOps[t.s], a, b)
	}
}

func (ps *parser) binary(t token, op uint16, a0, a1 arth) arth {
	if a1.konst {
		if (op == aluDIV || op == aluMOD) && a1.val == 0 {
			if op == aluDIV {
				ps.errAt(t, "division by zero")
			}
			ps.errAt(t, "modulus by zero")
		}
		if (op == aluLSH || op == aluRSH) && a1.val > 31 {
			ps.errAt(t, "shift by more than 31 bits")
		}
	}
	if a0.konst && a1.konst {
		return arth{konst: true, val: fold(op, a0.val, a1.val)}
	}
	out := arth{guards: andGuards(a0.guards, a1.guards)}
	if a1.konst {
		out.stmts = append(append([]insn{}, a0.code()...), aluK(op, a1.val))
		out.regs = a0.regs
		return out
	}
	r := uint32(max(a0.regs, a1.regs))
	ps.checkReg(t, r)
	out.stmts = append(out.stmts, a1.code()...)
	out.stmts = append(out.stmts, st(r))
	out.stmts = append(out.stmts, a0.code()...)
	out.stmts = append(out.stmts, ldxMem(r), aluX(op))
	out.regs = int(r) + 1
	return out
}

func fold(op uint16, a, b uint32) uint32 {
	switch op {
	case aluADD:
		return a + b
	case aluSUB:
		return a - b
	case aluMUL:
		return a * b
	case aluDIV:
		return a / b
	case aluMOD:
		return a % b
	case aluAND:
		return a & b
	case aluOR:
		return a | b
	case aluXOR:
		return a ^ b
	case aluLSH:
		return a << b
	case aluRSH:
		return a >> b
	}
	return 0
}

// parseUnary: '-' unary | NUM | len | pname '[' arth [':' size] ']' | '(' arth ')'.
func (ps *parser) parseUnary() arth {
	t := ps.next()
	switch {
	case t.is("-"):
		a := ps.parseUnary()
		if a.konst {
			return arth{konst: true, val: -a.val}
		}
		// -A as A * 0xffffffff (mod 2^32): x/net/bpf's VM has no BPF_NEG.
		a.stmts = append(append([]insn{}, a.stmts...), aluK(aluMUL, 0xffffffff))
		return a
	case t.kind == tNum:
		return arth{konst: true, val: t.n}
	case t.is("len"):
		return arth{stmts: []insn{ldLen()}}
	case t.is("("):
		a := ps.parseArth(0)
		ps.expect(")")
		return a
	case t.kind == tKW:
		if proto, ok := pnames[t.s]; ok && ps.peek().is("[") {
			ps.next()
			idx := ps.parseArth(0)
			size := uint32(1)
			if ps.peek().is(":") {
				ps.next()
				s := ps.next()
				if s.kind != tNum {
					ps.errAt(s, "syntax error, expected a size")
				}
				size = s.n
				if size != 1 && size != 2 && size != 4 {
					ps.errAt(s, "data size must be 1, 2, or 4")
				}
			}
			ps.expect("]")
			return ps.genLoad(t, proto, idx, size)
		}
	}
	ps.errAt(t, "syntax error")
	return arth{}
}

var sizeCode = map[uint32]uint16{1: sizeB, 2: sizeH, 4: sizeW}

// genLoad is proto[idx:size], with libpcap's protocol checks.
func (ps *parser) genLoad(t token, proto int, idx arth, size uint32) arth {
	sz := sizeCode[size]
	lk := ps.lk
	out := arth{regs: idx.regs}
	// load at base+idx, where base is constant; X is free to use.
	direct := func(base uint32) []insn {
		if idx.konst {
			return []insn{ldAbs(sz, base+idx.val)}
		}
		return append(append([]insn{}, idx.stmts...), tax(), ldInd(sz, base))
	}
	switch proto {
	case qLink:
		out.stmts = direct(0)
		out.guards = idx.guards
	case qIP, qIP6, qARP, qRARP:
		out.stmts = direct(lk.pl)
		out.guards = andGuards(idx.guards, ps.genProtoAbbrev(t, proto))
	case qTCP, qUDP, qICMP, qSCTP, qIGMP:
		if idx.konst {
			out.stmts = []insn{ldxMSH(lk.pl), ldInd(sz, lk.pl+idx.val)}
		} else {
			r := uint32(idx.regs)
			ps.checkReg(t, r)
			out.stmts = append(append([]insn{}, idx.stmts...), st(r), ldxMSH(lk.pl), ldMem(r),
				aluX(aluADD), tax(), ldInd(sz, lk.pl))
			out.regs = int(r) + 1
		}
		g := andGuards(idx.guards, and(ps.genProtoAbbrev(t, proto), ps.ipFrag()))
		out.guards = and(ps.linktype(0x800), g)
	case qICMP6:
		out.stmts = direct(lk.pl + 40)
		out.guards = and(andGuards(idx.guards, ps.linktype(0x86dd)), cmp(sizeB, lk.pl+6, 58))
	default:
		ps.errAt(t, "%q is not supported in a load", t.s)
	}
	return out
}
