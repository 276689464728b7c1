package filter

import (
	"fmt"
	"slices"
	"strconv"
)

// The optimiser tracks, along every path, which packet-derived value each register holds (a
// symbolic key such as "h[12]" for the half-word at offset 12) and what the jumps taken so far
// proved about those values. With that it deletes loads whose value a register already holds on
// every incoming path, and retargets a jump edge past loads that edge already has and past tests
// whose outcome that edge already decides. Skipping a load is only done when the same load already
// ran on that path, so a load that would run past the packet still rejects it exactly as before.

// fact is what the path proved about one value.
type fact struct {
	lo, hi   uint32   // lo <= v <= hi
	ne       []uint32 // v != each
	zero     uint32   // bits known clear (jset false)
	someSet  []uint32 // masks m with v&m != 0 (jset true)
	hasRange bool
}

type state struct {
	a, x  string
	m     [16]string
	facts map[string]fact
	// inPkt: every path here has loaded bytes up to this offset with absolute loads, so absolute
	// loads below it cannot run past the packet.
	inPkt uint32
}

func (s *state) clone() *state {
	c := *s
	c.facts = make(map[string]fact, len(s.facts))
	for k, v := range s.facts {
		c.facts[k] = v
	}
	return &c
}

func (s *state) get(key string) fact {
	if f, ok := s.facts[key]; ok {
		return f
	}
	if len(key) > 1 && key[0] == '#' {
		if v, err := strconv.ParseUint(key[1:], 10, 32); err == nil {
			return fact{lo: uint32(v), hi: uint32(v), hasRange: true}
		}
	}
	return fact{lo: 0, hi: 0xffffffff, hasRange: true}
}

// meet keeps what both paths know.
func meet(a, b *state) *state {
	if a == nil {
		return b.clone()
	}
	r := &state{facts: map[string]fact{}, inPkt: min(a.inPkt, b.inPkt)}
	if a.a == b.a {
		r.a = a.a
	}
	if a.x == b.x {
		r.x = a.x
	}
	for i := range a.m {
		if a.m[i] == b.m[i] {
			r.m[i] = a.m[i]
		}
	}
	for k, fa := range a.facts {
		fb, ok := b.facts[k]
		if !ok {
			continue
		}
		f := fact{lo: min(fa.lo, fb.lo), hi: max(fa.hi, fb.hi), zero: fa.zero & fb.zero, hasRange: true}
		for _, v := range fa.ne {
			if slices.Contains(fb.ne, v) {
				f.ne = append(f.ne, v)
			}
		}
		for _, m := range fa.someSet {
			if slices.Contains(fb.someSet, m) {
				f.someSet = append(f.someSet, m)
			}
		}
		r.facts[k] = f
	}
	return r
}

// decide returns the outcome of "v op k" if f settles it.
func decide(f fact, op uint16, k uint32) (outcome, known bool) {
	switch op {
	case jmpJEQ:
		if k < f.lo || k > f.hi || slices.Contains(f.ne, k) {
			return false, true
		}
		if f.lo == f.hi {
			return true, true
		}
	case jmpJGT:
		if f.lo > k {
			return true, true
		}
		if f.hi <= k {
			return false, true
		}
	case jmpJGE:
		if f.lo >= k {
			return true, true
		}
		if f.hi < k {
			return false, true
		}
	case jmpJSET:
		if f.lo == f.hi {
			return f.lo&k != 0, true
		}
		if k&^f.zero == 0 {
			return false, true
		}
		for _, m := range f.someSet {
			if m&^k == 0 {
				return true, true
			}
		}
	}
	return false, false
}

// learn records that "v op k" was outcome.
func learn(f fact, op uint16, k uint32, outcome bool) fact {
	f.ne = slices.Clone(f.ne)
	f.someSet = slices.Clone(f.someSet)
	switch op {
	case jmpJEQ:
		if outcome {
			f.lo, f.hi = k, k
		} else {
			f.ne = append(f.ne, k)
		}
	case jmpJGT:
		if outcome {
			if k < 0xffffffff {
				f.lo = max(f.lo, k+1)
			}
		} else {
			f.hi = min(f.hi, k)
		}
	case jmpJGE:
		if outcome {
			f.lo = max(f.lo, k)
		} else if k > 0 {
			f.hi = min(f.hi, k-1)
		}
	case jmpJSET:
		if outcome {
			f.someSet = append(f.someSet, k)
		} else {
			f.zero |= k
		}
	}
	return f
}

