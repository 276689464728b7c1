package capture

import "golang.org/x/net/bpf"

// sllHeaderLen is the size of the LINUX_SLL header a cooked capture prepends to each packet.
const sllHeaderLen = 16

// Classic BPF ancillary offsets (linux/filter.h).
const (
	skfAdOff      = 0xfffff000 // SKF_AD_OFF (-0x1000)
	skfAdProtocol = 0          // SKF_AD_PROTOCOL: skb->protocol, host order
	skfAdPkttype  = 4          // SKF_AD_PKTTYPE: skb->pkt_type
)

// BPF opcode fields (classic BPF).
const (
	bpfClassMask = 0x07
	bpfLD        = 0x00
	bpfLDX       = 0x01
	bpfModeMask  = 0xe0
	bpfABS       = 0x20
	bpfIND       = 0x40
	bpfMSH       = 0xa0
	bpfRET       = 0x06
	bpfK         = 0x00
)

// kernelProgram rewrites a program compiled for LINKTYPE_LINUX_SLL so the kernel can run it on a
// cooked (SOCK_DGRAM) socket, where the packet starts at the network header and the SLL fields
// exist only as socket-buffer metadata: offsets past the SLL header move back by 16 bytes, the
// packet type at [0] and the protocol at [14] become ancillary loads. It reports false when the
// program reads another part of the SLL header (the hardware address, say); the caller then
// filters in user space. The input is not modified. This is what libpcap's fix_program does.
func kernelProgram(prog []bpf.RawInstruction) ([]bpf.RawInstruction, bool) {
	out := make([]bpf.RawInstruction, len(prog))
	copy(out, prog)
	for i := range out {
		p := &out[i]
		class := p.Op & bpfClassMask
		if class != bpfLD && class != bpfLDX {
			continue
		}
		mode := p.Op & bpfModeMask
		if mode != bpfABS && mode != bpfIND && mode != bpfMSH {
			continue
		}
		if p.K >= skfAdOff {
			continue // already an ancillary load
		}
		switch {
		case p.K >= sllHeaderLen:
			p.K -= sllHeaderLen
		case mode == bpfABS && p.K == 0:
			p.K = skfAdOff + skfAdPkttype
		case mode == bpfABS && p.K == 14:
			p.K = skfAdOff + skfAdProtocol
		default:
			return nil, false
		}
	}
	return out, true
}

// acceptAll returns the program that keeps every packet, truncated to snaplen.
func acceptAll(snaplen int) []bpf.RawInstruction {
	return []bpf.RawInstruction{{Op: bpfRET | bpfK, K: uint32(snaplen)}}
}

// userFilter runs a classic BPF program in user space: the fallback when the kernel cannot run it.
type userFilter struct{ vm *bpf.VM }

func newUserFilter(prog []bpf.RawInstruction) (*userFilter, error) {
	// Disassemble keeps instructions it does not know as RawInstruction; NewVM rejects those.
	ins, _ := bpf.Disassemble(prog)
	vm, err := bpf.NewVM(ins)
	if err != nil {
		return nil, err
	}
	return &userFilter{vm: vm}, nil
}

// keep reports how many bytes of data to keep (0 = drop).
func (f *userFilter) keep(data []byte) int {
	n, err := f.vm.Run(data)
	if err != nil {
		return 0
	}
	return n
}
