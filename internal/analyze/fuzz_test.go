package analyze_test

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/gopacket/gopacket"

	"github.com/netdoctor/netdoctor/internal/analyze"
)

// FuzzRead feeds malformed captures to the reader and every analyser: no panic, whatever the input.
func FuzzRead(f *testing.F) {
	c := newCap(f)
	c.add(f, frame(f, vxlan(8472, tcpSeg(f, "10.244.1.2", "10.244.2.3", 33000, 80, "S", 100, 0, 0))...))
	c.add(f, frame(f, append([]gopacket.SerializableLayer{eth()}, tcpSeg(f, "10.0.0.1", "10.0.0.2", 40000, 53, "PA", 2, 8, 40)...)...))
	f.Add(c.buf.Bytes())
	f.Add([]byte("\x0a\x0d\x0d\x0a\x1c\x00\x00\x00\x4d\x3c\x2b\x1a\x01\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff\x1c\x00\x00\x00"))
	f.Add([]byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0x7f})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := analyze.Read(context.Background(), bytes.NewReader(b), analyze.Options{MaxPackets: 2000})
		if err != nil {
			return
		}
		_ = r.WriteText(io.Discard)
	})
}