var aluName = map[uint16]string{aluADD: "+", aluSUB: "-", aluMUL: "*", aluDIV: "/", aluOR: "|",
	aluAND: "&", aluLSH: "<<", aluRSH: ">>", aluMOD: "%", aluXOR: "^", aluNEG: "neg"}

var sizeName = map[uint16]string{sizeW: "w", sizeH: "h", sizeB: "b"}

// loadKey is the value an instruction puts in A or X given state s ("" when unknown or not a load).
func loadKey(s *state, in insn) (key string, toX bool, ok bool) {
	switch in.class() {
	case clsLD:
		switch in.op & 0xe0 {
		case modeABS:
			return fmt.Sprintf("%s[%d]", sizeName[in.op&0x18], in.k), false, true
		case modeIND:
			if s.x == "" {
				return "", false, true
			}
			return fmt.Sprintf("%s[%s+%d]", sizeName[in.op&0x18], s.x, in.k), false, true
		case modeLEN:
			return "len", false, true
		case modeIMM:
			return "#" + strconv.FormatUint(uint64(in.k), 10), false, true
		case modeMEM:
			return s.m[in.k&15], false, true
		}
	case clsLDX:
		switch in.op & 0xe0 {
		case modeMSH:
			return fmt.Sprintf("msh[%d]", in.k), true, true
		case modeLEN:
			return "len", true, true
		case modeIMM:
			return "#" + strconv.FormatUint(uint64(in.k), 10), true, true
		case modeMEM:
			return s.m[in.k&15], true, true
		}
	}
	return "", false, false
}

// step applies a non-jump instruction to s.
func step(s *state, in insn) {
	if end, ok := absEnd(in); ok {
		s.inPkt = max(s.inPkt, end)
	}
	if key, toX, ok := loadKey(s, in); ok {
		if toX {
			s.x = key
		} else {
			s.a = key
		}
		return
	}
	switch in.class() {
	case clsST:
		s.m[in.k&15] = s.a
	case clsSTX:
		s.m[in.k&15] = s.x
	case clsALU:
		op := in.op & 0xf0
		switch {
		case s.a == "":
		case op == aluNEG:
			s.a = "(neg " + s.a + ")"
		case in.op&srcX != 0:
			if s.x == "" {
				s.a = ""
			} else {
				s.a = "(" + s.a + aluName[op] + s.x + ")"
			}
		default:
			s.a = "(" + s.a + aluName[op] + "#" + strconv.FormatUint(uint64(in.k), 10) + ")"
		}
	case clsMISC:
		if in.op&0xf8 == miscTXA {
			s.a = s.x
		} else {
			s.x = s.a
		}
	}
}

// redundant reports whether in changes nothing in state s.
func redundant(s *state, in insn) bool {
	if key, toX, ok := loadKey(s, in); ok {
		if key == "" {
			return false
		}
		if toX {
			return s.x == key
		}
		return s.a == key
	}
	switch in.class() {
	case clsST:
		return s.a != "" && s.m[in.k&15] == s.a
	case clsMISC:
		return s.a != "" && s.a == s.x
	}
	return false
}

// absEnd is the packet offset an absolute load (or ldx 4*([k]&0xf)) needs, if in is one.
func absEnd(in insn) (uint32, bool) {
	switch {
	case in.class() == clsLD && in.op&0xe0 == modeABS:
		return in.k + map[uint16]uint32{sizeW: 4, sizeH: 2, sizeB: 1}[in.op&0x18], true
	case in.class() == clsLDX && in.op&0xe0 == modeMSH:
		return in.k + 1, true
	}
	return 0, false
}

