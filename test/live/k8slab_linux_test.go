//go:build linux

package live

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netdoctor/netdoctor/internal/lab"
	"github.com/netdoctor/netdoctor/internal/lab/fault"
	"github.com/netdoctor/netdoctor/internal/lab/k8s"
	"github.com/netdoctor/netdoctor/internal/testenv"
)

// TestK8sLab runs `netdoctor lab up --k8s` — etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler, kubelet + containerd + runc on a control-plane node, real kube-proxy and flanneld
// on every node, CoreDNS with the kubernetes plugin — once per fault the catalogue marks K8s, and
// proves that `kubectl netdoctor diagnose` through the lab's kubeconfig, as a user who holds only
// the ClusterRoles of deploy/rbac (netdoctor-reader, netdoctor-diagnose), gives the same diagnosis as the dump path (`diagnose --lab`,
// the cluster as the lab read it back from the API) and the catalogue's kind. On the healthy lab it
// also rolls out the agent DaemonSet on the kubelet node from the image the lab imported, reaches
// the agent through the API server's pod proxy, and checks a user without the role is refused.
func TestK8sLab(t *testing.T) {
	testenv.RequireRoot(t)
	nd, knd := plugin(t)
	kubectl := testenv.K8sTool(t, "kubectl")
	// Not t.Setenv: the subtests run in parallel. lab.Current in this process reads the variable.
	old, had := os.LookupEnv(lab.EnvDir)
	os.Setenv(lab.EnvDir, filepath.Join(testenv.TempDir(t), "labs"))
	t.Cleanup(func() {
		if had {
			os.Setenv(lab.EnvDir, old)
		} else {
			os.Unsetenv(lab.EnvDir)
		}
	})
	env := []string{lab.EnvDir + "=" + os.Getenv(lab.EnvDir), "KUBECONFIG="}
	n := 0
	// Two labs at a time: each is a whole cluster (about 1 GiB, a few seconds of CPU to start).
	sem := make(chan struct{}, 2)
	for _, f := range fault.Catalogue() {
		if !f.K8s {
			continue
		}
		n++
		t.Run(f.Name, func(t *testing.T) {
			t.Parallel()
			sem <- struct{}{}
			defer func() { <-sem }()
			name := testenv.Name("k8s")
			start := time.Now()
			out, errOut, code := run(t, env, nd, "lab", "up", "--k8s", "--name", name, "--fault", f.Name)
			if code != 0 {
				t.Fatalf("lab up --k8s: exit %d\n%s%s", code, out, errOut)
			}
			upTime := time.Since(start)
			t.Cleanup(func() {
				if out, errOut, code := run(t, env, nd, "lab", "down", "--name", name); code != 0 {
					t.Errorf("lab down: exit %d\n%s%s", code, out, errOut)
				}
			})
			st, err := lab.Current(name)
			if err != nil {
				t.Fatal(err)
			}
			admin := st.KubeconfigPath()
			alice := filepath.Join(st.Dir, "k8s", "alice.kubeconfig")
			k := func(kc string, args ...string) string {
				t.Helper()
				out, errOut, code := run(t, nil, kubectl, append([]string{"--kubeconfig", kc}, args...)...)
				if code != 0 {
					t.Fatalf("kubectl %s: exit %d: %s%s", strings.Join(args, " "), code, out, errOut)
				}
				return out
			}
			// The role a user needs, from deploy/ as a user installs it, bound to alice only.
			k(admin, "create", "namespace", "netdoctor")
			k(admin, "apply", "-k", repo("deploy/rbac"))
			k(admin, "create", "clusterrolebinding", "alice-netdoctor-reader", "--clusterrole=netdoctor-reader", "--user=alice")
			k(admin, "create", "clusterrolebinding", "alice-netdoctor-diagnose", "--clusterrole=netdoctor-diagnose", "--user=alice")

			l, err := lab.Open(name)
			if err != nil {
				t.Fatal(err)
			}
			req := l.Expand(f).Request
			args := []string{"diagnose", "--from", req.From, "--to", req.To, "-o", "json"}
			if req.Proto != "" {
				args = append(args, "--proto", req.Proto)
			}
			if req.Size > 0 {
				args = append(args, "--size", strconv.Itoa(req.Size))
			}
			start = time.Now()
			out, errOut, code = run(t, env, knd, append(args, "--kubeconfig", alice)...)
			pluginTime := time.Since(start)
			got := report(t, "kubectl-netdoctor diagnose", out, errOut, code)
			dout, derr, dcode := run(t, env, nd, append(args, "--lab", name)...)
			want := report(t, "netdoctor diagnose --lab", dout, derr, dcode)
			sameDiagnosis(t, "plugin on the --k8s lab", got, want, f.Kind)
			if code != dcode {
				t.Errorf("exit code: plugin %d, dump path %d", code, dcode)
			}
			t.Logf("%s: lab up --k8s %s; kubectl netdoctor diagnose %s (slowest: %s): %s", f.Name, upTime.Round(time.Millisecond),
				pluginTime.Round(time.Millisecond), slowest(got), got.Verdict.Summary)

			if f.Name != "none" {
				return
			}
			// kubectl works against the lab, and the data plane is real: kube-proxy's and flannel's
			// pods on every lab node, real kube-proxy rules for the kubernetes Service.
			pods := k(admin, "get", "pods", "-A", "-o", "wide")
			for _, want := range []string{"kube-proxy-", "kube-flannel-ds-", "coredns-", "client-node3"} {
				if !strings.Contains(pods, want) {
					t.Errorf("kubectl get pods -A has no %s pod:\n%s", want, pods)
				}
			}
			// A user without the role: one clear line, exit 2.
			_, errOut, code = run(t, env, knd, append(args, "--kubeconfig", filepath.Join(st.Dir, "k8s", "bob.kubeconfig"))...)
			if code != 2 || !strings.HasPrefix(errOut, "netdoctor: ") || !strings.Contains(errOut, "forbidden") ||
				strings.Count(strings.TrimSpace(errOut), "\n") > 0 {
				t.Errorf("bob (no role): exit %d, stderr %q; want exit 2 and one line saying forbidden", code, errOut)
			}
			// The image `go run ./build/image` makes (the agent-only binary, FROM scratch, the host's
			// iptables through its own loader) replaces the one the lab wrote from its binary.
			img := filepath.Join(t.TempDir(), "agent-image.tar")
			build := exec.Command("go", "run", "./build/image", "-o", img)
			build.Dir = repo(".")
			if out, err := build.CombinedOutput(); err != nil {
				t.Fatalf("go run ./build/image: %v: %s", err, out)
			}
			kl := st.K8s.Kubelets[0]
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := k8s.ImportImage(ctx, k8s.KubeletSpec{Node: kl.Node, Dir: kl.Dir, Containerd: "/usr/bin/containerd"}, img); err != nil {
				t.Fatal(err)
			}
			rolloutAgent(t, k, admin)

			// The agent on the kubelet node, through the API server's pod proxy only: a diagnosis from
			// that node reads its view and probes from it there, never from this machine.
			start = time.Now()
			out, errOut, code = run(t, env, knd, "diagnose", "--agents-only", "--agent-via=proxy", "--from", "node/control-plane",
				"--to", "svc/default/web:80", "-o", "json", "--kubeconfig", admin)
			viaAgent := report(t, "kubectl-netdoctor diagnose --agents-only --agent-via=proxy", out, errOut, code)
			if viaAgent.Verdict.Kind != "healthy" {
				t.Errorf("from node/control-plane through its agent: verdict %s (%s)", viaAgent.Verdict.Kind, viaAgent.Verdict.Summary)
			}
			for _, fd := range viaAgent.Findings {
				// The lab's other nodes have no kubelet, so no agent: only control-plane's must answer.
				if fd.Check == "node-agent" && fd.Hop.Node == "control-plane" {
					t.Errorf("agent finding: %s: %s", fd.Title, strings.Join(fd.Evidence, "; "))
				}
			}
			for _, note := range viaAgent.Notes {
				// The kube-proxy check walks control-plane's NAT rules, read by the agent in its pod.
				if strings.Contains(note, "iptables") || strings.Contains(note, "check kube-proxy could not run") {
					t.Errorf("the agent could not read iptables on the node: %s", note)
				}
			}
			t.Logf("kubectl netdoctor diagnose through the agent pod (API server proxy): %s, %s; notes %q", time.Since(start).Round(time.Millisecond), viaAgent.Verdict.Summary, viaAgent.Notes)

			// --ephemeral: agent pods on just the nodes needed, deleted afterwards whatever happened
			// (the lab's nodes without a kubelet never start theirs).
			_, errOut, code = run(t, env, knd, "diagnose", "--agents-only", "--ephemeral", "--from", "node/control-plane",
				"--to", "svc/default/web:80", "-o", "json", "--kubeconfig", admin)
			if code == 2 {
				t.Errorf("--ephemeral: exit 2: %s", errOut)
			}
			if left := k(admin, "get", "pods", "-A", "-l", "netdoctor.dev/ephemeral", "-o", "name"); strings.TrimSpace(left) != "" {
				t.Errorf("--ephemeral left pods behind:\n%s", left)
			}
		})
	}
	if n < 4 {
		t.Errorf("only %d faults are marked K8s; the healthy lab and the three seed cases at least must be", n)
	}
}

