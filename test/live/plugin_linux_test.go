//go:build linux

// Package live proves `kubectl netdoctor` against a real kube-apiserver: the lab's cluster view is
// loaded into the API server, and `kubectl-netdoctor diagnose` (the binary called through a
// symlink of that name, with a real kubeconfig and real RBAC) must give the same verdict as the
// dump path for the three seed cases.
package live

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/netdoctor/netdoctor/internal/diag"
	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/kube/live/livetest"
	"github.com/netdoctor/netdoctor/internal/lab"
	"github.com/netdoctor/netdoctor/internal/lab/fault"
	"github.com/netdoctor/netdoctor/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// run runs a binary (path) and returns stdout, stderr and the exit code.
func run(t *testing.T, env []string, bin string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return so.String(), se.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %s: %v", bin, strings.Join(args, " "), err)
	}
	return so.String(), se.String(), 0
}

// plugin returns the netdoctor binary reached through a symlink named kubectl-netdoctor.
func plugin(t *testing.T) (netdoctor, kubectlNetdoctor string) {
	t.Helper()
	bin := testenv.Binary(t)
	dir, err := os.MkdirTemp(testenv.TempDir(t), "plugin-")
	if err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "kubectl-netdoctor")
	if err := os.Symlink(bin, link); err != nil {
		t.Fatal(err)
	}
	return bin, link
}

func grantReader(t *testing.T, a *testenv.APIServer, user string) {
	t.Helper()
	_, me, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(me), "../../deploy/rbac/clusterrole.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.ClusterRole
	if err := yaml.UnmarshalStrict(b, &role); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", a.AdminKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cs := kubernetes.NewForConfigOrDie(cfg)
	ctx := context.Background()
	if _, err := cs.RbacV1().ClusterRoles().Create(ctx, &role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "netdoctor-reader-" + user},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role.Name},
		Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: user}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func report(t *testing.T, what, out, errOut string, code int) *diag.Report {
	t.Helper()
	if code == 2 {
		t.Fatalf("%s could not run (exit 2): %s", what, errOut)
	}
	var r diag.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%s: output is not a JSON report: %v\n%s%s", what, err, out, errOut)
	}
	return &r
}

// sameDiagnosis: the same verdict kind as the dump path and the catalogue, led by the same
// critical check; other critical findings may differ with timing (they are logged).
func sameDiagnosis(t *testing.T, what string, got, want *diag.Report, kind diag.Kind) {
	t.Helper()
	if got.Verdict.Kind != want.Verdict.Kind || got.Verdict.Kind != kind {
		t.Errorf("verdict: %s %s (%s), dump %s (%s), catalogue %s\nnotes: %v", what, got.Verdict.Kind, got.Verdict.Summary,
			want.Verdict.Kind, want.Verdict.Summary, kind, got.Notes)
	}
	g, w := criticalChecks(got), criticalChecks(want)
	if first(g) != first(w) {
		t.Errorf("leading critical check: %s %q, dump %q\nnotes: %v", what, g, w, got.Notes)
	} else if g != w {
		t.Logf("critical checks: %s %q, dump %q", what, g, w)
	}
}

func first(csv string) string {
	before, _, _ := strings.Cut(csv, ",")
	return before
}

func criticalChecks(r *diag.Report) string {
	var s []string
	for _, f := range r.Findings {
		if f.Severity == diag.SeverityCritical {
			s = append(s, f.Check)
		}
	}
	return strings.Join(s, ",")
}