// liveness computes, for each instruction, whether A and X may be read before being written.
func liveness(prog []insn) (liveA, liveX []bool) {
	n := len(prog)
	liveA, liveX = make([]bool, n+1), make([]bool, n+1)
	for i := n - 1; i >= 0; i-- {
		in := prog[i]
		var outA, outX bool
		switch {
		case in.op == opNop:
			outA, outX = liveA[i+1], liveX[i+1]
		case in.isRet():
		case in.isCond():
			outA, outX = liveA[in.jt] || liveA[in.jf], liveX[in.jt] || liveX[in.jf]
		case in.isJump():
			outA, outX = liveA[in.jt], liveX[in.jt]
		default:
			outA, outX = liveA[i+1], liveX[i+1]
		}
		useA, useX, defA, defX := false, false, false, false
		switch in.class() {
		case clsLD:
			defA, useX = true, in.op&0xe0 == modeIND
		case clsLDX:
			defX = true
		case clsST:
			useA = true
		case clsSTX:
			useX = true
		case clsALU:
			useA, defA, useX = true, true, in.op&srcX != 0 && in.op&0xf0 != aluNEG
		case clsMISC:
			if in.op&0xf8 == miscTXA {
				useX, defA = true, true
			} else {
				useA, defX = true, true
			}
		case clsJMP:
			if in.isCond() {
				useA, useX = true, in.op&srcX != 0
			}
		case clsRET:
			useA = in.op&0x18 == retA
		}
		if in.op == opNop {
			useA, useX, defA, defX = false, false, false, false
		}
		liveA[i] = useA || (outA && !defA)
		liveX[i] = useX || (outX && !defX)
	}
	return liveA, liveX
}

// thread follows target t from state s (already including the edge's facts) past instructions whose
// effect s already has, past tests s decides, and past absolute loads that cannot fail (their
// result then differs from the real path, so the walk may only stop where that register is dead).
// It returns where the edge can jump instead, and the state there.
func thread(prog []insn, liveA, liveX []bool, s *state, t int) (int, *state) {
	best, bestState := t, s.clone()
	dirtyA, dirtyX := false, false
	for steps := 0; steps < 4*len(prog); steps++ {
		in := prog[t]
		switch {
		case in.op == opNop:
			t++
		case in.isJump() && !in.isCond():
			t = in.jt
		case in.isCond():
			if in.op&srcX != 0 || s.a == "" {
				return best, bestState
			}
			out, known := decide(s.get(s.a), in.op&0xf0, in.k)
			if !known {
				return best, bestState
			}
			if out {
				t = in.jt
			} else {
				t = in.jf
			}
		case in.isRet():
			return best, bestState
		case redundant(s, in):
			t++
		case in.class() == clsALU && in.op&srcX == 0 && in.op&0xf0 != aluDIV && in.op&0xf0 != aluMOD:
			step(s, in) // cannot fail; the real A now differs
			dirtyA = true
			t++
		default:
			end, isAbs := absEnd(in)
			if !isAbs || end > s.inPkt {
				return best, bestState
			}
			key, toX, _ := loadKey(s, in)
			if toX {
				s.x, dirtyX = key, true
			} else {
				s.a, dirtyA = key, true
			}
			t++
		}
		if (!dirtyA || !liveA[t]) && (!dirtyX || !liveX[t]) {
			best, bestState = t, s.clone()
			if dirtyA {
				bestState.a = ""
			}
			if dirtyX {
				bestState.x = ""
			}
		}
	}
	return best, bestState
}

// pass runs one forward data-flow pass; it reports whether it changed the program.
func pass(prog []insn) bool {
	changed := false
	liveA, liveX := liveness(prog)
	in := make([]*state, len(prog)+1)
	in[0] = &state{facts: map[string]fact{}}
	push := func(t int, s *state) { in[t] = meet(in[t], s) }
	for i := range prog {
		s := in[i]
		if s == nil {
			continue
		}
		ins := &prog[i]
		switch {
		case ins.op == opNop:
			push(i+1, s)
		case ins.isRet():
		case ins.isCond():
			if ins.op&srcX == 0 && s.a != "" {
				if out, known := decide(s.get(s.a), ins.op&0xf0, ins.k); known {
					// Every path here settles the test: it becomes a plain jump.
					t := ins.jf
					if out {
						t = ins.jt
					}
					*ins = insn{op: clsJMP | jmpJA, jt: t}
					changed = true
					push(t, s)
					continue
				}
			}
			for _, outcome := range []bool{true, false} {
				es := s.clone()
				if ins.op&srcX == 0 && s.a != "" {
					es.facts[s.a] = learn(s.get(s.a), ins.op&0xf0, ins.k, outcome)
				}
				tgt := &ins.jt
				if !outcome {
					tgt = &ins.jf
				}
				nt, ns := thread(prog, liveA, liveX, es, *tgt)
				if nt != *tgt {
					*tgt = nt
					changed = true
				}
				push(*tgt, ns)
			}
		case ins.isJump():
			nt, ns := thread(prog, liveA, liveX, s.clone(), ins.jt)
			if nt != ins.jt {
				ins.jt = nt
				changed = true
			}
			push(ins.jt, ns)
		default:
			if redundant(s, *ins) {
				ins.op = opNop
				changed = true
				push(i+1, s)
				continue
			}
			ns := s.clone()
			step(ns, *ins)
			push(i+1, ns)
		}
	}
	// Unreachable instructions become no-ops.
	for i := range prog {
		if in[i] == nil && prog[i].op != opNop {
			prog[i].op = opNop
			changed = true
		}
	}
	return changed
}

