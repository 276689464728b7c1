package filter

import (
	"encoding/binary"
	"fmt"
	"os"
	"testing"
)

// packet is one record of a pcap file.
type packet struct {
	sec, usec uint32
	data      []byte
	origLen   uint32
}

// readPcap reads a little-endian microsecond pcap file: its link type and packets.
func readPcap(t testing.TB, path string) (int, []packet) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 24 || binary.LittleEndian.Uint32(b) != 0xa1b2c3d4 {
		t.Fatalf("%s: not a little-endian microsecond pcap file", path)
	}
	lt := int(binary.LittleEndian.Uint32(b[20:]))
	var pkts []packet
	for off := 24; off+16 <= len(b); {
		n := int(binary.LittleEndian.Uint32(b[off+8:]))
		if off+16+n > len(b) {
			t.Fatalf("%s: truncated record at %d", path, off)
		}
		pkts = append(pkts, packet{
			sec:     binary.LittleEndian.Uint32(b[off:]),
			usec:    binary.LittleEndian.Uint32(b[off+4:]),
			origLen: binary.LittleEndian.Uint32(b[off+12:]),
			data:    b[off+16 : off+16+n],
		})
		off += 16 + n
	}
	return lt, pkts
}

// writePcap writes packets as a pcap file of link type lt.
func writePcap(t testing.TB, path string, lt int, pkts []packet) {
	t.Helper()
	b := make([]byte, 24)
	binary.LittleEndian.PutUint32(b[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(b[4:], 2)
	binary.LittleEndian.PutUint16(b[6:], 4)
	binary.LittleEndian.PutUint32(b[16:], 262144)
	binary.LittleEndian.PutUint32(b[20:], uint32(lt))
	for _, p := range pkts {
		var h [16]byte
		binary.LittleEndian.PutUint32(h[0:], p.sec)
		binary.LittleEndian.PutUint32(h[4:], p.usec)
		binary.LittleEndian.PutUint32(h[8:], uint32(len(p.data)))
		binary.LittleEndian.PutUint32(h[12:], p.origLen)
		b = append(b, h[:]...)
		b = append(b, p.data...)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func (p packet) stamp() string { return fmt.Sprintf("%d.%06d", p.sec, p.usec) }
