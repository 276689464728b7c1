//go:build linux

package testenv

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// K8sVersion is the Kubernetes version of the components the tests run (same minor as k8s.io/api).
const K8sVersion = "v1.37.2"

// APIServer is a real kube-apiserver (built from the Go module proxy by test/k8s/build.sh) backed
// by Debian's etcd, both running in their own network namespace, reachable from the root
// namespace through a relay on 127.0.0.1 (no address or route is added in the root namespace).
//
// Identities: the admin (client certificate, group system:masters) and static bearer tokens
// (Token): user "admin" in system:masters, "alice", "bob" and "agent" with no permissions at
// all until a test binds roles to them, and the kubelets of nodes KubeletNodes
// ("system:node:NAME" in group system:nodes, authorised by the Node authorizer).
type APIServer struct {
	NS  *NetNS
	Dir string // certificates, tokens, kubeconfigs, etcd data
	// URL is https://127.0.0.1:PORT, the relay in the root namespace.
	URL string
	// CAFile signs the serving certificate and the client certificates.
	CAFile string
	// AdminKubeconfig is a kubeconfig for URL with the admin client certificate (namespace default).
	AdminKubeconfig string
	// InnerIP is the API server's address inside its namespace (its advertise address).
	InnerIP string
}

// KubeletNodes are the node names whose kubelet identity has a static token:
// Token("system:node:" + name).
var KubeletNodes = []string{"node1", "node2"}

// Token returns the bearer token of a static user: "admin", "alice", "bob", "agent" or
// "system:node:NAME" for a name in KubeletNodes.
func (a *APIServer) Token(user string) string { return "token-" + user + "-0123456789abcdef" }

// Kubeconfig writes a kubeconfig for URL that authenticates with user's bearer token, with
// namespace as the current context's namespace ("" for none), and returns its path.
func (a *APIServer) Kubeconfig(t testing.TB, user, namespace string) string {
	t.Helper()
	p := filepath.Join(a.Dir, fmt.Sprintf("kubeconfig-%s-%s", user, namespace))
	writeKubeconfig(t, p, a.URL, a.CAFile, namespace, "    token: "+a.Token(user)+"\n")
	return p
}

func writeKubeconfig(t testing.TB, path, url, ca, namespace, userLines string) {
	t.Helper()
	ns := ""
	if namespace != "" {
		ns = "    namespace: " + namespace + "\n"
	}
	cfg := "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: " + url +
		"\n    certificate-authority: " + ca + "\ncontexts:\n- name: test\n  context:\n    cluster: test\n    user: u\n" + ns +
		"current-context: test\nusers:\n- name: u\n  user:\n" + userLines
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatalf("write kubeconfig: %v", err)
	}
}

var k8sBin struct {
	sync.Mutex
	dirs map[string]string
	errs map[string]error
}

// K8sBinaries returns the directory holding kube-apiserver (building it on first use through
// test/k8s/build.sh, cached under /var/cache/netdoctor across runs). It skips (fails in strict
// mode) when the build cannot run.
func K8sBinaries(t testing.TB) string {
	t.Helper()
	return filepath.Dir(K8sTool(t, "kube-apiserver"))
}

// K8sTool returns the path of a tool test/k8s/build.sh builds and caches (kube-apiserver, helm),
// building it on first use. It skips (fails in strict mode) when the build cannot run.
func K8sTool(t testing.TB, name string) string {
	t.Helper()
	RequireRoot(t)
	k8sBin.Lock()
	defer k8sBin.Unlock()
	if k8sBin.dirs == nil {
		k8sBin.dirs, k8sBin.errs = map[string]string{}, map[string]error{}
	}
	if _, done := k8sBin.dirs[name]; !done && k8sBin.errs[name] == nil {
		k8sBin.dirs[name], k8sBin.errs[name] = buildK8s(name)
	}
	if err := k8sBin.errs[name]; err != nil {
		Skip(t, "cannot build %s: %v", name, err)
	}
	return filepath.Join(k8sBin.dirs[name], name)
}

