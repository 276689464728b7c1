package filter

import (
	"os/exec"
	"strings"
	"testing"
)

// commonExprs are ten filters people type every day; the instruction-count benchmark compares our
// programs with libpcap's optimised ones (`tcpdump -ddd`).
var commonExprs = []string{
	"tcp", "udp port 53", "tcp port 80", "port 443", "host 10.0.0.1",
	"icmp or icmp6", "tcp[tcpflags] & tcp-syn != 0", "net 10.0.0.0/8 and not port 22",
	"ip6 and udp", "host 10.0.0.1 and (tcp port 80 or tcp port 443)",
}

func BenchmarkCompile(b *testing.B) {
	for _, expr := range []string{"tcp port 80", "host 10.0.0.1 and (tcp port 80 or tcp port 443)",
		"vlan and udp port 4789 and udp[8:4] & 0x08000000 != 0"} {
		b.Run(strings.ReplaceAll(expr, " ", "_"), func(b *testing.B) {
			for b.Loop() {
				if _, err := CompileRaw(expr, LinkTypeEthernet, 262144); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkInstructionCount reports, per expression, our instruction count, libpcap's, and the
// ratio (ours/libpcap); lower is better, 1.0 is parity.
func BenchmarkInstructionCount(b *testing.B) {
	tcpdump, err := exec.LookPath("tcpdump")
	if err != nil {
		b.Skip("tcpdump not installed (Debian package tcpdump)")
	}
	var sumOurs, sumTheirs float64
	for _, expr := range commonExprs {
		out, err := exec.Command(tcpdump, "-ddd", "--", expr).Output()
		if err != nil {
			b.Fatalf("tcpdump -ddd %q: %v", expr, err)
		}
		theirs := strings.Count(string(out), "\n") - 1 // first line is the count
		raw, err := CompileRaw(expr, LinkTypeEthernet, 262144)
		if err != nil {
			b.Fatal(err)
		}
		sumOurs += float64(len(raw))
		sumTheirs += float64(theirs)
		b.Logf("%-50q ours %3d libpcap %3d ratio %.2f", expr, len(raw), theirs, float64(len(raw))/float64(theirs))
	}
	for b.Loop() {
	}
	b.ReportMetric(sumOurs/sumTheirs, "ours/libpcap")
}