// TestPluginSeedCasesMatchDump: for each seed case, a lab with the fault, its dump loaded into a
// real API server, and the same request through `kubectl-netdoctor diagnose --kubeconfig` (a
// user holding only the netdoctor-reader ClusterRole) and `netdoctor diagnose --cluster-dump`:
// same verdict (the catalogue's), led by the same critical check, same exit code.
func TestPluginSeedCasesMatchDump(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireTool(t, "iptables")
	nd, knd := plugin(t)
	t.Setenv(lab.EnvDir, filepath.Join(testenv.TempDir(t), "labs"))
	env := []string{lab.EnvDir + "=" + os.Getenv(lab.EnvDir), "KUBECONFIG="}
	cat := fault.Catalogue()
	for _, f := range cat[0:4] { // the healthy lab ("none"), then the three seed cases
		t.Run(f.Name, func(t *testing.T) {
			a := testenv.StartAPIServer(t)
			grantReader(t, a, "alice")
			name := testenv.Name("lab")
			if out, errOut, code := run(t, env, nd, "lab", "up", "--name", name, "--fault", f.Name); code != 0 {
				t.Fatalf("lab up: exit %d\n%s%s", code, out, errOut)
			}
			t.Cleanup(func() {
				if out, errOut, code := run(t, env, nd, "lab", "down", "--name", name); code != 0 {
					t.Errorf("lab down: exit %d\n%s%s", code, out, errOut)
				}
			})
			l, err := lab.Open(name)
			if err != nil {
				t.Fatal(err)
			}
			req := l.Expand(f).Request
			dump := lab.DumpPath(name)
			c, err := kube.LoadDump(dump)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := clientcmd.BuildConfigFromFlags("", a.AdminKubeconfig)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := livetest.Load(ctx, cfg, c); err != nil {
				t.Fatalf("load the lab's dump into the API server: %v", err)
			}
			args := []string{"diagnose", "--from", req.From, "--to", req.To, "-o", "json"}
			if req.Proto != "" {
				args = append(args, "--proto", req.Proto)
			}
			if req.Size > 0 {
				args = append(args, "--size", strconv.Itoa(req.Size))
			}
			start := time.Now()
			out, errOut, code := run(t, env, knd, append(args, "--kubeconfig", a.Kubeconfig(t, "alice", "default"))...)
			pluginTime := time.Since(start)
			got := report(t, "kubectl-netdoctor diagnose", out, errOut, code)
			start = time.Now()
			dout, derr, dcode := run(t, env, nd, append(args, "--cluster-dump", dump)...)
			dumpTime := time.Since(start)
			want := report(t, "netdoctor diagnose --cluster-dump", dout, derr, dcode)
			sameDiagnosis(t, "plugin", got, want, f.Kind)
			if code != dcode {
				t.Errorf("exit code: plugin %d, dump %d", code, dcode)
			}
			t.Logf("%s: %s", f.Name, got.Verdict.Summary)
			t.Logf("%s: wall time plugin %s, dump %s; plugin's slowest step: %s", f.Name, pluginTime.Round(time.Millisecond), dumpTime.Round(time.Millisecond), slowest(got))
		})
	}
}

// TestPluginRefusalsAndNamespace: a user without the ClusterRole gets one clear line and exit 2;
// pod/NAME means the kubeconfig context's namespace.
func TestPluginRefusalsAndNamespace(t *testing.T) {
	testenv.RequireRoot(t)
	_, knd := plugin(t)
	a := testenv.StartAPIServer(t)
	grantReader(t, a, "alice")
	env := []string{"KUBECONFIG="}
	_, errOut, code := run(t, env, knd, "diagnose", "--from", "pod/client", "--to", "10.0.0.1:80", "--kubeconfig", a.Kubeconfig(t, "bob", ""))
	if code != 2 || !strings.HasPrefix(errOut, "netdoctor: ") || !strings.Contains(errOut, "forbidden: the user needs get/list on") {
		t.Errorf("bob: exit %d, stderr %q", code, errOut)
	}
	if n := strings.Count(strings.TrimSpace(errOut), "\n"); n > 0 {
		t.Errorf("bob: the error spans %d lines, want one:\n%s", n+1, errOut)
	}
	// KUBECONFIG instead of --kubeconfig, and the context's namespace for pod/NAME.
	env = []string{"KUBECONFIG=" + a.Kubeconfig(t, "alice", "team-a")}
	_, errOut, code = run(t, env, knd, "diagnose", "--from", "pod/client", "--to", "10.0.0.1:80")
	if code != 2 || !strings.Contains(errOut, "team-a/client") {
		t.Errorf("pod/client with context namespace team-a: exit %d, stderr %q", code, errOut)
	}
}

// slowest names the report's slowest step.
func slowest(r *diag.Report) string {
	best := diag.Timing{}
	for _, tm := range r.Timings {
		if tm.Ms > best.Ms {
			best = tm
		}
	}
	var api float64
	for _, tm := range r.Timings {
		if strings.HasPrefix(tm.Step, "cluster view") {
			api = tm.Ms
		}
	}
	return fmt.Sprintf("%s %.0f ms (API fetch %.0f ms)", best.Step, best.Ms, api)
}
