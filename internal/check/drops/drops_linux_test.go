//go:build linux

package drops_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netdoctor/netdoctor/internal/check"
	"github.com/netdoctor/netdoctor/internal/check/drops"
	"github.com/netdoctor/netdoctor/internal/diag"
	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/local"
	"github.com/netdoctor/netdoctor/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// world is a client pod — node — web pod line of namespaces, described by a cluster view whose
// annotations point at them, with local access as views and prober.
type world struct {
	line        *testenv.Line
	env         *check.Env
	client, web *corev1.Pod
}

func newWorld(t *testing.T, symptom diag.Kind, port uint16) *world {
	t.Helper()
	l := testenv.NewLine(t, 3)
	pod := func(name string, h *testenv.NetNS, ip string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, Annotations: map[string]string{kube.AnnotationNetns: h.Name}},
			Spec:       corev1.PodSpec{NodeName: "node1"},
			Status:     corev1.PodStatus{PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}, Phase: corev1.PodRunning},
		}
	}
	client := pod("client", l.Hosts[0], l.Addr(0))
	web := pod("web", l.Hosts[2], l.Addr(2))
	node := corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "node1", Annotations: map[string]string{kube.AnnotationNetns: l.Hosts[1].Name}},
		Status:     corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: l.Addr(1)}}},
	}
	c := &kube.Cluster{Nodes: []corev1.Node{node}, Pods: []corev1.Pod{*client, *web}}
	acc := local.New(c)
	to := netip.AddrPortFrom(netip.MustParseAddr(l.Addr(2)), port)
	env := &check.Env{
		Cluster: c,
		Source:  &check.Endpoint{Spec: "pod/default/client", Kind: check.KindPod, Pod: &c.Pods[0], IP: netip.MustParseAddr(l.Addr(0)), Node: &c.Nodes[0]},
		Target:  &check.Endpoint{Spec: "pod/default/web", Kind: check.KindPod, Pod: &c.Pods[1], IP: to.Addr(), Port: port, Node: &c.Nodes[0]},
		Proto:   "tcp",
		Symptom: symptom,
		Obs:     &check.Observations{TCP: &check.TCPObs{Addr: to, Sent: 3}},
		Views:   acc,
		Probe:   acc,
		Now:     time.Now,
		Logf:    t.Logf,
	}
	return &world{line: l, env: env, client: client, web: web}
}

func run(t *testing.T, w *world) []diag.Finding {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	fs, err := drops.New().Run(ctx, w.env)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	t.Logf("check ran in %v: %d findings", time.Since(start), len(fs))
	for _, f := range fs {
		t.Logf("  %s %s %q at %+v: %v", f.Severity, f.Kind, f.Title, f.Hop, f.Evidence)
	}
	return fs
}

func find(fs []diag.Finding, reason string) *diag.Finding {
	for i := range fs {
		if strings.Contains(fs[i].Evidence[0], ": "+reason+" at ") {
			return &fs[i]
		}
	}
	return nil
}

// A forwarding node with no route to the pod network: critical, network-unreachable, at the node.
func TestNoRouteAtNode(t *testing.T) {
	w := newWorld(t, diag.KindNetworkUnreachable, 8080)
	w.line.Hosts[1].Exec(t, "ip", "route", "del", w.line.Links[1].LeftAddr[:len(w.line.Links[1].LeftAddr)-1]+"0/24")
	fs := run(t, w)
	f := find(fs, "IP_INNOROUTES")
	if f == nil {
		t.Fatalf("no IP_INNOROUTES finding: %+v", fs)
	}
	if f.Severity != diag.SeverityCritical || f.Kind != diag.KindNetworkUnreachable || f.Hop.Node != "node1" || !strings.HasPrefix(f.Title, "the kernel in node1 drops") {
		t.Errorf("finding = %+v", f)
	}
}

// No listener on the target pod: critical, port-unreachable, in the pod's namespace, NO_SOCKET.
func TestNoSocketAtPod(t *testing.T) {
	w := newWorld(t, diag.KindPortUnreachable, 8081)
	fs := run(t, w)
	f := find(fs, "NO_SOCKET")
	if f == nil {
		t.Fatalf("no NO_SOCKET finding: %+v", fs)
	}
	if f.Severity != diag.SeverityCritical || f.Kind != diag.KindPortUnreachable || !strings.Contains(f.Title, "pod default/web") || !strings.Contains(f.Evidence[0], "tcp [S]") {
		t.Errorf("finding = %+v", f)
	}
}

// A DROP rule on the node: the firewall check names the rule, so the kernel's view is info only.
func TestNetfilterDropIsInfo(t *testing.T) {
	w := newWorld(t, diag.KindNetworkUnreachable, 8082)
	w.line.Hosts[1].Exec(t, "iptables", "-A", "FORWARD", "-p", "tcp", "--dport", "8082", "-j", "DROP")
	fs := run(t, w)
	f := find(fs, "NETFILTER_DROP")
	if f == nil {
		t.Fatalf("no NETFILTER_DROP finding: %+v", fs)
	}
	if f.Severity != diag.SeverityInfo || f.Hop.Node != "node1" || !strings.Contains(f.Evidence[0], "at nft_do_chain+") {
		t.Errorf("finding = %+v", f)
	}
	for _, g := range fs {
		if g.Severity == diag.SeverityCritical {
			t.Errorf("unexpected critical finding %+v", g)
		}
	}
}

// A healthy symptom: the check does nothing.
func TestHealthyNoFindings(t *testing.T) {
	w := newWorld(t, diag.KindHealthy, 8083)
	if fs := run(t, w); len(fs) != 0 {
		t.Fatalf("healthy diagnosis got findings %+v", fs)
	}
}
