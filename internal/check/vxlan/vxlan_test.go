package vxlan

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

// The article's own addresses and other names than the lab's: the check reasons from state.
func seedCase1(vtepLocal string, dhcp bool) *check.Env {
	newNode := checktest.Node("k8s-worker-07", "10.153.204.15", "172.20.7.0/24", map[string]string{kube.AnnotationFlannelPublicIP: vtepLocal})
	old := checktest.Node("k8s-worker-02", "10.153.204.12", "172.20.2.0/24", nil)
	client := checktest.Pod("shop", "cart-7f9", "k8s-worker-07", "172.20.7.9", nil)
	backend := checktest.Pod("shop", "api-1", "k8s-worker-02", "172.20.2.4", nil)
	nic := nodestate.Link{Name: "ens192", Type: "device", Up: true, MTU: 1500, Addrs: []nodestate.Addr{checktest.Addr("10.153.204.15/24", false)}}
	if dhcp {
		nic.Addrs = append(nic.Addrs, checktest.Addr("10.153.204.228/24", true))
	}
	vtep := nodestate.Link{Name: "vtep0", Type: "vxlan", Up: true, MTU: 1450, MAC: "aa:bb:cc:00:00:07",
		VXLAN: &nodestate.VXLAN{VNI: 4096, Local: netip.MustParseAddr(vtepLocal), Dev: "ens192", Port: 4789}}
	oldSnap := &nodestate.Snapshot{Links: []nodestate.Link{{Name: "ens192", Addrs: []nodestate.Addr{checktest.Addr("10.153.204.12/24", false)}}},
		FDB: []nodestate.FDBEntry{{Dev: "vtep0", MAC: "aa:bb:cc:00:00:07", Dst: netip.MustParseAddr(vtepLocal), Self: true, Permanent: true}}}
	c := &kube.Cluster{Nodes: []corev1.Node{newNode, old}, Pods: []corev1.Pod{client, backend}}
	return &check.Env{
		Cluster: c,
		Source:  &check.Endpoint{Kind: check.KindPod, Pod: &c.Pods[0], Node: &c.Nodes[0], IP: netip.MustParseAddr("172.20.7.9")},
		Target:  &check.Endpoint{Kind: check.KindPod, Pod: &c.Pods[1], Node: &c.Nodes[1], IP: netip.MustParseAddr("172.20.2.4"), Port: 5000},
		Symptom: diag.KindNetworkUnreachable,
		Views: &checktest.Views{Nodes: map[string]*nodestate.Snapshot{
			"k8s-worker-07": {Links: []nodestate.Link{nic, vtep}},
			"k8s-worker-02": oldSnap,
		}},
	}
}

func TestWrongVTEPSourceWithDHCPAddress(t *testing.T) {
	env := seedCase1("10.153.204.228", true)
	fs, err := New().Run(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 {
		t.Fatalf("got %d findings, want 1: %+v", len(fs), fs)
	}
	f := fs[0]
	if f.Severity != diag.SeverityCritical || f.Kind != diag.KindCNIKubeProxy || f.Hop.Node != "k8s-worker-07" || f.Hop.Interface != "vtep0" {
		t.Errorf("finding %s %s at %+v, want critical cni-kube-proxy at k8s-worker-07 vtep0", f.Severity, f.Kind, f.Hop)
	}
	text := strings.Join(append(f.Evidence, f.Title, f.Cause, f.Fix), "\n")
	for _, want := range []string{
		"10.153.204.15/24 (static)", "10.153.204.228/24 (dynamic", "encapsulates with 10.153.204.228, not the node IP 10.153.204.15",
		"k8s-worker-02's FDB sends k8s-worker-07's VTEP MAC aa:bb:cc:00:00:07 to 10.153.204.228", "BOOTPROTO",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("finding does not say %q:\n%s", want, text)
		}
	}
}

func TestRightVTEPSourceIsQuiet(t *testing.T) {
	env := seedCase1("10.153.204.15", false)
	fs, err := New().Run(context.Background(), env)
	if err != nil || len(fs) != 0 {
		t.Fatalf("healthy VTEP: findings %+v, err %v; want none", fs, err)
	}
}

func TestHealthySymptomOnlyWarns(t *testing.T) {
	env := seedCase1("10.153.204.228", true)
	env.Symptom = diag.KindHealthy
	fs, _ := New().Run(context.Background(), env)
	if len(fs) != 1 || fs[0].Severity != diag.SeverityWarning {
		t.Fatalf("latent wrong VTEP on a working path: %+v, want one warning", fs)
	}
}