// rolloutAgent installs deploy/ (RBAC and the agent DaemonSet) with the DaemonSet kept to the nodes
// that run a real kubelet, and the serving certificate as the Secret the DaemonSet mounts; waits
// for the rollout on the control-plane node (image netdoctor/netdoctor imported by the lab, never
// pulled), and reaches the agent through the API server's pod proxy.
func rolloutAgent(t *testing.T, k func(string, ...string) string, admin string) {
	// kustomize loads bases only from below the overlay: a copy of deploy/ sits next to it.
	dir := t.TempDir()
	if out, err := exec.Command("cp", "-r", repo("deploy"), filepath.Join(dir, "deploy")).CombinedOutput(); err != nil {
		t.Fatalf("copy deploy/: %v: %s", err, out)
	}
	overlay := `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - deploy
patches:
  - target: {kind: DaemonSet, name: netdoctor-agent}
    patch: |-
      - op: add
        path: /spec/template/spec/affinity
        value:
          nodeAffinity:
            requiredDuringSchedulingIgnoredDuringExecution:
              nodeSelectorTerms:
                - matchExpressions:
                    - {key: ` + lab.LabelKubelet + `, operator: In, values: [real]}
`
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(overlay), 0o644); err != nil {
		t.Fatal(err)
	}
	crt, key := selfSigned(t, dir, "netdoctor-agent")
	k(admin, "apply", "-k", dir)
	k(admin, "-n", "netdoctor", "create", "secret", "tls", "netdoctor-agent-tls", "--cert", crt, "--key", key)
	start := time.Now()
	k(admin, "-n", "netdoctor", "rollout", "status", "daemonset/netdoctor-agent", "--timeout=120s")
	t.Logf("agent DaemonSet rolled out on the kubelet node in %s", time.Since(start).Round(time.Millisecond))
	pod := strings.TrimSpace(k(admin, "-n", "netdoctor", "get", "pods", "-l", "app.kubernetes.io/name=netdoctor-agent",
		"-o", "jsonpath={.items[0].metadata.name} {.items[0].spec.nodeName} {.items[0].status.phase}"))
	f := strings.Fields(pod)
	if len(f) != 3 || f[1] != "control-plane" || f[2] != "Running" {
		t.Fatalf("agent pod: %q, want one Running pod on control-plane", pod)
	}
	health := k(admin, "get", "--raw", "/api/v1/namespaces/netdoctor/pods/https:"+f[0]+":7441/proxy/healthz")
	if !strings.Contains(health, "ok") {
		t.Errorf("agent /healthz through the API server's pod proxy: %q", health)
	}
}

// selfSigned writes a self-signed serving certificate and key for cn into dir.
func selfSigned(t *testing.T, dir, cn string) (crt, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, DNSNames: []string{cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	crt, key = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(crt, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return crt, key
}
