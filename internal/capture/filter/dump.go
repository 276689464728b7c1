package filter

import (
	"fmt"
	"strings"

	"golang.org/x/net/bpf"
)

// Dump renders prog like `tcpdump -d`: one instruction per line, "(NNN) mnemonic operand", jumps
// with absolute "jt N  jf N" targets, and a trailing newline.
func Dump(prog []bpf.Instruction) string {
	var b strings.Builder
	for i, ins := range prog {
		raw, err := ins.Assemble()
		if err != nil {
			fmt.Fprintf(&b, "(%03d) %-8s %v\n", i, "invalid", ins)
			continue
		}
		fmt.Fprintln(&b, image(raw, i))
	}
	return b.String()
}

// image is libpcap's bpf_image for one instruction at index n.
func image(in bpf.RawInstruction, n int) string {
	op, operand := "unimp", fmt.Sprintf("0x%x", in.Op)
	k := in.K
	jump := false
	switch in.Op & 0x07 {
	case clsRET:
		op = "ret"
		if in.Op&0x18 == retA {
			operand = ""
		} else {
			operand = fmt.Sprintf("#%d", k)
		}
	case clsLD:
		op = map[uint16]string{sizeW: "ld", sizeH: "ldh", sizeB: "ldb"}[in.Op&0x18]
		switch in.Op & 0xe0 {
		case modeABS:
			operand = fmt.Sprintf("[%d]", k)
		case modeIND:
			operand = fmt.Sprintf("[x + %d]", k)
		case modeIMM:
			op, operand = "ld", fmt.Sprintf("#0x%x", k)
		case modeLEN:
			op, operand = "ld", "#pktlen"
		case modeMEM:
			op, operand = "ld", fmt.Sprintf("M[%d]", k)
		}
	case clsLDX:
		op = "ldx"
		switch in.Op & 0xe0 {
		case modeIMM:
			operand = fmt.Sprintf("#0x%x", k)
		case modeMEM:
			operand = fmt.Sprintf("M[%d]", k)
		case modeLEN:
			operand = "#pktlen"
		case modeMSH:
			op, operand = "ldxb", fmt.Sprintf("4*([%d]&0xf)", k)
		}
	case clsST:
		op, operand = "st", fmt.Sprintf("M[%d]", k)
	case clsSTX:
		op, operand = "stx", fmt.Sprintf("M[%d]", k)
	case clsJMP:
		name := map[uint16]string{jmpJA: "ja", jmpJEQ: "jeq", jmpJGT: "jgt", jmpJGE: "jge", jmpJSET: "jset"}[in.Op&0xf0]
		if in.Op&0xf0 == jmpJA {
			op, operand = "ja", fmt.Sprintf("%d", n+1+int(k))
			break
		}
		op, jump = name, true
		if in.Op&srcX != 0 {
			operand = "x"
		} else {
			operand = fmt.Sprintf("#0x%x", k)
		}
	case clsALU:
		name := map[uint16]string{aluADD: "add", aluSUB: "sub", aluMUL: "mul", aluDIV: "div",
			aluMOD: "mod", aluAND: "and", aluOR: "or", aluXOR: "xor", aluLSH: "lsh", aluRSH: "rsh",
			aluNEG: "neg"}[in.Op&0xf0]
		op = name
		switch {
		case in.Op&0xf0 == aluNEG:
			operand = ""
		case in.Op&srcX != 0:
			operand = "x"
		case in.Op&0xf0 == aluAND || in.Op&0xf0 == aluOR || in.Op&0xf0 == aluXOR:
			operand = fmt.Sprintf("#0x%x", k)
		default:
			operand = fmt.Sprintf("#%d", k)
		}
	case clsMISC:
		op, operand = "tax", ""
		if in.Op&0xf8 == miscTXA {
			op = "txa"
		}
	}
	if jump {
		return fmt.Sprintf("(%03d) %-8s %-16s jt %d\tjf %d", n, op, operand, n+1+int(in.Jt), n+1+int(in.Jf))
	}
	return fmt.Sprintf("(%03d) %-8s %s", n, op, operand)
}
