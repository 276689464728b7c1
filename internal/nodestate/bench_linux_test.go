//go:build linux

package nodestate_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/netdoctor/netdoctor/internal/nodestate"
	"github.com/netdoctor/netdoctor/internal/testenv"
)

// BenchmarkNodeView loads a kube-proxy-sized ruleset (5,000 services × 3 endpoints) with
// iptables-restore into a namespace, then measures, side by side in one run: iptables-save alone
// (the peer), and Take + one WalkNAT (what `netdoctor inspect nat` does). It reports the Go heap
// in use after the walk as heap-MiB.
func BenchmarkNodeView(b *testing.B) {
	testenv.RequireRoot(b)
	restore := testenv.RequireTool(b, "iptables-nft-restore")
	n := testenv.NewNetNS(b)
	peer := testenv.NewNetNS(b)
	testenv.Veth(b, n, "eth0", "192.168.50.10/24", peer, "eth0", "192.168.50.1/24")
	rules := filepath.Join(b.TempDir(), "rules")
	if err := os.WriteFile(rules, []byte(testenv.KubeProxyRules(5000, 3, "10.244.0.0/16")), 0o600); err != nil {
		b.Fatal(err)
	}
	n.Exec(b, "sh", "-c", restore+" < "+rules)
	svc := testenv.KubeProxyServiceN(2500, 3)
	p := pkt("192.168.50.99", svc.ClusterIP, "tcp", uint16(svc.Port), "eth0")

	b.Run("iptables-save", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := n.Output(context.Background(), "iptables-save"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("take+walk", func(b *testing.B) {
		var heap float64
		for b.Loop() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			s, err := nodestate.Take(ctx, n.NS, nodestate.Options{SkipHostFiles: true, SkipSockets: true})
			cancel()
			if err != nil {
				b.Fatal(err)
			}
			if w := s.WalkNAT(p); len(w.Endpoints) != 3 {
				b.Fatalf("walk found %d endpoints: %+v", len(w.Endpoints), w)
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			heap = float64(ms.HeapInuse) / (1 << 20)
			runtime.KeepAlive(s)
		}
		b.ReportMetric(heap, "heap-MiB")
	})
}
