//go:build linux

package k8s

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/netdoctor/netdoctor/internal/netns"
)

// APIPort is the API server's secure port on the control-plane node.
const APIPort = 6443

// StartControlPlane makes the cluster's certificates and tokens, starts etcd and kube-apiserver in
// the control-plane node's namespace, waits until the API server is ready, then starts
// kube-controller-manager and kube-scheduler. On error it kills what it started; the Procs
// started so far are in the returned Cluster either way, for the lab's state.
func StartControlPlane(ctx context.Context, s Spec, progressf func(string, ...any)) (*Cluster, error) {
	cp := s.ControlPlane
	c := &Cluster{Spec: s, URL: fmt.Sprintf("https://%s:%d", cp.IP, APIPort), tokens: map[string]string{}}
	pki, err := NewPKI(filepath.Join(s.Dir, "pki"))
	if err != nil {
		return c, err
	}
	c.PKI = pki
	kubeSvc := nthIP(s.ServiceCIDR, 1)
	apiCrt, apiKey, err := pki.Issue("apiserver", "kube-apiserver", nil, true,
		[]net.IP{cp.IP.AsSlice(), kubeSvc.AsSlice(), net.IPv4(127, 0, 0, 1)},
		[]string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc." + s.DNSDomain, "localhost"})
	if err != nil {
		return c, err
	}
	kcCrt, kcKey, err := pki.Issue("apiserver-kubelet-client", "kube-apiserver-kubelet-client", []string{"system:masters"}, false, nil, nil)
	if err != nil {
		return c, err
	}
	saKey, saPub, err := pki.ServiceAccountKey()
	if err != nil {
		return c, err
	}
	var tok strings.Builder
	for _, u := range users {
		c.tokens[u.name] = randomToken()
		fmt.Fprintf(&tok, "%s,%s,%s,%q\n", c.tokens[u.name], u.name, "uid-"+strings.ReplaceAll(u.name, ":", "-"), u.groups)
	}
	for _, n := range s.nodes() {
		c.tokens[NodeUser(n)] = randomToken()
		fmt.Fprintf(&tok, "%s,%s,%s,%q\n", c.tokens[NodeUser(n)], NodeUser(n), "uid-node-"+n, "system:nodes")
	}
	tokens := filepath.Join(s.Dir, "tokens.csv")
	if err := os.WriteFile(tokens, []byte(tok.String()), 0o600); err != nil {
		return c, fmt.Errorf("k8s: %w", err)
	}
	logs := filepath.Join(s.Dir, "logs")
	fail := func(err error) (*Cluster, error) {
		for _, p := range c.Procs {
			p.Kill(5 * time.Second)
		}
		return c, err
	}

	progressf("control plane: etcd and kube-apiserver on %s (%s)", cp.Name, cp.IP)
	etcd, err := StartProc("etcd", cp.Netns, filepath.Join(logs, "etcd.log"), []string{s.Bins.Etcd,
		"--name", "lab", "--data-dir", filepath.Join(s.Dir, "etcd"),
		"--listen-client-urls", "http://127.0.0.1:2379", "--advertise-client-urls", "http://127.0.0.1:2379",
		"--listen-peer-urls", "http://127.0.0.1:2380", "--initial-advertise-peer-urls", "http://127.0.0.1:2380",
		"--initial-cluster", "lab=http://127.0.0.1:2380", "--unsafe-no-fsync", "--log-level", "warn"}, nil)
	if err != nil {
		return fail(err)
	}
	c.Procs = append(c.Procs, etcd)
	api, err := StartProc("kube-apiserver", cp.Netns, filepath.Join(logs, "kube-apiserver.log"), []string{s.Bins.APIServer,
		"--etcd-servers=http://127.0.0.1:2379",
		"--bind-address=0.0.0.0", fmt.Sprintf("--secure-port=%d", APIPort), "--advertise-address=" + cp.IP.String(),
		"--tls-cert-file=" + apiCrt, "--tls-private-key-file=" + apiKey,
		"--client-ca-file=" + pki.CAFile(), "--token-auth-file=" + tokens,
		"--kubelet-client-certificate=" + kcCrt, "--kubelet-client-key=" + kcKey,
		"--service-account-issuer=https://kubernetes.default.svc." + s.DNSDomain,
		"--service-account-key-file=" + saPub, "--service-account-signing-key-file=" + saKey,
		"--authorization-mode=Node,RBAC", "--service-cluster-ip-range=" + s.ServiceCIDR.String(),
		"--enable-admission-plugins=NodeRestriction",
		"--enable-priority-and-fairness=false", "--kubelet-preferred-address-types=InternalIP",
		"--allow-privileged=true", "--cert-dir=" + filepath.Join(s.Dir, "pki"), "--profiling=false",
		"--service-node-port-range=30000-32767", "--endpoint-reconciler-type=lease"}, nil)
	if err != nil {
		return fail(err)
	}
	c.Procs = append(c.Procs, api)
	if err := c.waitReady(ctx, api, 90*time.Second); err != nil {
		return fail(err)
	}

	progressf("control plane: kube-controller-manager and kube-scheduler")
	admin, err := c.KubeconfigFor("admin-inner", "admin", c.URL, "")
	if err != nil {
		return fail(err)
	}
	// Controllers that would fight the lab are off: the lab plays the kubelet of its nodes without
	// one (their Node status and their pods' status), so node-lifecycle (NotReady + eviction of
	// heartbeat-less nodes), taint-eviction and pod GC stay off; pod CIDRs are the lab's, so node-ipam
	// is off; the garbage collector would delete pods whose ReplicaSet the lab never made.
	kcm, err := StartProc("kube-controller-manager", cp.Netns, filepath.Join(logs, "kube-controller-manager.log"), []string{s.Bins.KCM,
		"--kubeconfig=" + admin, "--authentication-kubeconfig=" + admin, "--authorization-kubeconfig=" + admin,
		"--controllers=*,-node-lifecycle-controller,-node-ipam-controller,-taint-eviction-controller,-pod-garbage-collector-controller,-garbage-collector-controller",
		"--service-account-private-key-file=" + saKey, "--root-ca-file=" + pki.CAFile(),
		"--cluster-signing-cert-file=" + pki.CAFile(), "--cluster-signing-key-file=" + filepath.Join(pki.Dir, "ca.key"),
		"--leader-elect=false", "--bind-address=127.0.0.1", "--secure-port=10257", "--profiling=false",
		"--concurrent-service-endpoint-syncs=5", "--endpointslice-updates-batch-period=0s"}, nil)
	if err != nil {
		return fail(err)
	}
	c.Procs = append(c.Procs, kcm)
	sched, err := StartProc("kube-scheduler", cp.Netns, filepath.Join(logs, "kube-scheduler.log"), []string{s.Bins.Scheduler,
		"--kubeconfig=" + admin, "--authentication-kubeconfig=" + admin, "--authorization-kubeconfig=" + admin,
		"--leader-elect=false", "--bind-address=127.0.0.1", "--secure-port=10259", "--profiling=false"}, nil)
	if err != nil {
		return fail(err)
	}
	c.Procs = append(c.Procs, sched)
	for _, w := range []struct {
		p   *Proc
		url string
	}{{kcm, "https://127.0.0.1:10257/healthz"}, {sched, "https://127.0.0.1:10259/healthz"}} {
		if err := c.waitHealthz(ctx, w.p, w.url, 60*time.Second); err != nil {
			return fail(err)
		}
	}
	return c, nil
}

// waitHealthz polls a component's /healthz (self-signed, so unverified) inside the control-plane
// namespace until it answers 200.
func (c *Cluster) waitHealthz(ctx context.Context, p *Proc, url string, timeout time.Duration) error {
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // a health check of our own child, no data
		DialContext:     DialIn(c.Spec.ControlPlane.Netns),
	}}
	defer hc.CloseIdleConnections()
	deadline := time.Now().Add(timeout)
	for {
		if !p.Alive() {
			return fmt.Errorf("k8s: %s exited: %s (log %s)", p.Name, lastLine(p.Tail(2000)), p.Log)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("k8s: %s not healthy after %s (log %s)", p.Name, timeout, p.Log)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("k8s: waiting for %s: %w", p.Name, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// nodes lists the node names that get a kubelet identity: every node of the lab could run one.
func (s Spec) nodes() []string { return append([]string{s.ControlPlane.Name}, s.NodeNames...) }

// waitReady polls /readyz inside the control-plane namespace until it answers ok.
func (c *Cluster) waitReady(ctx context.Context, api *Proc, timeout time.Duration) error {
	hc, err := c.innerClient()
	if err != nil {
		return err
	}
	defer hc.CloseIdleConnections()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		if !api.Alive() {
			return fmt.Errorf("k8s: kube-apiserver exited: %s (log %s)", lastLine(api.Tail(2000)), api.Log)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.URL+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+c.tokens["admin"])
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("k8s: waiting for kube-apiserver: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("k8s: kube-apiserver not ready after %s (%s; log %s)", timeout, last, api.Log)
}

// innerClient is an HTTP client whose connections are opened inside the control-plane namespace.
func (c *Cluster) innerClient() (*http.Client, error) {
	ca, err := os.ReadFile(c.PKI.CAFile())
	if err != nil {
		return nil, fmt.Errorf("k8s: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	return &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool},
		DialContext:     DialIn(c.Spec.ControlPlane.Netns),
	}}, nil
}

// DialIn returns a DialContext that opens its sockets inside the network namespace at path.
func DialIn(path string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		ns, err := netns.OpenPath(path)
		if err != nil {
			return nil, err
		}
		defer ns.Close()
		var conn net.Conn
		err = ns.Do(func() error {
			var d net.Dialer
			conn, err = d.DialContext(ctx, network, addr)
			return err
		})
		return conn, err
	}
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func nthIP(p netip.Prefix, n int) netip.Addr {
	a := p.Masked().Addr()
	for range n {
		a = a.Next()
	}
	return a
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
