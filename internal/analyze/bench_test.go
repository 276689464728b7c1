package analyze_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/gopacket/gopacket"

	"github.com/netdoctor/netdoctor/internal/analyze"
)

// BenchmarkRead measures analysis throughput on a synthetic capture of 10,000 TCP data segments and
// their ACKs (reported as ns per packet).
func BenchmarkRead(b *testing.B) {
	c := newCap(b)
	c.add(b, frame(b, append([]gopacket.SerializableLayer{eth()}, tcpSeg(b, "10.0.0.1", "10.0.0.2", 40000, 80, "S", 0, 0, 0)...)...))
	c.add(b, frame(b, append([]gopacket.SerializableLayer{eth()}, tcpSeg(b, "10.0.0.2", "10.0.0.1", 80, 40000, "SA", 0, 1, 0)...)...))
	seq := uint32(1)
	for i := 0; i < 10000; i++ {
		c.add(b, frame(b, append([]gopacket.SerializableLayer{eth()}, tcpSeg(b, "10.0.0.1", "10.0.0.2", 40000, 80, "A", seq, 1, 1448)...)...))
		seq += 1448
		c.add(b, frame(b, append([]gopacket.SerializableLayer{eth()}, tcpSeg(b, "10.0.0.2", "10.0.0.1", 80, 40000, "A", 1, seq, 0)...)...))
	}
	data := c.buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, err := analyze.Read(context.Background(), bytes.NewReader(data), analyze.Options{})
		if err != nil || r.Packets != c.n {
			b.Fatalf("read: %v, %d packets", err, r.Packets)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*c.n), "ns/packet")
}
