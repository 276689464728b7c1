package nodestate

import (
	"net/netip"
	"testing"

	"github.com/netdoctor/netdoctor/internal/testenv"
)

// The kube-proxy-sized ruleset of the node-view benchmark: 5,000 services × 3 endpoints.
const benchServices, benchEndpoints = 5000, 3

func benchSnapshot(b *testing.B) (*Snapshot, []byte) {
	b.Helper()
	text := []byte(testenv.KubeProxyRules(benchServices, benchEndpoints, "10.244.0.0/16"))
	ipt, err := ParseIptablesSave(text)
	if err != nil {
		b.Fatal(err)
	}
	ipt.Backend = "nft"
	return &Snapshot{
		Links:    []Link{{Index: 2, Name: "eth0", Addrs: []Addr{{IP: netip.MustParseAddr("192.168.50.10")}}}},
		Iptables: ipt,
	}, text
}

func benchPacket() Packet {
	s := testenv.KubeProxyServiceN(benchServices/2, benchEndpoints)
	return Packet{Src: netip.MustParseAddr("192.168.50.99"), Dst: netip.MustParseAddr(s.ClusterIP), Proto: "tcp",
		DstPort: uint16(s.Port), InIface: "eth0"}
}

// BenchmarkParseIptablesSave parses the 5,000-service ruleset (no root needed).
func BenchmarkParseIptablesSave(b *testing.B) {
	_, text := benchSnapshot(b)
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseIptablesSave(text); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWalkNATFirst is one walk on a fresh snapshot: it includes compiling and indexing the
// chains the walk visits.
func BenchmarkWalkNATFirst(b *testing.B) {
	s, text := benchSnapshot(b)
	p := benchPacket()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		ipt, _ := ParseIptablesSave(text)
		ipt.Backend = "nft"
		s.Iptables = ipt
		b.StartTimer()
		if w := s.WalkNAT(p); len(w.Endpoints) != benchEndpoints {
			b.Fatalf("walk found %d endpoints", len(w.Endpoints))
		}
	}
}

// BenchmarkWalkNATIndexed is a walk on a snapshot that was walked before (chains indexed).
func BenchmarkWalkNATIndexed(b *testing.B) {
	s, _ := benchSnapshot(b)
	p := benchPacket()
	s.WalkNAT(p)
	b.ReportAllocs()
	for b.Loop() {
		if w := s.WalkNAT(p); len(w.Endpoints) != benchEndpoints {
			b.Fatalf("walk found %d endpoints", len(w.Endpoints))
		}
	}
}