// compact drops no-ops and jumps to the next instruction, and turns a conditional jump with equal
// targets into ja; it reports whether it removed anything.
func compact(prog []insn) ([]insn, bool) {
	removed := false
	for i := range prog {
		if prog[i].isCond() && prog[i].jt == prog[i].jf {
			prog[i] = insn{op: clsJMP | jmpJA, jt: prog[i].jt}
		}
	}
	// next[i]: the first instruction at or after i that is not a no-op.
	next := make([]int, len(prog)+1)
	next[len(prog)] = len(prog)
	for i := len(prog) - 1; i >= 0; i-- {
		if prog[i].op == opNop {
			next[i] = next[i+1]
		} else {
			next[i] = i
		}
	}
	for i := range prog {
		if prog[i].op == opNop {
			continue
		}
		if prog[i].isJump() {
			prog[i].jt = next[prog[i].jt]
			if prog[i].isCond() {
				prog[i].jf = next[prog[i].jf]
			} else if prog[i].jt == next[i+1] {
				prog[i].op = opNop
			}
		}
	}
	newIdx := make([]int, len(prog)+1)
	var out []insn
	for i := range prog {
		newIdx[i] = len(out)
		if prog[i].op == opNop {
			removed = true
			continue
		}
		out = append(out, prog[i])
	}
	newIdx[len(prog)] = len(out)
	for i := range out {
		if out[i].isJump() {
			out[i].jt = newIdx[next[out[i].jt]]
			if out[i].isCond() {
				out[i].jf = newIdx[next[out[i].jf]]
			}
		}
	}
	return out, removed
}

// merge redirects every jump to the last copy of identical code (same instructions, same
// successors), so earlier copies become unreachable: libpcap's block interning. It also sends
// every edge whose paths all end in "ret #0" straight to a "ret #0" (a load that would fail on the
// way returns 0 as well). It reports whether it changed anything.
func merge(prog []insn) bool {
	n := len(prog)
	canon := make([]int, n)
	reps := map[string]int{}
	zero := make([]bool, n)
	zeroAt := -1
	for i := n - 1; i >= 0; i-- {
		in := prog[i]
		var key string
		switch {
		case in.isRet():
			key = fmt.Sprintf("%x/%x", in.op, in.k)
			zero[i] = in.op&0x18 == retK && in.k == 0
			if zero[i] && zeroAt < 0 {
				zeroAt = i
			}
		case in.isCond():
			key = fmt.Sprintf("%x/%x/%d/%d", in.op, in.k, canon[in.jt], canon[in.jf])
			zero[i] = zero[in.jt] && zero[in.jf]
		case in.isJump():
			key = fmt.Sprintf("ja/%d", canon[in.jt])
			zero[i] = zero[in.jt]
		default:
			key = fmt.Sprintf("%x/%x/%d", in.op, in.k, canon[i+1])
			zero[i] = zero[i+1]
		}
		if r, ok := reps[key]; ok {
			canon[i] = r
		} else {
			reps[key], canon[i] = i, i
		}
	}
	changed := false
	redirect := func(t int) int {
		if zero[t] && zeroAt >= 0 {
			return zeroAt
		}
		return canon[t]
	}
	for i := range prog {
		if !prog[i].isJump() {
			continue
		}
		if t := redirect(prog[i].jt); t != prog[i].jt {
			prog[i].jt, changed = t, true
		}
		if prog[i].isCond() {
			if t := redirect(prog[i].jf); t != prog[i].jf {
				prog[i].jf, changed = t, true
			}
		}
	}
	if zero[0] && !prog[0].isRet() && zeroAt >= 0 {
		prog[0] = insn{op: clsJMP | jmpJA, jt: zeroAt}
		changed = true
	}
	return changed
}

// optimize runs passes until nothing changes (bounded).
func optimize(prog []insn) []insn {
	for round := 0; round < 50; round++ {
		c1 := pass(prog)
		var c2 bool
		prog, c2 = compact(prog)
		c3 := merge(prog)
		if c3 {
			prog, _ = compact(prog)
		}
		if !c1 && !c2 && !c3 {
			break
		}
	}
	return prog
}
