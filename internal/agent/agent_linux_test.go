//go:build linux

package agent_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/netdoctor/netdoctor/internal/agent"
	"github.com/netdoctor/netdoctor/internal/check"
	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/nodestate"
	"github.com/netdoctor/netdoctor/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func restConfig(t testing.TB, kubeconfig string) *rest.Config {
	t.Helper()
	c, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func bind(t testing.TB, cs kubernetes.Interface, role *rbacv1.ClusterRole, roleName, user string) {
	t.Helper()
	ctx := context.Background()
	if role != nil {
		if _, err := cs.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	rb := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: roleName + "-" + user},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: roleName},
		Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: user}}}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, rb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// fixture: a real API server; "agent" may review tokens (system:auth-delegator); "alice" may
// diagnose nodes (the named permission), "bob" may not; an agent serving node "n1" whose network
// namespace is the first of a two-namespace routed line.
type fixture struct {
	api  *testenv.APIServer
	line *testenv.Line
	url  string
}

func setup(t testing.TB) *fixture {
	t.Helper()
	a := testenv.StartAPIServer(t)
	cs := kubernetes.NewForConfigOrDie(restConfig(t, a.AdminKubeconfig))
	bind(t, cs, nil, "system:auth-delegator", "agent")
	bind(t, cs, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "netdoctor-diagnose"}, Rules: []rbacv1.PolicyRule{{
		APIGroups: []string{agent.PermissionGroup}, Resources: []string{agent.PermissionResource}, Verbs: []string{agent.PermissionVerb}}}},
		"netdoctor-diagnose", "alice")
	line := testenv.NewLine(t, 2)
	auth, err := agent.NewKubeAuth(restConfig(t, a.Kubeconfig(t, "agent", "")))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := agent.NewServer(agent.ServerConfig{NodeName: "n1", Netns: line.Hosts[0].Path, Auth: auth})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return &fixture{api: a, line: line, url: hs.URL}
}

func (f *fixture) client(token string) *agent.Client {
	return agent.NewClient(&kube.Cluster{}, agent.ClientOptions{Token: token, Agents: map[string]string{"n1": f.url}})
}

// TestAgentServesAuthorisedCaller: alice's token reads n1's namespace (its links and a FIB
// look-up) and pings the next namespace of the line from it.
func TestAgentServesAuthorisedCaller(t *testing.T) {
	f := setup(t)
	c := f.client(f.api.Token("alice"))
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	snap, err := c.Node(ctx, "n1")
	if err != nil {
		t.Fatalf("node snapshot: %v", err)
	}
	want := netip.MustParsePrefix(f.line.Addr(0) + "/24")
	found := false
	for _, l := range snap.Links {
		for _, a := range l.Addrs {
			if a.IP == want.Addr() {
				found = true
			}
		}
	}
	if !found {
		t.Errorf("snapshot of n1 lacks its address %s: %+v", want, snap.Links)
	}
	peer := netip.MustParseAddr(f.line.Addr(1))
	rt, err := c.Route(ctx, "n1", nodestate.RouteQuery{Dst: peer})
	if err != nil || rt.Type != "unicast" || rt.Dev == "" {
		t.Errorf("route to %s: %+v, %v", peer, rt, err)
	}
	ping, err := c.Ping(ctx, check.Vantage{Node: "n1"}, peer, 56, false, 3)
	if err != nil || ping.Received != 3 || ping.Outcome != "ok" {
		t.Errorf("ping %s from n1 through the agent: %+v, %v", peer, ping, err)
	}
	if _, err := c.Node(ctx, "n2"); !errors.Is(err, agent.ErrNoAgent) {
		t.Errorf("node without an agent: %v, want ErrNoAgent", err)
	}
}

