// Package filter compiles tcpdump filter expressions (pcap-filter(7)) into classic BPF, in pure Go,
// with the semantics of libpcap 1.10 for savefiles (`tcpdump -r`): the same packets are accepted.
//
// The compiler is a recursive-descent parser that builds a boolean tree of tests (the same shapes
// libpcap's gencode.c builds), a code generator that lays the tree out with short-circuit jumps, and
// an optimiser that removes redundant loads and threads jumps whose outcome is already known on the
// path that reaches them. Programs always fit the kernel's classic BPF limits: at most 4096
// instructions, every jump forward and in range (long conditional jumps go through `ja`), ending in
// a return.
//
// VLAN: `vlan [ID]` is compiled like libpcap compiles it for savefiles, by looking at the bytes of
// the frame (TPID 0x8100, 0x88a8 or 0x9100 at the current link-type offset), and every primitive
// after it in the expression looks 4 bytes further. A live AF_PACKET capture does not see the
// outer tag in the frame bytes (the kernel moves it to metadata); a live capture that needs `vlan`
// must either reinsert the tag from PACKET_AUXDATA and filter in user space with the same program,
// or attach a program built with the SKF_AD_VLAN_TAG_PRESENT ancillary loads (not done here).
// UsesVLAN tells the capture engine when an expression needs that decision.
package filter

import (
	"fmt"
	"strings"

	"golang.org/x/net/bpf"
)

// Link types (pcap LINKTYPE_ / DLT_ values) that Compile understands.
const (
	// LinkTypeEthernet is DLT_EN10MB: 14-byte Ethernet header.
	LinkTypeEthernet = 1
	// LinkTypeRawDLT is DLT_RAW as Linux numbers it: the packet starts with the IP header.
	LinkTypeRawDLT = 12
	// LinkTypeRawOpenBSD is DLT_RAW as OpenBSD numbers it (same layout as LinkTypeRaw).
	LinkTypeRawOpenBSD = 14
	// LinkTypeRaw is LINKTYPE_RAW as written in pcap files: the packet starts with the IP header.
	LinkTypeRaw = 101
	// LinkTypeLinuxSLL is Linux "cooked" capture v1 (the "any" device): 16-byte header, protocol at 14.
	LinkTypeLinuxSLL = 113
	// LinkTypeLinuxSLL2 is Linux cooked capture v2: 20-byte header, protocol at 0.
	LinkTypeLinuxSLL2 = 276
)

// MaxInstructions is the classic BPF program size limit the kernel enforces (BPF_MAXINSNS).
const MaxInstructions = 4096

// SyntaxError reports a filter expression that cannot be compiled: a syntax error, or a primitive
// that is not valid (for the link type, or at all). Pos is the byte offset of the offending token in
// Expr (len(Expr) at the end of input) and Token its text ("" at the end).
type SyntaxError struct {
	Expr  string // the expression as given
	Pos   int    // byte offset of the offending token
	Token string // the offending token, "" at the end of the expression
	Msg   string // what is wrong, lowercase, no trailing period
}

// Error returns one line: the message, the token, and the expression with a marker at Pos, such as
// `filter: syntax error at "80x" (offset 5): port 80x`.
func (e *SyntaxError) Error() string {
	tok := fmt.Sprintf("%q", e.Token)
	if e.Token == "" {
		tok = "end of expression"
	}
	expr := strings.Join(strings.Fields(e.Expr), " ")
	return fmt.Sprintf("filter: %s at %s (offset %d) in %q", e.Msg, tok, e.Pos, expr)
}

// Compile compiles a tcpdump filter expression for a link type and snaplen into classic BPF. An
// accepted packet makes the program return snaplen, a rejected one 0. "" (or only blanks) compiles
// to accept-all. Errors are *SyntaxError for bad expressions, or a plain error for an unsupported
// link type or snaplen.
func Compile(expr string, linkType int, snaplen int) ([]bpf.Instruction, error) {
	raw, err := CompileRaw(expr, linkType, snaplen)
	if err != nil {
		return nil, err
	}
	out := make([]bpf.Instruction, len(raw))
	for i, r := range raw {
		out[i] = r.Disassemble()
	}
	return out, nil
}

// CompileRaw is Compile returning raw instructions, ready for SO_ATTACH_FILTER (unix.SockFprog).
func CompileRaw(expr string, linkType int, snaplen int) ([]bpf.RawInstruction, error) {
	if snaplen <= 0 {
		return nil, fmt.Errorf("filter: snaplen %d must be positive", snaplen)
	}
	lk, err := linkFor(linkType)
	if err != nil {
		return nil, err
	}
	root, err := parse(expr, lk)
	if err != nil {
		return nil, err
	}
	prog := emit(root, uint32(snaplen))
	prog = optimize(prog)
	if len(prog) == 1 && prog[0].isRet() && prog[0].k == 0 {
		// Like pcap_compile: a filter that can never match is almost certainly a mistake.
		return nil, &SyntaxError{Expr: expr, Pos: 0, Token: expr, Msg: "expression rejects all packets"}
	}
	raw, err := assemble(prog)
	if err != nil {
		return nil, err
	}
	if err := Validate(raw); err != nil {
		return nil, fmt.Errorf("filter: internal error, invalid program for %q: %w", expr, err)
	}
	return raw, nil
}

// UsesVLAN reports whether expr contains the `vlan` primitive (whose savefile semantics look at
// tag bytes a live AF_PACKET socket does not see in the frame).
func UsesVLAN(expr string) bool {
	toks, err := lex(expr)
	if err != nil {
		return false
	}
	for _, t := range toks {
		if t.is("vlan") {
			return true
		}
	}
	return false
}

// Validate checks what the kernel checks before it accepts a classic BPF program: 1 to 4096
// instructions, known opcodes, every jump forward and inside the program, scratch memory indexes
// below 16, no constant division by zero, and a return as the last instruction.
func Validate(prog []bpf.RawInstruction) error {
	n := len(prog)
	if n == 0 || n > MaxInstructions {
		return fmt.Errorf("filter: %d instructions, want 1..%d", n, MaxInstructions)
	}
	for i, ins := range prog {
		cls := ins.Op & 0x07
		switch cls {
		case clsJMP:
			if ins.Op&0xf0 == jmpJA {
				if uint64(i)+1+uint64(ins.K) >= uint64(n) {
					return fmt.Errorf("filter: instruction %d: ja out of range", i)
				}
				continue
			}
			if i+1+int(ins.Jt) >= n || i+1+int(ins.Jf) >= n {
				return fmt.Errorf("filter: instruction %d: jump out of range", i)
			}
		case clsLD, clsLDX:
			if ins.Op&0xe0 == modeMEM && ins.K >= 16 {
				return fmt.Errorf("filter: instruction %d: scratch index %d", i, ins.K)
			}
		case clsST, clsSTX:
			if ins.K >= 16 {
				return fmt.Errorf("filter: instruction %d: scratch index %d", i, ins.K)
			}
		case clsALU:
			op := ins.Op & 0xf0
			if (op == aluDIV || op == aluMOD) && ins.Op&srcX == 0 && ins.K == 0 {
				return fmt.Errorf("filter: instruction %d: division by zero", i)
			}
		}
	}
	if prog[n-1].Op&0x07 != clsRET {
		return fmt.Errorf("filter: last instruction is not a return")
	}
	return nil
}
