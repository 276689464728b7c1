//go:build linux

package live

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/netdoctor/netdoctor/internal/agent"
	"github.com/netdoctor/netdoctor/internal/image"
	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/nodestate"
	"github.com/netdoctor/netdoctor/internal/testenv"
)

var agentBin struct {
	sync.Once
	path string
	err  error
}

// agentBinary builds the agent-only binary exactly as the image does (image.AgentBuild), once per
// test process.
func agentBinary(t *testing.T) string {
	t.Helper()
	dir := testenv.TempDir(t)
	agentBin.Do(func() {
		agentBin.path = filepath.Join(dir, image.AgentPath)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		agentBin.err = image.AgentBuild(repo("."), agentBin.path, "amd64", "test").Run(ctx)
	})
	if agentBin.err != nil {
		t.Fatalf("build the agent binary: %v", agentBin.err)
	}
	return agentBin.path
}

// serving starts cmd (an agent) and returns the address of its serving line, its readiness signal.
func serving(t *testing.T, cmd *exec.Cmd, node string) string {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if cmd.Stderr == nil {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { testenv.Kill(cmd) })
	line := make(chan string, 1)
	go func() {
		r := bufio.NewReader(out)
		l, _ := r.ReadString('\n')
		line <- l
		io.Copy(io.Discard, r)
	}()
	select {
	case l := <-line:
		i := strings.LastIndex(l, " on ")
		if !strings.HasPrefix(l, "netdoctor agent: serving node "+node) || i < 0 {
			t.Fatalf("agent %s: unexpected first line %q", node, l)
		}
		return strings.TrimSpace(l[i+4:])
	case <-time.After(30 * time.Second):
		t.Fatalf("agent %s did not start", node)
	}
	return ""
}

// proxyFixture: a real API server on its bridge (172.30.0.1/24); a "node" namespace on that bridge
// (172.30.0.10) running the agent-only binary with hostNetwork semantics (it listens on the node's
// address, HTTPS); a Pod object for it in namespace netdoctor whose status names that IP, so the
// API server's pod proxy dials it; the shipped Role netdoctor-agent-proxy (deploy/rbac), unbound.
type proxyFixture struct {
	api   *testenv.APIServer
	cs    kubernetes.Interface
	node  *testenv.NetNS
	agent *exec.Cmd
	pod   *corev1.Pod
}

const (
	proxyNodeIP = "172.30.0.10"
	proxyPod    = "netdoctor-agent-n1"
)

