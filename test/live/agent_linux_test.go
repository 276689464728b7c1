//go:build linux

package live

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/netdoctor/netdoctor/internal/agent"
	"github.com/netdoctor/netdoctor/internal/diag"
	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/kube/live/livetest"
	"github.com/netdoctor/netdoctor/internal/lab"
	"github.com/netdoctor/netdoctor/internal/lab/fault"
	"github.com/netdoctor/netdoctor/internal/testenv"
)

// startAgent runs `netdoctor agent` for one lab node (its namespace and host files), listening on
// loopback, authenticating callers against the API server as user "agent". It returns the URL
// once the agent printed its serving line (its readiness signal).
func startAgent(t *testing.T, bin, kubeconfig, node, netnsPath, root string) (string, *exec.Cmd) {
	t.Helper()
	cmd := exec.Command(bin, "agent", "--listen", "127.0.0.1:0", "--node-name", node, "--node-netns", netnsPath,
		"--root", root, "--kubeconfig", kubeconfig)
	cmd.Env = append(os.Environ(), "KUBECONFIG=")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
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
		return "http://" + strings.TrimSpace(l[i+4:]), cmd
	case <-time.After(30 * time.Second):
		t.Fatalf("agent %s did not start", node)
	}
	return "", nil
}

// grant binds a ClusterRole (created from rules when given) to a user.
func grant(t *testing.T, cs kubernetes.Interface, name string, rules []rbacv1.PolicyRule, user string) {
	t.Helper()
	ctx := context.Background()
	if rules != nil {
		if _, err := cs.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name + "-" + user},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: name},
		Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: user}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestPluginThroughAgents: the API server's Nodes carry no netdoctor.dev/netns annotation, so the
// node views (VXLAN device, kube-proxy's rules) come from `netdoctor agent` processes, one per lab
// node, reached with alice's token and checked by the real API server. The verdicts equal the dump
// path's for the seed cases that are decided on node state. Then node3's agent is stopped: the
// diagnosis still ends, well within its timeout, and says the agent could not be reached.
func TestPluginThroughAgents(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireTool(t, "iptables")
	nd, knd := plugin(t)
	t.Setenv(lab.EnvDir, filepath.Join(testenv.TempDir(t), "labs-agents"))
	env := []string{lab.EnvDir + "=" + os.Getenv(lab.EnvDir), "KUBECONFIG="}
	byName := map[string]lab.Fault{}
	for _, f := range fault.Catalogue() {
		byName[f.Name] = f
	}
	for _, name := range []string{"dual-ip-vxlan-source", "kube-proxy-evicted-new-node"} {
		f := byName[name]
		t.Run(name, func(t *testing.T) {
			a := testenv.StartAPIServer(t)
			grantReader(t, a, "alice")
			acfg, err := clientcmd.BuildConfigFromFlags("", a.AdminKubeconfig)
			if err != nil {
				t.Fatal(err)
			}
			cs := kubernetes.NewForConfigOrDie(acfg)
			grant(t, cs, "system:auth-delegator", nil, "agent")
			grant(t, cs, "netdoctor-diagnose", []rbacv1.PolicyRule{{APIGroups: []string{agent.PermissionGroup},
				Resources: []string{agent.PermissionResource}, Verbs: []string{agent.PermissionVerb}}}, "alice")

			labName := testenv.Name("lab")
			if out, errOut, code := run(t, env, nd, "lab", "up", "--name", labName, "--fault", f.Name); code != 0 {
				t.Fatalf("lab up: exit %d\n%s%s", code, out, errOut)
			}
			t.Cleanup(func() {
				if out, errOut, code := run(t, env, nd, "lab", "down", "--name", labName); code != 0 {
					t.Errorf("lab down: exit %d\n%s%s", code, out, errOut)
				}
			})
			l, err := lab.Open(labName)
			if err != nil {
				t.Fatal(err)
			}
			req := l.Expand(f).Request
			dump := lab.DumpPath(labName)
			c, err := kube.LoadDump(dump)
			if err != nil {
				t.Fatal(err)
			}
			agentCfg := a.Kubeconfig(t, "agent", "")
			var agentArgs []string
			agents := map[string]*exec.Cmd{}
			for i := range c.Nodes {
				n := &c.Nodes[i]
				url, cmd := startAgent(t, nd, agentCfg, n.Name, n.Annotations[kube.AnnotationNetns], n.Annotations[kube.AnnotationRoot])
				agents[n.Name] = cmd
				agentArgs = append(agentArgs, "--agent", n.Name+"="+url)
				delete(n.Annotations, kube.AnnotationNetns) // only the agent knows where the node is
				delete(n.Annotations, kube.AnnotationRoot)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := livetest.Load(ctx, acfg, c); err != nil {
				t.Fatal(err)
			}
			args := []string{"diagnose", "--from", req.From, "--to", req.To, "--proto", req.Proto, "-o", "json"}
			out, errOut, code := run(t, env, knd, append(append(args, "--kubeconfig", a.Kubeconfig(t, "alice", "default")), agentArgs...)...)
			got := report(t, "kubectl-netdoctor diagnose through agents", out, errOut, code)
			dout, derr, dcode := run(t, env, nd, append(args, "--cluster-dump", dump)...)
			want := report(t, "netdoctor diagnose --cluster-dump", dout, derr, dcode)
			sameDiagnosis(t, "through agents", got, want, f.Kind)

			// node3's agent dies: the diagnosis ends and says so.
			testenv.Kill(agents["node3"])
			start := time.Now()
			out, errOut, code = run(t, env, knd, append(append(args, "--kubeconfig", a.Kubeconfig(t, "alice", "default"), "--timeout", "30s"), agentArgs...)...)
			took := time.Since(start)
			dead := report(t, "diagnose with node3's agent dead", out, errOut, code)
			all := strings.Join(dead.Notes, "\n")
			for _, fd := range dead.Findings {
				all += "\n" + fd.Title + "\n" + strings.Join(fd.Evidence, "\n")
			}
			if !strings.Contains(all, "agent on node node3") || !strings.Contains(all, "agent unreachable") {
				t.Errorf("nothing in the report says node3's agent is unreachable:\n%s", out)
			}
			agentFinding := false
			for _, fd := range dead.Findings {
				agentFinding = agentFinding || fd.Check == "node-agent" && fd.Hop.Node == "node3" && fd.Severity == diag.SeverityWarning
			}
			if !agentFinding {
				t.Errorf("no node-agent warning for node3:\n%s", out)
			}
			if took > 25*time.Second {
				t.Errorf("diagnosis with a dead agent took %s", took)
			}
			t.Logf("with node3's agent dead: %s in %s", dead.Verdict.Summary, took.Round(time.Millisecond))
		})
	}
}
