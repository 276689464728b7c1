//go:build linux

package analyze_test

import (
	"net"
	"testing"
	"time"

	"github.com/netdoctor/netdoctor/internal/analyze"
	"github.com/netdoctor/netdoctor/internal/diag"
	"github.com/netdoctor/netdoctor/internal/testenv"
)

// mtuLine builds client —1500— r1 —1400— r2 —1500— server. The client's veth hands the kernel's
// segments to the wire one by one (gso_max_segs 1), so the capture shows real 1500-byte packets.
// With blackhole, r1 drops the ICMP fragmentation-needed it would send.
func mtuLine(t *testing.T, blackhole bool) *testenv.Line {
	l := testenv.NewLine(t, 4, 0, 1400, 0)
	l.Hosts[0].Exec(t, "ip", "link", "set", l.Links[0].LeftIf, "gso_max_segs", "1")
	if blackhole {
		testenv.RequireTool(t, "iptables")
		l.Hosts[1].Exec(t, "iptables", "-A", "OUTPUT", "-p", "icmp", "--icmp-type", "fragmentation-needed", "-j", "DROP")
	}
	return l
}

// runMTUTraffic captures on the client's link while it sends a 1000- and a 1300-byte request (which
// fit the 1400 MTU), then a 64 KiB one, and returns the pcap.
func runMTUTraffic(t *testing.T, l *testenv.Line, bigWait time.Duration) (string, error) {
	server := net.JoinHostPort(l.Addr(3), "8080")
	startMsgServer(t, l.Hosts[3], server)
	file := pcapPath(t, "mtu.pcap")
	td := testenv.StartTcpdump(t, l.Hosts[0], l.Links[0].LeftIf, file, "tcp or icmp")
	c, err := dialFrom(t, l.Hosts[0], server, 10*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", server, err)
	}
	for _, size := range []int{1000, 1300} {
		if err := sendMsg(c, size, 10*time.Second); err != nil {
			t.Fatalf("small request: %v", err)
		}
	}
	bigErr := sendMsg(c, 64*1024+100, bigWait)
	c.Close()
	captured(t, td, func(r *analyze.Result) bool {
		c := connTo(r, 8080)
		if bigErr == nil { // the answer to the big request was captured
			return c != nil && c.ToClient.DataSegments >= 3
		}
		return c != nil && c.ToServer.Retransmissions >= 2
	})
	return file, bigErr
}

func TestBlackHoleFromRealCapture(t *testing.T) {
	testenv.RequireRoot(t)
	l := mtuLine(t, true)
	file, bigErr := runMTUTraffic(t, l, 3500*time.Millisecond)
	if bigErr == nil {
		t.Fatalf("the 64 KiB request got through a path whose frag-needed is dropped: no black hole was built")
	}
	res, err := analyze.File(file)
	if err != nil {
		t.Fatalf("analyze: %v", err)
	}
	t.Logf("report:\n%s", dumpText(t, res))
	bh := res.BlackHole
	if bh == nil {
		t.Fatalf("no black hole found")
	}
	if bh.NearBytes != 1500 {
		t.Errorf("NearBytes = %d, want 1500 (the client's full-size packets)", bh.NearBytes)
	}
	if bh.LargestAcked > 1400 || bh.LargestAcked < 1300 {
		t.Errorf("LargestAcked = %d, want the 1300-byte request's packet (1352 bytes), at most the real path MTU 1400", bh.LargestAcked)
	}
	if bh.SmallestLost != 1448 {
		t.Errorf("SmallestLost = %d, want 1448 (MSS 1460 minus timestamps)", bh.SmallestLost)
	}
	if bh.Retransmissions < 2 {
		t.Errorf("Retransmissions = %d, want at least 2", bh.Retransmissions)
	}
	if bh.From.Addr().String() != l.Addr(0) {
		t.Errorf("From = %s, want the client %s", bh.From, l.Addr(0))
	}
	if !res.Problem() || res.Findings[0].Kind != diag.KindLargePacketLoss || res.Findings[0].Check != analyze.CheckBlackHole {
		t.Errorf("first finding = %+v, want a critical large-packet-loss black hole", res.Findings[0])
	}
	// Retransmission detection agrees with Wireshark's on the same file.
	if want, got := tsharkCount(t, file, "tcp.analysis.retransmission"), totalRetrans(res); got != want {
		t.Errorf("retransmissions: netdoctor %d, tshark tcp.analysis.retransmission %d", got, want)
	}
}

// With ICMP fragmentation-needed allowed, PMTU discovery works: no black hole, no problem.
func TestPMTUDiscoveryWorkingIsHealthy(t *testing.T) {
	testenv.RequireRoot(t)
	l := mtuLine(t, false)
	file, bigErr := runMTUTraffic(t, l, 20*time.Second)
	if bigErr != nil {
		t.Fatalf("the 64 KiB request failed on a path where PMTU discovery works: %v", bigErr)
	}
	res, err := analyze.File(file)
	if err != nil {
		t.Fatalf("analyze: %v", err)
	}
	t.Logf("report:\n%s", dumpText(t, res))
	if res.BlackHole != nil {
		t.Errorf("black hole reported on a working path: %+v", res.BlackHole)
	}
	if res.Problem() {
		t.Errorf("problem reported on a working path: %+v", res.Findings[0])
	}
	var frag *analyze.ICMPError
	for i, e := range res.ICMPErrors {
		if e.Kind == "frag-needed" {
			frag = &res.ICMPErrors[i]
			break
		}
	}
	if frag == nil || frag.MTU != 1400 || frag.QuotedLen != 1500 || frag.QuotedProto != "tcp" || frag.QuotedDst.Port() != 8080 {
		t.Errorf("frag-needed = %+v, want MTU 1400 quoting a 1500-byte tcp packet to port 8080", frag)
	}
	if want, got := tsharkCount(t, file, "tcp.analysis.retransmission"), totalRetrans(res); got != want {
		t.Errorf("retransmissions: netdoctor %d, tshark %d", got, want)
	}
}
