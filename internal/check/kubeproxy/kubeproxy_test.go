package kubeproxy

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

// kube-proxy's iptables-mode rules for a DNS service, in the shape it writes them.
const dnsRules = `*nat
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-TCOU7JCQXEZGVUNU - [0:0]
:KUBE-SEP-AAAAAAAAAAAAAAAA - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A KUBE-SERVICES -d 10.233.0.3/32 -p udp -m comment --comment "kube-system/coredns:dns cluster IP" -m udp --dport 53 -j KUBE-SVC-TCOU7JCQXEZGVUNU
-A KUBE-SVC-TCOU7JCQXEZGVUNU -m comment --comment "kube-system/coredns:dns -> 10.233.64.2:53" -j KUBE-SEP-AAAAAAAAAAAAAAAA
-A KUBE-SEP-AAAAAAAAAAAAAAAA -p udp -m comment --comment "kube-system/coredns:dns" -m udp -j DNAT --to-destination 10.233.64.2:53
COMMIT
`

const emptyNat = "*nat\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n"

func parse(t *testing.T, s string) *nodestate.Iptables {
	t.Helper()
	ipt, err := nodestate.ParseIptablesSave([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return ipt
}

func env(t *testing.T, newNodeRules string, kp corev1.Pod) *check.Env {
	nodes := []corev1.Node{checktest.Node("old-1", "10.0.0.1", "10.233.64.0/24", nil), checktest.Node("new-9", "10.0.0.9", "10.233.72.0/24", nil)}
	client := checktest.Pod("apps", "upload-0", "new-9", "10.233.72.5", nil)
	svc := corev1.Service{}
	svc.Namespace, svc.Name = "kube-system", "coredns"
	svc.Spec.ClusterIP = "10.233.0.3"
	svc.Spec.Ports = []corev1.ServicePort{{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP}}
	c := &kube.Cluster{Nodes: nodes, Pods: []corev1.Pod{client, kp}, Services: []corev1.Service{svc}}
	return &check.Env{
		Cluster: c,
		Source:  &check.Endpoint{Kind: check.KindPod, Pod: &c.Pods[0], Node: &c.Nodes[1], IP: netip.MustParseAddr("10.233.72.5")},
		Target:  &check.Endpoint{Kind: check.KindName, Name: "minio.storage.svc.cluster.local"},
		Proto:   "dns",
		Symptom: diag.KindDNSFailure,
		Obs:     &check.Observations{DNS: &check.DNSObs{Name: "minio.storage.svc.cluster.local", Outcome: "timeout", Nameservers: []netip.Addr{netip.MustParseAddr("10.233.0.3")}}},
		Views: &checktest.Views{Nodes: map[string]*nodestate.Snapshot{
			"new-9": {Iptables: parse(t, newNodeRules)},
			"old-1": {Iptables: parse(t, dnsRules)},
		}},
	}
}

func kubeProxyPod(node string, phase corev1.PodPhase, reason string) corev1.Pod {
	p := checktest.Pod("kube-system", "kp-"+node, node, "10.0.0.9", nil)
	p.Spec.Containers = []corev1.Container{{Name: "proxy", Image: "registry.k8s.io/kube-proxy:v1.30.2"}}
	p.Status.Phase, p.Status.Reason = phase, reason
	return p
}

func TestEvictedKubeProxyNoRules(t *testing.T) {
	e := env(t, emptyNat, kubeProxyPod("new-9", corev1.PodFailed, "Evicted"))
	fs, err := New().Run(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 || fs[0].Severity != diag.SeverityCritical || fs[0].Kind != diag.KindCNIKubeProxy || fs[0].Hop.Node != "new-9" {
		t.Fatalf("findings %+v, want one critical cni-kube-proxy at new-9", fs)
	}
	text := strings.Join(append(fs[0].Evidence, fs[0].Title, fs[0].Cause, fs[0].Fix), "\n")
	for _, want := range []string{"Failed/Evicted", "priorityClassName (none)", "no KUBE-SERVICES chain",
		"kube-system/coredns 10.233.0.3:53 (udp", "old-1 translates 10.233.0.3:53 to 10.233.64.2:53", "system-node-critical"} {
		if !strings.Contains(text, want) {
			t.Errorf("finding does not say %q:\n%s", want, text)
		}
	}
}

func TestRunningKubeProxyWithRulesIsQuiet(t *testing.T) {
	e := env(t, dnsRules, kubeProxyPod("new-9", corev1.PodRunning, ""))
	fs, err := New().Run(context.Background(), e)
	if err != nil || len(fs) != 0 {
		t.Fatalf("healthy node: %+v %v, want no finding", fs, err)
	}
}

func TestRunningButNoRules(t *testing.T) {
	e := env(t, emptyNat, kubeProxyPod("new-9", corev1.PodRunning, ""))
	fs, _ := New().Run(context.Background(), e)
	if len(fs) != 1 || !strings.Contains(fs[0].Title, "has not written NAT rules") {
		t.Fatalf("running kube-proxy without rules: %+v", fs)
	}
}

// TestEvictedThenReplaced: the DaemonSet controller replaced the evicted pod with a Pending one; the
// eviction is still told, from the kubelet's Event for the pod that is gone (source.host = node),
// while an event of another node's pod is not.
func TestEvictedThenReplaced(t *testing.T) {
	kp := kubeProxyPod("new-9", corev1.PodPending, "")
	kp.Name = "kube-proxy-q7x2d"
	e := env(t, emptyNat, kp)
	ev := func(pod, host, msg string) corev1.Event {
		var v corev1.Event
		v.Namespace, v.Name, v.Type, v.Reason, v.Message = "kube-system", pod+".1", corev1.EventTypeWarning, "Evicted", msg
		v.InvolvedObject = corev1.ObjectReference{Kind: "Pod", Namespace: "kube-system", Name: pod}
		v.Source = corev1.EventSource{Component: "kubelet", Host: host}
		return v
	}
	e.Cluster.Events = []corev1.Event{ev("kube-proxy-8fk2m", "new-9", "The node was low on resource: memory."),
		ev("kube-proxy-zz9zz", "old-1", "unrelated eviction elsewhere")}
	fs, err := New().Run(context.Background(), e)
	if err != nil || len(fs) != 1 {
		t.Fatalf("findings %+v %v, want one", fs, err)
	}
	text := strings.Join(append(fs[0].Evidence, fs[0].Cause), "\n")
	if !strings.Contains(text, "Pending") || !strings.Contains(text, "event Evicted on earlier pod kube-proxy-8fk2m (gone, node new-9): The node was low on resource: memory.") {
		t.Errorf("finding does not tell the pending replacement and the earlier eviction:\n%s", text)
	}
	if strings.Contains(text, "unrelated") {
		t.Errorf("finding tells another node's event:\n%s", text)
	}
}
