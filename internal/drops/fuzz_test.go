package drops

import (
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

// The parsers never panic, whatever the bytes: packet headers from the kernel, trace_pipe lines,
// kallsyms text.
func FuzzParseFlow(f *testing.F) {
	for _, s := range []string{udpHex, synHex, "4500", "6000000000083a40" + strings.Repeat("00", 40)} {
		b, _ := hex.DecodeString(s)
		f.Add(uint16(etherIPv4), b)
		f.Add(uint16(etherIPv6), b)
	}
	f.Add(uint16(etherARP), make([]byte, 28))
	f.Fuzz(func(t *testing.T, proto uint16, data []byte) {
		fl := ParseFlow(proto, data)
		_ = fl.String()
		m, _ := NewMatcher("tcp port 80 or udp")
		m.Match(proto, data)
	})
}

func FuzzParseTraceLine(f *testing.F) {
	f.Add("  x-1 [001] ..s1. 1.2: kfree_skb: skbaddr=0 rx_sk=0 protocol=2048 location=ip_error+0x94/0x1a0 reason: IP_INNOROUTES")
	f.Add(" kfree_skb: location= [ reason: ")
	f.Fuzz(func(t *testing.T, line string) {
		ParseTraceLine(line, time.Time{})
	})
}

func FuzzKallsyms(f *testing.F) {
	f.Add("ffffffff81000000 T _stext\nffffffff81001000 t nft_do_chain\t[nf_tables]\n", uint64(0xffffffff81001010))
	f.Fuzz(func(t *testing.T, text string, addr uint64) {
		s, err := ParseKallsyms(strings.NewReader(text))
		if err == nil {
			s.Resolve(addr)
		}
	})
}
