package filter

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// assemble turns absolute jump targets into the relative offsets of classic BPF. A conditional jump
// can only skip 255 instructions, so a farther edge goes through an inserted "ja" placed right after
// the jump (ja has a 32-bit offset).
func assemble(prog []insn) ([]bpf.RawInstruction, error) {
	for {
		far := -1
		for i, in := range prog {
			if in.isCond() && (in.jt-i-1 > 255 || in.jf-i-1 > 255) {
				far = i
				break
			}
		}
		if far < 0 {
			break
		}
		if len(prog) > 4*MaxInstructions {
			return nil, fmt.Errorf("filter: program too large")
		}
		// Insert a trampoline after far; shift every target beyond far by one.
		in := prog[far]
		var tramp insn
		if in.jt-far-1 > 255 {
			tramp = insn{op: clsJMP | jmpJA, jt: in.jt}
		} else {
			tramp = insn{op: clsJMP | jmpJA, jt: in.jf}
		}
		out := make([]insn, 0, len(prog)+1)
		out = append(out, prog[:far+1]...)
		out = append(out, tramp)
		out = append(out, prog[far+1:]...)
		for i := range out {
			if i == far+1 || !out[i].isJump() {
				continue
			}
			if out[i].jt > far {
				out[i].jt++
			}
			if out[i].isCond() && out[i].jf > far {
				out[i].jf++
			}
		}
		out[far+1].jt++ // the trampoline's own target moved too
		if in.jt-far-1 > 255 {
			out[far].jt = far + 1
		} else {
			out[far].jf = far + 1
		}
		prog = out
	}
	if len(prog) > MaxInstructions {
		return nil, fmt.Errorf("filter: program has %d instructions, more than the kernel's %d", len(prog), MaxInstructions)
	}
	raw := make([]bpf.RawInstruction, len(prog))
	for i, in := range prog {
		r := bpf.RawInstruction{Op: in.op, K: in.k}
		if in.isJump() {
			if in.isCond() {
				r.Jt, r.Jf = uint8(in.jt-i-1), uint8(in.jf-i-1)
			} else {
				r.K = uint32(in.jt - i - 1)
			}
		}
		raw[i] = r
	}
	return raw, nil
}
