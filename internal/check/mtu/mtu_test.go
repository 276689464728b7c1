package mtu

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/netdoctor/netdoctor/internal/check"
	"github.com/netdoctor/netdoctor/internal/check/checktest"
	"github.com/netdoctor/netdoctor/internal/diag"
	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/nodestate"
)

// Seed case 2 from plain state: an outside VM (MTU 1500) to a NodePort; DF probes pass at 1440 and
// vanish at 1441 without frag-needed; the large transfer stalls. No node link has MTU 1440, so the
// finding must not blame a node's interface.
func TestOutsideVMBlackHole(t *testing.T) {
	node := checktest.Node("edge-1", "172.16.8.21", "10.42.1.0/24", nil)
	c := &kube.Cluster{Nodes: []corev1.Node{node}}
	vm := &nodestate.Snapshot{
		Links:  []nodestate.Link{{Name: "lo", Up: true, MTU: 65536}, {Name: "ens3", Up: true, MTU: 1500, Addrs: []nodestate.Addr{checktest.Addr("203.0.113.7/24", false)}}},
		Routes: []nodestate.Route{{Table: 254, Dst: netip.MustParsePrefix("0.0.0.0/0"), Dev: "ens3"}},
	}
	nodeSnap := &nodestate.Snapshot{Links: []nodestate.Link{
		{Name: "eth0", Up: true, MTU: 1500}, {Name: "vxlan.calico", Up: true, MTU: 1450, VXLAN: &nodestate.VXLAN{VNI: 4096, Port: 4789}}}}
	target := netip.MustParseAddrPort("172.16.8.21:30443")
	env := &check.Env{
		Cluster: c,
		Source:  &check.Endpoint{Kind: check.KindNetns, Netns: "/run/netns/vm", Outside: true, IP: netip.MustParseAddr("203.0.113.7")},
		Target:  &check.Endpoint{Kind: check.KindIP, IP: target.Addr(), Port: target.Port(), Node: &c.Nodes[0]},
		Proto:   "tcp",
		Symptom: diag.KindLargePacketLoss,
		Obs: &check.Observations{
			TCP:   &check.TCPObs{Addr: target, Sent: 3, Connected: 3},
			Large: &check.LargeObs{Addr: target, Handshake: true, SmallOK: true, Bytes: 200000, Acked: 0, Retransmits: 4, MSS: 1448, Outcome: "stalled"},
		},
		Views: &checktest.Views{Nodes: map[string]*nodestate.Snapshot{"edge-1": nodeSnap}, Netnss: map[string]*nodestate.Snapshot{"/run/netns/vm": vm}},
		Probe: &checktest.Prober{PMTUObs: &check.PMTUObs{Target: target.Addr(), LocalMTU: 1500, PathMTU: 1440, BlackHole: true, LargestOK: 1440, SmallestLost: 1441, Probes: 11}},
		Logf:  t.Logf,
	}
	fs, err := New().Run(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 || fs[0].Kind != diag.KindLargePacketLoss || fs[0].Severity != diag.SeverityCritical {
		t.Fatalf("findings %+v, want one critical large-packet-loss", fs)
	}
	f := fs[0]
	if f.Hop.Node != "" {
		t.Errorf("blamed node %s %s; the 1440 link is outside the nodes", f.Hop.Node, f.Hop.Interface)
	}
	text := strings.Join(append(f.Evidence, f.Title, f.Cause, f.Fix), "\n")
	for _, want := range []string{"client MTU 1500", "packets of 1440 bytes pass, 1441 bytes vanish, no ICMP frag-needed",
		"0 bytes acknowledged, 4 retransmissions", "Lower the client's MTU to 1440", "clamp the TCP MSS"} {
		if !strings.Contains(text, want) {
			t.Errorf("finding does not say %q:\n%s", want, text)
		}
	}
}
