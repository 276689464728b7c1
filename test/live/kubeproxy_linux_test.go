//go:build linux

package live

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/netdoctor/netdoctor/internal/testenv"
)

// TestRealKubeProxyRules: real kube-proxy v1.37.2 (iptables mode), built from the Go module proxy,
// runs in the API server's namespace and writes its rules for a Service from the real API server;
// `netdoctor inspect nat` walks those rules — written by kube-proxy, not by us — from the ClusterIP
// to the endpoint.
func TestRealKubeProxyRules(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireTool(t, "iptables-save")
	kp := testenv.K8sTool(t, "kube-proxy")
	a := testenv.StartAPIServer(t)
	cfg, err := clientcmd.BuildConfigFromFlags("", a.AdminKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cs := kubernetes.NewForConfigOrDie(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node1"}}
	if node, err = cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: a.InnerIP}}
	if _, err := cs.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc, err := cs.CoreV1().Services("default").Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ready, port, name, proto := true, int32(8080), "http", corev1.ProtocolTCP
	if _, err := cs.DiscoveryV1().EndpointSlices("default").Create(ctx, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "web-abc", Labels: map[string]string{discoveryv1.LabelServiceName: "web", discoveryv1.LabelManagedBy: "netdoctor-test"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.244.1.5"}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
		Ports:       []discoveryv1.EndpointPort{{Name: &name, Port: &port, Protocol: &proto}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// kube-proxy runs in the API server's namespace and reaches it there (the serving certificate
	// covers the inner address).
	kc := filepath.Join(a.Dir, "kube-proxy.kubeconfig")
	if err := os.WriteFile(kc, []byte("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://"+a.InnerIP+":6443\n    certificate-authority: "+a.CAFile+
		"\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\nusers:\n- name: u\n  user:\n    client-certificate: "+filepath.Join(a.Dir, "admin.crt")+
		"\n    client-key: "+filepath.Join(a.Dir, "admin.key")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// conntrack: all zero, so kube-proxy leaves the (partly global) conntrack sysctls alone.
	conf := filepath.Join(a.Dir, "kube-proxy.yaml")
	if err := os.WriteFile(conf, []byte(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
hostnameOverride: node1
clusterCIDR: 10.244.0.0/16
clientConnection:
  kubeconfig: `+kc+`
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
  udpTimeout: 0s
  udpStreamTimeout: 0s
`), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(a.Dir, "kube-proxy.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command("ip", "netns", "exec", a.NS.Name, kp, "--config", conf)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { testenv.Kill(cmd) })

	// kube-proxy has no readiness signal for "rules written": poll its output, bounded.
	comment := "default/web:http"
	for deadline := time.Now().Add(60 * time.Second); ; {
		out, _ := a.NS.Try("iptables-save", "-t", "nat")
		if strings.Contains(out, "KUBE-SVC-") && strings.Contains(out, comment) && strings.Contains(out, "10.244.1.5:8080") {
			break
		}
		if time.Now().After(deadline) || cmd.ProcessState != nil {
			log, _ := os.ReadFile(filepath.Join(a.Dir, "kube-proxy.log"))
			t.Fatalf("kube-proxy wrote no rules for %s:\n%s\nlog:\n%s", comment, out, tail(string(log), 3000))
		}
		time.Sleep(200 * time.Millisecond)
	}
	out, errOut, code := run(t, nil, testenv.Binary(t), "inspect", "nat", "--netns", a.NS.Name, "--to", svc.Spec.ClusterIP+":80")
	if code != 0 || !strings.Contains(out, "10.244.1.5:8080") {
		t.Errorf("inspect nat --to %s:80 on kube-proxy's rules: exit %d\n%s%s", svc.Spec.ClusterIP, code, out, errOut)
	}
	t.Logf("inspect nat on real kube-proxy rules:\n%s", out)
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