// TestAgentRefuses: no token, an unknown token, and a user without the permission are refused
// with messages that say what is missing; the agent asks the real API server.
func TestAgentRefuses(t *testing.T) {
	f := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name, token string
		want        error
		msg         string
	}{
		{"no token", "", agent.ErrUnauthenticated, "no bearer token"},
		{"unknown token", "made-up-token", agent.ErrUnauthenticated, "token rejected by the API server"},
		{"no permission", f.api.Token("bob"), agent.ErrForbidden, `user "bob" may not diagnose node n1 (verb "diagnose" on resource "nodes" in API group "netdoctor.dev")`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := f.client(tc.token)
			defer c.Close()
			_, err := c.Node(ctx, "n1")
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("got %v, want %v with %q", err, tc.want, tc.msg)
			}
			if _, err := c.TCP(ctx, check.Vantage{Node: "n1"}, netip.MustParseAddrPort("10.250.1.2:80"), 1); !errors.Is(err, tc.want) {
				t.Errorf("probe: got %v, want %v", err, tc.want)
			}
		})
	}
	// A plain HTTP caller without a token gets 401 and the reason as JSON.
	resp, err := http.Post(f.url+agent.PathNode, "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no token: HTTP %d, want 401", resp.StatusCode)
	}
	c := f.client(f.api.Token("alice"))
	defer c.Close()
	if _, err := agent.NewClient(&kube.Cluster{}, agent.ClientOptions{Token: f.api.Token("alice"), Agents: map[string]string{"n9": f.url}}).Node(ctx, "n9"); !errors.Is(err, agent.ErrWrongNode) {
		t.Errorf("asking n1's agent about n9: %v, want ErrWrongNode", err)
	}
}

// TestDeadAgentDoesNotHang: an agent that accepts but never answers, and one that is not there,
// fail within the caller's deadline with ErrUnreachable.
func TestDeadAgentDoesNotHang(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var held []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c) // never answers
		}
	}()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := closed.Addr().String()
	closed.Close()
	c := agent.NewClient(&kube.Cluster{}, agent.ClientOptions{Token: "x", Agents: map[string]string{
		"silent": "http://" + ln.Addr().String(), "gone": "http://" + gone}})
	defer c.Close()
	for _, node := range []string{"silent", "gone"} {
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		start := time.Now()
		_, err := c.Node(ctx, node)
		cancel()
		if !errors.Is(err, agent.ErrUnreachable) {
			t.Errorf("%s agent: %v, want ErrUnreachable", node, err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%s agent: took %s, the deadline was 1.5 s", node, d)
		}
	}
}

// TestAgentTLS: over HTTPS the client verifies the agent's certificate with the CA it is given
// (--agent-ca) and refuses an agent whose certificate it cannot verify.
func TestAgentTLS(t *testing.T) {
	f := setup(t)
	auth, err := agent.NewKubeAuth(restConfig(t, f.api.Kubeconfig(t, "agent", "")))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := agent.NewServer(agent.ServerConfig{NodeName: "n1", Netns: f.line.Hosts[0].Path, Auth: auth})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(srv)
	// The test CA's serving certificate has 127.0.0.1 among its SANs.
	cert, err := tls.LoadX509KeyPair(filepath.Join(f.api.Dir, "apiserver.crt"), filepath.Join(f.api.Dir, "apiserver.key"))
	if err != nil {
		t.Fatal(err)
	}
	hs.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	hs.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake below is expected
	hs.StartTLS()
	defer hs.Close()
	tc, err := agent.TLSFromCA(f.api.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := agent.NewClient(&kube.Cluster{}, agent.ClientOptions{Token: f.api.Token("alice"), Agents: map[string]string{"n1": hs.URL}, TLS: tc})
	defer c.Close()
	if _, err := c.Route(ctx, "n1", nodestate.RouteQuery{Dst: netip.MustParseAddr(f.line.Addr(1))}); err != nil {
		t.Errorf("HTTPS with the CA: %v", err)
	}
	u := agent.NewClient(&kube.Cluster{}, agent.ClientOptions{Token: f.api.Token("alice"), Agents: map[string]string{"n1": hs.URL}})
	defer u.Close()
	if _, err := u.Route(ctx, "n1", nodestate.RouteQuery{Dst: netip.MustParseAddr(f.line.Addr(1))}); !errors.Is(err, agent.ErrUnreachable) || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("HTTPS without the CA: %v, want a certificate error", err)
	}
}