func setupProxy(t *testing.T) *proxyFixture {
	t.Helper()
	bin := agentBinary(t)
	a := testenv.StartAPIServer(t)
	acfg, err := clientcmd.BuildConfigFromFlags("", a.AdminKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cs := kubernetes.NewForConfigOrDie(acfg)
	grant(t, cs, "system:auth-delegator", nil, "agent")
	grant(t, cs, "netdoctor-diagnose", []rbacv1.PolicyRule{{APIGroups: []string{agent.PermissionGroup},
		Resources: []string{agent.PermissionResource}, Verbs: []string{agent.PermissionVerb}}}, "alice")
	ctx := context.Background()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "netdoctor"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(repo("deploy/rbac/agent-proxy-role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.Role
	if err := yaml.UnmarshalStrict(b, &role); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.RbacV1().Roles("netdoctor").Create(ctx, &role, metav1.CreateOptions{FieldValidation: "Strict"}); err != nil {
		t.Fatal(err)
	}

	// The node: a namespace on the API server's bridge.
	n := testenv.NewNetNS(t)
	testenv.Veth(t, a.NS, "ndnode0", "", n, "eth0", proxyNodeIP+"/24")
	a.NS.Exec(t, "ip", "link", "set", "ndnode0", "master", "apisrv0")
	// The agent reaches the API server on the bridge, as a hostNetwork pod reaches its cluster.
	kc := filepath.Join(a.Dir, "kubeconfig-agent-inner")
	cfg := "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://" + a.InnerIP + ":6443\n    certificate-authority: " + a.CAFile +
		"\ncontexts:\n- name: c\n  context: {cluster: c, user: u}\ncurrent-context: c\nusers:\n- name: u\n  user:\n    token: " + a.Token("agent") + "\n"
	if err := os.WriteFile(kc, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", n.Name, bin, "agent", "--listen", proxyNodeIP+":7441", "--node-name", "n1",
		"--kubeconfig", kc, "--cri-socket", "", "--tls-cert", filepath.Join(a.Dir, "apiserver.crt"), "--tls-key", filepath.Join(a.Dir, "apiserver.key"))
	cmd.Env = append(os.Environ(), "KUBECONFIG=")
	serving(t, cmd, "n1")

	// Its pod, as the kubelet would report it.
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: proxyPod, Namespace: "netdoctor", Labels: map[string]string{agent.AgentLabelKey: agent.AgentLabelValue}},
		Spec: corev1.PodSpec{NodeName: "n1", HostNetwork: true, Containers: []corev1.Container{{Name: "agent", Image: "netdoctor/netdoctor:v0.1.0",
			Ports: []corev1.ContainerPort{{Name: "agent", ContainerPort: agent.DefaultPort}}}}}}
	pod, err = cs.CoreV1().Pods("netdoctor").Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: proxyNodeIP, PodIPs: []corev1.PodIP{{IP: proxyNodeIP}}, HostIP: proxyNodeIP,
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
	if pod, err = cs.CoreV1().Pods("netdoctor").UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	return &proxyFixture{api: a, cs: cs, node: n, agent: cmd, pod: pod}
}

func (f *proxyFixture) restConfig(t *testing.T, user string) *rest.Config {
	t.Helper()
	c, err := clientcmd.BuildConfigFromFlags("", f.api.Kubeconfig(t, user, ""))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// client is what `kubectl netdoctor diagnose` builds for user: the cluster view holds the agent's
// pod; calls go Via, with the user's kubeconfig for the API server and their token for the agent.
func (f *proxyFixture) client(t *testing.T, user, via string, hc *http.Client) *agent.Client {
	t.Helper()
	c := agent.NewClient(&kube.Cluster{Pods: []corev1.Pod{*f.pod}}, agent.ClientOptions{Token: f.api.Token(user), Via: via,
		APIServer: f.restConfig(t, user), HTTP: hc})
	t.Cleanup(c.Close)
	return c
}

func (f *proxyFixture) bindRole(t *testing.T, role, user string) {
	t.Helper()
	if _, err := f.cs.RbacV1().RoleBindings("netdoctor").Create(context.Background(), &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: role + "-" + user},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: role},
		Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: user}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func hasAddr(s *nodestate.Snapshot, ip string) bool {
	want := netip.MustParseAddr(ip)
	for _, l := range s.Links {
		for _, a := range l.Addrs {
			if a.IP == want {
				return true
			}
		}
	}
	return false
}

// TestAgentThroughAPIServerProxy: the diagnoser reaches the agent through the real API server's
// pod proxy (the agent's pod IP is on a bridge only the API server's namespace reaches).
// Authorisation happens twice, both by Kubernetes: the API server checks create on pods/proxy in
// namespace netdoctor (the verb of a POST; get alone is refused), then the agent checks the
// caller's token (carried in X-Netdoctor-Token: the API server consumes the Authorization header
// and does not forward it, shown below) with TokenReview and SubjectAccessReview.
func TestAgentThroughAPIServerProxy(t *testing.T) {
	f := setupProxy(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// alice may diagnose nodes but not proxy to pods: the API server refuses, naming the rule.
	_, err := f.client(t, "alice", agent.ViaProxy, nil).Node(ctx, "n1")
	if !errors.Is(err, agent.ErrForbidden) || !strings.Contains(err.Error(), `User "alice" cannot create resource "pods/proxy" in API group "" in the namespace "netdoctor"`) ||
		!strings.Contains(err.Error(), "bind the Role netdoctor-agent-proxy") {
		t.Errorf("alice without pods/proxy: %v", err)
	}
	// get on pods/proxy is not enough: the agent's API is POST, which RBAC checks as create.
	grant(t, f.cs, "proxy-get-only", []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods/proxy"}, Verbs: []string{"get"}}}, "alice")
	if _, err := f.client(t, "alice", agent.ViaProxy, nil).Node(ctx, "n1"); !errors.Is(err, agent.ErrForbidden) || !strings.Contains(err.Error(), `cannot create resource "pods/proxy"`) {
		t.Errorf("alice with get on pods/proxy only: %v, want the API server's refusal of create", err)
	}

	// With the shipped Role bound in the agents' namespace, alice reads the node through the proxy.
	f.bindRole(t, "netdoctor-agent-proxy", "alice")
	start := time.Now()
	snap, err := f.client(t, "alice", agent.ViaProxy, nil).Node(ctx, "n1")
	if err != nil {
		t.Fatalf("alice through the proxy: %v", err)
	}
	if !hasAddr(snap, proxyNodeIP) {
		t.Errorf("the snapshot through the proxy lacks the node's address %s: %+v", proxyNodeIP, snap.Links)
	}
	t.Logf("node snapshot through the API server's proxy in %s", time.Since(start).Round(time.Millisecond))

	// The API server does not forward the caller's Authorization header: a raw call through the
	// proxy with only alice's Authorization (no X-Netdoctor-Token) reaches the agent without it.
	hc, err := rest.HTTPClientFor(f.restConfig(t, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := hc.Post(f.api.URL+"/api/v1/namespaces/netdoctor/pods/https:"+proxyPod+":7441/proxy"+agent.PathNode, "application/json", strings.NewReader(`{"node":"n1"}`))
	if err != nil {
		t.Fatal(err)
	}
	var r agent.Response
	derr := json.NewDecoder(raw.Body).Decode(&r)
	raw.Body.Close()
	if derr != nil || raw.StatusCode != http.StatusUnauthorized || r.Code != "unauthenticated" || !strings.Contains(r.Error, "no bearer token") {
		t.Errorf("Authorization through the proxy: HTTP %d %+v (%v), want the agent's 401 \"no bearer token\": the header would have been forwarded", raw.StatusCode, r, derr)
	}

	// bob may proxy to the agent pod but not diagnose: the agent refuses him.
	f.bindRole(t, "netdoctor-agent-proxy", "bob")
	_, err = f.client(t, "bob", agent.ViaProxy, nil).Node(ctx, "n1")
	if !errors.Is(err, agent.ErrForbidden) || !strings.Contains(err.Error(), `agent: forbidden: user "bob" may not diagnose node n1`) {
		t.Errorf("bob through the proxy: %v, want the agent's refusal", err)
	}

	// auto from a machine outside the cluster network: the direct attempt cannot connect (the
	// client's sockets are in an empty namespace: no route), so the call goes through the proxy
	// and the node stays there; direct alone fails.
	outside := testenv.NewNetNS(t)
	hc2 := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := outside.NS.Do(func() error {
			var err error
			c, err = (&net.Dialer{Timeout: agent.AutoDialTimeout}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}}}
	auto := f.client(t, "alice", agent.ViaAuto, hc2)
	start = time.Now()
	if _, err := auto.Node(ctx, "n1"); err != nil {
		t.Errorf("auto: %v", err)
	}
	if _, err := auto.Route(ctx, "n1", nodestate.RouteQuery{Dst: netip.MustParseAddr(f.api.InnerIP)}); err != nil {
		t.Errorf("auto, second call: %v", err)
	}
	t.Logf("auto (direct impossible, then the proxy): two calls in %s", time.Since(start).Round(time.Millisecond))
	if _, err := f.client(t, "alice", agent.ViaDirect, hc2).Node(ctx, "n1"); !errors.Is(err, agent.ErrUnreachable) {
		t.Errorf("direct from outside the cluster network: %v, want ErrUnreachable", err)
	}

	// The agent dies: the API server cannot reach it, and the client says so within its deadline.
	testenv.Kill(f.agent)
	dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
	defer dcancel()
	start = time.Now()
	_, err = f.client(t, "alice", agent.ViaProxy, nil).Node(dctx, "n1")
	if !errors.Is(err, agent.ErrUnreachable) || !strings.Contains(err.Error(), "through the API server's proxy") {
		t.Errorf("dead agent through the proxy: %v, want ErrUnreachable", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("dead agent through the proxy: took %s", d)
	}
	t.Logf("dead agent through the proxy: %v", err)
	// Its pod is deleted: the API server no longer knows it.
	zero := int64(0) // no kubelet confirms a graceful deletion here
	if err := f.cs.CoreV1().Pods("netdoctor").Delete(ctx, proxyPod, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	_, err = f.client(t, "alice", agent.ViaProxy, nil).Node(ctx, "n1")
	if !errors.Is(err, agent.ErrNoAgent) {
		t.Errorf("deleted agent pod: %v, want ErrNoAgent", err)
	}
	t.Logf("deleted agent pod: %v", err)
}
