package capture

import (
	"encoding/binary"
	"encoding/hex"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
)

// FuzzDissect feeds arbitrary bytes to the decoder, the one-line summary, the packet identity, the
// VXLAN inner-frame locator (under every link type we produce), and, read as a BPF program, to the
// cooked-socket rebasing and the user-space filter: none may panic.
func FuzzDissect(f *testing.F) {
	for _, h := range []string{
		// Ethernet + IPv4 + ICMP echo request
		"ffffffffffff0000000000010800450000540001400040010000" + "0a4d00010a4d0002" + "0800f7ff00010001",
		// Ethernet + IPv4 + UDP 8472 + VXLAN + inner Ethernet + IPv4 + TCP SYN
		"0000000000020000000000010800450000600001400040110000c0a84d01c0a84d02" + "abcd21180040000008000000000" +
			"02a00" + "0000000000040000000000030800" + "45000028000240004006" + "00000a0101020a020202" +
			"a0000050000003e800000000500272100000" + "0000",
		// IPv6 + ICMPv6 packet too big quoting a packet
		"6000000000300140" + "fe800000000000000000000000000001" + "fe800000000000000000000000000002" +
			"02000000000005000000",
	} {
		b, _ := hex.DecodeString(h)
		f.Add(b, uint8(0))
	}
	lts := []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL, layers.LinkTypeRaw}
	f.Fuzz(func(t *testing.T, data []byte, which uint8) {
		lt := lts[int(which)%len(lts)]
		fr := Dissect(data, len(data), lt)
		_ = Summarize(fr)
		if fr.IP != nil {
			_ = identity(fr.IP)
		}
		_ = innerEthernet(data, lt)
		// The same bytes as a BPF program: rebasing and the user-space fallback must not panic.
		var prog []bpf.RawInstruction
		for i := 0; i+8 <= len(data); i += 8 {
			prog = append(prog, bpf.RawInstruction{Op: binary.LittleEndian.Uint16(data[i:]), Jt: data[i+2], Jf: data[i+3],
				K: binary.LittleEndian.Uint32(data[i+4:])})
		}
		if k, ok := kernelProgram(prog); ok && len(k) != len(prog) {
			t.Fatalf("rebased program has %d instructions, want %d", len(k), len(prog))
		}
		if uf, err := newUserFilter(prog); err == nil {
			_ = uf.keep(data)
		}
	})
}
