package filter

// insn is one instruction of the program being built. For conditional jumps jt/jf are absolute
// instruction indexes (label ids while emitting); for ja, jt is the target.
type insn struct {
	op     uint16
	k      uint32
	jt, jf int
}

func (i insn) class() uint16 { return i.op & 0x07 }
func (i insn) isJump() bool  { return i.class() == clsJMP }
func (i insn) isCond() bool  { return i.isJump() && i.op&0xf0 != jmpJA }
func (i insn) isRet() bool   { return i.class() == clsRET }

// opNop marks an instruction deleted by the optimiser (never assembled).
const opNop = 0xffff

type emitter struct {
	prog   []insn
	labels []int // label id -> instruction index (-1 until placed)
}

func (e *emitter) label() int  { e.labels = append(e.labels, -1); return len(e.labels) - 1 }
func (e *emitter) place(l int) { e.labels[l] = len(e.prog) }

// gen lays out n so that control reaches label t when n is true and label f when it is false.
func (e *emitter) gen(n node, t, f int) {
	switch v := n.(type) {
	case constNode:
		target := f
		if v {
			target = t
		}
		e.prog = append(e.prog, insn{op: clsJMP | jmpJA, jt: target})
	case *testNode:
		e.prog = append(e.prog, v.stmts...)
		e.prog = append(e.prog, insn{op: clsJMP | v.op, k: v.k, jt: t, jf: f})
	case andNode:
		m := e.label()
		e.gen(v.l, m, f)
		e.place(m)
		e.gen(v.r, t, f)
	case orNode:
		m := e.label()
		e.gen(v.l, t, m)
		e.place(m)
		e.gen(v.r, t, f)
	case notNode:
		e.gen(v.x, f, t)
	}
}

// emit lays out the whole program: root, then "ret #snaplen" (accept) and "ret #0" (reject), with
// every jump target an absolute instruction index.
func emit(root node, snaplen uint32) []insn {
	if c, ok := root.(constNode); ok {
		k := uint32(0)
		if c {
			k = snaplen
		}
		return []insn{{op: clsRET | retK, k: k}}
	}
	e := &emitter{}
	t, f := e.label(), e.label()
	e.gen(root, t, f)
	e.place(t)
	e.prog = append(e.prog, insn{op: clsRET | retK, k: snaplen})
	e.place(f)
	e.prog = append(e.prog, insn{op: clsRET | retK, k: 0})
	for i := range e.prog {
		if e.prog[i].isJump() {
			e.prog[i].jt = e.labels[e.prog[i].jt]
			if e.prog[i].isCond() {
				e.prog[i].jf = e.labels[e.prog[i].jf]
			}
		}
	}
	return e.prog
}