func buildK8s(name string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(root, "test/k8s/build.sh"), name)
	cmd.Env = append(os.Environ(), "NETDOCTOR_K8S_VERSION="+K8sVersion)
	var errb strings.Builder
	cmd.Stderr = &errb
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("test/k8s/build.sh %s: %w: %s", name, err, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1], nil
}

// StartAPIServer starts etcd and kube-apiserver in a fresh namespace and waits until /readyz
// answers ok (through the relay). Everything is stopped and removed when the test ends. extraArgs
// are appended to kube-apiserver's flags.
func StartAPIServer(t testing.TB, extraArgs ...string) *APIServer {
	t.Helper()
	bin := K8sBinaries(t)
	etcd := RequireTool(t, "etcd")
	RequireTool(t, "openssl")
	n := NewNetNS(t)
	dir, err := os.MkdirTemp(TempDir(t), "apiserver-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// A bridge (no dummy driver in this kernel) gives the API server a non-loopback advertise
	// address (it refuses 127.0.0.1) inside its own namespace only.
	const inner = "172.30.0.1"
	n.Exec(t, "ip", "link", "add", "apisrv0", "type", "bridge")
	n.Exec(t, "ip", "addr", "add", inner+"/24", "dev", "apisrv0")
	n.Exec(t, "ip", "link", "set", "apisrv0", "up")
	makeCerts(t, dir, inner)
	tokens := ""
	a := &APIServer{NS: n, Dir: dir, CAFile: filepath.Join(dir, "ca.crt"), InnerIP: inner}
	users := [][2]string{{"admin", "system:masters"}, {"alice", ""}, {"bob", ""}, {"agent", ""}}
	for _, node := range KubeletNodes {
		users = append(users, [2]string{"system:node:" + node, "system:nodes"})
	}
	for _, u := range users {
		tokens += fmt.Sprintf("%s,%s,uid-%s,%q\n", a.Token(u[0]), u[0], u[0], u[1])
	}
	if err := os.WriteFile(filepath.Join(dir, "tokens.csv"), []byte(tokens), 0o600); err != nil {
		t.Fatal(err)
	}

	etcdLog := openLog(t, dir, "etcd.log")
	ec := exec.Command("ip", "netns", "exec", n.Name, etcd, "--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", "http://127.0.0.1:2379", "--advertise-client-urls", "http://127.0.0.1:2379",
		"--listen-peer-urls", "http://127.0.0.1:2380", "--unsafe-no-fsync", "--log-level", "warn")
	ec.Stdout, ec.Stderr = etcdLog, etcdLog
	if err := ec.Start(); err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	t.Cleanup(func() { Kill(ec) })

	apiLog := openLog(t, dir, "kube-apiserver.log")
	args := []string{"netns", "exec", n.Name, filepath.Join(bin, "kube-apiserver"),
		"--etcd-servers=http://127.0.0.1:2379",
		"--bind-address=0.0.0.0", "--secure-port=6443", "--advertise-address=" + inner,
		"--tls-cert-file=" + filepath.Join(dir, "apiserver.crt"), "--tls-private-key-file=" + filepath.Join(dir, "apiserver.key"),
		"--client-ca-file=" + a.CAFile, "--token-auth-file=" + filepath.Join(dir, "tokens.csv"),
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + filepath.Join(dir, "sa.pub"),
		"--service-account-signing-key-file=" + filepath.Join(dir, "sa.key"),
		"--authorization-mode=Node,RBAC", "--service-cluster-ip-range=10.96.0.0/12",
		"--enable-priority-and-fairness=false", "--kubelet-preferred-address-types=InternalIP",
		"--allow-privileged=true", "--cert-dir=" + dir, "--profiling=false",
		// No controller-manager runs: pods are written by hand, so the ServiceAccount admission
		// plugin (which waits for the default ServiceAccount) is off.
		"--disable-admission-plugins=ServiceAccount",
	}
	ac := exec.Command("ip", append(args, extraArgs...)...)
	ac.Stdout, ac.Stderr = apiLog, apiLog
	if err := ac.Start(); err != nil {
		t.Fatalf("start kube-apiserver: %v", err)
	}
	t.Cleanup(func() { Kill(ac) })

	a.URL = "https://" + relay(t, n, inner+":6443")
	writeKubeconfig(t, filepath.Join(dir, "admin.kubeconfig"), a.URL, a.CAFile, "default",
		"    client-certificate: "+filepath.Join(dir, "admin.crt")+"\n    client-key: "+filepath.Join(dir, "admin.key")+"\n")
	a.AdminKubeconfig = filepath.Join(dir, "admin.kubeconfig")
	if err := a.waitReady(60*time.Second, ac); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "kube-apiserver.log"))
		t.Fatalf("kube-apiserver not ready: %v\n%s", err, tail(string(log), 3000))
	}
	return a
}

