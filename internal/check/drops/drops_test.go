package drops

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netdoctor/netdoctor/internal/check"
	"github.com/netdoctor/netdoctor/internal/diag"
	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/nodestate"
)

// fakeViews is a DropTracer that reports fixed drops at given vantage indexes, after running the
// re-send function; the other Views methods are not used by this check.
type fakeViews struct {
	check.Views
	events  []check.DropEvent
	resent  bool
	vantage []check.Vantage
}

func (f *fakeViews) TraceDrops(ctx context.Context, req check.DropTraceRequest) (*check.DropTrace, error) {
	at := req.At
	f.vantage = at
	req.Resend(ctx)
	f.resent = true
	tr := &check.DropTrace{Mode: "ebpf", Events: f.events}
	for i := range at {
		tr.Traced = append(tr.Traced, i)
	}
	return tr, nil
}

func (f *fakeViews) Rules(context.Context, check.Vantage) (*nodestate.Iptables, error) {
	return nil, nil
}

type fakeProber struct {
	check.Prober
	tcp int
}

func (p *fakeProber) TCP(context.Context, check.Vantage, netip.AddrPort, int) (*check.TCPObs, error) {
	p.tcp++
	return &check.TCPObs{}, nil
}

func TestFindingsByReason(t *testing.T) {
	client := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "client"}, Spec: corev1.PodSpec{NodeName: "node1"},
		Status: corev1.PodStatus{PodIP: "10.244.0.4"}}
	web := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"}, Spec: corev1.PodSpec{NodeName: "node2"},
		Status: corev1.PodStatus{PodIP: "10.244.1.9"}}
	nodes := []corev1.Node{{ObjectMeta: metav1.ObjectMeta{Name: "node1"}}, {ObjectMeta: metav1.ObjectMeta{Name: "node2"}}}
	c := &kube.Cluster{Nodes: nodes, Pods: []corev1.Pod{client, web}}
	src, dst := netip.MustParseAddr("10.244.0.4"), netip.MustParseAddr("10.244.1.9")
	other := netip.MustParseAddr("192.168.99.1")
	t0 := time.Unix(1000, 0)
	// Places: 0 pod default/client, 1 node1, 2 node2, 3 pod default/web.
	ev := func(at int, reason, loc string, s, d netip.Addr) check.DropEvent {
		fn, _, _ := strings.Cut(loc, "+")
		return check.DropEvent{At: at, Time: t0, Device: "eth0", Reason: reason, Location: loc, Function: fn,
			Proto: "tcp", Src: s, Dst: d, SrcPort: 40000, DstPort: 8080, Info: "[S] DF length 60"}
	}
	views := &fakeViews{events: []check.DropEvent{
		ev(2, "IP_RPFILTER", "ip_rcv_finish_core+0x25b", src, dst),
		ev(2, "IP_RPFILTER", "ip_rcv_finish_core+0x25b", src, dst),
		ev(1, "NETFILTER_DROP", "nft_do_chain+0x46f", src, dst),
		ev(1, "NOT_SPECIFIED", "ip6_mc_input+0x15e", other, other), // not the flow's: ignored
	}}
	prober := &fakeProber{}
	env := &check.Env{Cluster: c,
		Source: &check.Endpoint{Kind: check.KindPod, Pod: &c.Pods[0], IP: src, Node: &c.Nodes[0]},
		Target: &check.Endpoint{Kind: check.KindPod, Pod: &c.Pods[1], IP: dst, Port: 8080, Node: &c.Nodes[1]},
		Proto:  "tcp", Symptom: diag.KindNetworkUnreachable,
		Obs:   &check.Observations{TCP: &check.TCPObs{Addr: netip.AddrPortFrom(dst, 8080), Sent: 3}},
		Views: views, Probe: prober}
	fs, err := New().Run(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	if !views.resent || prober.tcp != 1 {
		t.Errorf("the failing TCP probe was not re-sent under the tracer (resent %v, tcp calls %d)", views.resent, prober.tcp)
	}
	var labels []string
	for _, v := range views.vantage {
		switch {
		case v.Pod != nil:
			labels = append(labels, "pod "+v.Pod.Name)
		default:
			labels = append(labels, v.Node)
		}
	}
	if got := strings.Join(labels, ","); got != "pod client,node1,node2,pod web" {
		t.Errorf("traced %s, want the client pod, both nodes and the target pod", got)
	}
	if len(fs) != 2 {
		t.Fatalf("got %d findings, want 2: %+v", len(fs), fs)
	}
	rp := fs[0]
	if rp.Severity != diag.SeverityCritical || rp.Kind != diag.KindNetworkUnreachable || rp.Hop.Node != "node2" || rp.Hop.Interface != "eth0" ||
		rp.Title != "the kernel in node2 drops the client's packets: IP_RPFILTER in ip_rcv_finish_core" ||
		rp.Evidence[0] != "2× 10.244.0.4 > 10.244.1.9.8080 tcp [S] DF in node2 dev eth0: IP_RPFILTER at ip_rcv_finish_core+0x25b" {
		t.Errorf("rp_filter finding = %+v", rp)
	}
	if nf := fs[1]; nf.Severity != diag.SeverityInfo || nf.Hop.Node != "node1" || !strings.Contains(nf.Title, "in netfilter (nft_do_chain)") {
		t.Errorf("netfilter finding = %+v", nf)
	}
}

func TestExplainKinds(t *testing.T) {
	cases := map[string]diag.Kind{
		"NO_SOCKET": diag.KindPortUnreachable, "IP_RPFILTER": diag.KindNetworkUnreachable, "IP_INNOROUTES": diag.KindNetworkUnreachable,
		"IP_OUTNOROUTES": diag.KindNetworkUnreachable, "NEIGH_FAILED": diag.KindNetworkUnreachable, "PKT_TOO_BIG": diag.KindLargePacketLoss,
		"VXLAN_INVALID_HDR": diag.KindCNIKubeProxy, "VXLAN_VNI_NOT_FOUND": diag.KindCNIKubeProxy,
	}
	for reason, kind := range cases {
		if m := explain(reason); m.kind != kind || m.sev != diag.SeverityCritical || m.cause == "" || m.fix == "" {
			t.Errorf("explain(%s) = %+v, want critical %s", reason, m, kind)
		}
	}
	if m := explain("NETFILTER_DROP"); m.sev != diag.SeverityInfo {
		t.Errorf("NETFILTER_DROP severity %s, want info", m.sev)
	}
}