func openLog(t testing.TB, dir, name string) *os.File {
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// waitReady polls /readyz with the admin token until it says ok (its readiness signal).
func (a *APIServer) waitReady(timeout time.Duration, proc *exec.Cmd) error {
	pem, err := os.ReadFile(a.CAFile)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer c.CloseIdleConnections()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		if proc.ProcessState != nil {
			return fmt.Errorf("kube-apiserver exited")
		}
		req, _ := http.NewRequest("GET", a.URL+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+a.Token("admin"))
		resp, err := c.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 && strings.TrimSpace(string(b)) == "ok" {
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, tail(string(b), 300))
		} else {
			last = err.Error()
		}
		time.Sleep(200 * time.Millisecond) // polling a readiness endpoint: there is no event to wait on
	}
	return fmt.Errorf("after %s: %s", timeout, last)
}

// relay listens on 127.0.0.1 (an ephemeral port) in the root namespace and forwards every
// connection to addr inside n (the socket is created inside the namespace). It stops with the test.
func relay(t testing.TB, n *NetNS, addr string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("relay: %v", err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	track := func(c net.Conn, on bool) {
		mu.Lock()
		defer mu.Unlock()
		if on {
			conns[c] = true
		} else {
			delete(conns, c)
		}
	}
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				var up net.Conn
				err := n.NS.Do(func() error {
					var err error
					up, err = net.DialTimeout("tcp", addr, 5*time.Second)
					return err
				})
				if err != nil {
					c.Close()
					return
				}
				track(c, true)
				track(up, true)
				done := make(chan struct{}, 2)
				go func() { io.Copy(up, c); up.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
				go func() { io.Copy(c, up); c.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
				<-done
				<-done
				c.Close()
				up.Close()
				track(c, false)
				track(up, false)
			}()
		}
	}()
	return ln.Addr().String()
}

// makeCerts writes a CA, the API server's serving certificate, the admin client certificate and
// the service-account key pair with openssl.
func makeCerts(t testing.TB, dir, innerIP string) {
	t.Helper()
	sh := `set -e
cd "$1"
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=netdoctor-test-ca 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,IP:%s,IP:10.96.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost\nextendedKeyUsage=serverAuth\n' "$2" > san.ext
openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr -subj /CN=kube-apiserver 2>/dev/null
openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out apiserver.crt -days 2 -extfile san.ext 2>/dev/null
printf 'extendedKeyUsage=clientAuth\n' > client.ext
openssl req -newkey rsa:2048 -nodes -keyout admin.key -out admin.csr -subj /O=system:masters/CN=netdoctor-admin 2>/dev/null
openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out admin.crt -days 2 -extfile client.ext 2>/dev/null
openssl genrsa -out sa.key 2048 2>/dev/null
openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
`
	if out, err := exec.Command("bash", "-c", sh, "certs", dir, innerIP).CombinedOutput(); err != nil {
		t.Fatalf("certificates: %v: %s", err, out)
	}
}
