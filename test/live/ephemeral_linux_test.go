//go:build linux

package live

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/netdoctor/netdoctor/internal/agent"
	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/kube/live/livetest"
	"github.com/netdoctor/netdoctor/internal/lab"
	"github.com/netdoctor/netdoctor/internal/lab/fault"
	"github.com/netdoctor/netdoctor/internal/testenv"
)

// nodeRunner plays the kubelet's part for ephemeral agent pods (no kubelet runs in these tests):
// for each pod bound to a lab node it starts the real `netdoctor agent` binary in that node's
// namespace on 127.0.0.N:port and reports the pod Running and Ready with that IP; a deleted pod's
// agent is killed.
type nodeRunner struct {
	t       *testing.T
	cs      kubernetes.Interface
	bin, kc string
	port    int
	nodes   map[string][2]string // node → netns, root
	mu      sync.Mutex
	procs   map[string]*exec.Cmd
	created chan string
}

func (r *nodeRunner) run(ctx context.Context, rv string) {
	w, err := r.cs.CoreV1().Pods("netdoctor").Watch(ctx, metav1.ListOptions{ResourceVersion: rv, LabelSelector: agent.EphemeralLabel + "=true"})
	if err != nil {
		r.t.Errorf("watch: %v", err)
		return
	}
	defer w.Stop()
	for ev := range w.ResultChan() {
		p, ok := ev.Object.(*corev1.Pod)
		if !ok {
			continue
		}
		switch ev.Type {
		case watch.Added:
			select {
			case r.created <- p.Name:
			default:
			}
			go r.start(ctx, p)
		case watch.Deleted:
			r.mu.Lock()
			testenv.Kill(r.procs[p.Name])
			delete(r.procs, p.Name)
			r.mu.Unlock()
		}
	}
}

func (r *nodeRunner) start(ctx context.Context, p *corev1.Pod) {
	n, ok := r.nodes[p.Spec.NodeName]
	if !ok {
		r.t.Errorf("ephemeral pod %s on unknown node %q", p.Name, p.Spec.NodeName)
		return
	}
	idx, _ := strconv.Atoi(strings.TrimPrefix(p.Spec.NodeName, "node"))
	ip := "127.0.0." + strconv.Itoa(10+idx)
	cmd := exec.Command(r.bin, "agent", "--listen", net.JoinHostPort(ip, strconv.Itoa(r.port)), "--node-name", p.Spec.NodeName,
		"--node-netns", n[0], "--root", n[1], "--kubeconfig", r.kc)
	cmd.Env = append(os.Environ(), "KUBECONFIG=")
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		r.t.Errorf("start agent: %v", err)
		return
	}
	r.mu.Lock()
	r.procs[p.Name] = cmd
	r.mu.Unlock()
	buf := make([]byte, 256)
	if _, err := out.Read(buf); err != nil { // the serving line: the agent listens
		return
	}
	p.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}, HostIP: ip,
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
	if _, err := r.cs.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil && ctx.Err() == nil {
		r.t.Logf("mark %s running: %v", p.Name, err)
	}
}

func (r *nodeRunner) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.procs {
		testenv.Kill(c)
	}
}

func ephemeralPods(t *testing.T, cs kubernetes.Interface) []string {
	t.Helper()
	l, err := cs.CoreV1().Pods("netdoctor").List(context.Background(), metav1.ListOptions{LabelSelector: agent.EphemeralLabel + "=true"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range l.Items {
		names = append(names, p.Name)
	}
	return names
}

// TestEphemeralAgents: with no agent DaemonSet, `kubectl-netdoctor diagnose --ephemeral` runs
// agent pods on the nodes it needs (through the real API server, with alice's RBAC: reader,
// diagnose and the ephemeral Role), gets the dump path's verdict for seed case 3, removes an
// expired leftover of an interrupted run, and leaves no pod behind — also when it is interrupted
// with Ctrl-C while its pods start.
func TestEphemeralAgents(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireTool(t, "iptables")
	nd, knd := plugin(t)
	t.Setenv(lab.EnvDir, filepath.Join(testenv.TempDir(t), "labs-eph"))
	env := []string{lab.EnvDir + "=" + os.Getenv(lab.EnvDir), "KUBECONFIG="}
	var f lab.Fault
	for _, x := range fault.Catalogue() {
		if x.Name == "kube-proxy-evicted-new-node" {
			f = x
		}
	}
	a := testenv.StartAPIServer(t)
	acfg, err := clientcmd.BuildConfigFromFlags("", a.AdminKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cs := kubernetes.NewForConfigOrDie(acfg)
	grantReader(t, a, "alice")
	grant(t, cs, "system:auth-delegator", nil, "agent")
	grant(t, cs, "netdoctor-diagnose", []rbacv1.PolicyRule{{APIGroups: []string{agent.PermissionGroup},
		Resources: []string{agent.PermissionResource}, Verbs: []string{agent.PermissionVerb}}}, "alice")
	apply(t, cs, []byte("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: netdoctor\n"))
	role, err := os.ReadFile(repo("deploy/rbac/ephemeral-role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	apply(t, cs, role)
	ctx := context.Background()
	if _, err := cs.RbacV1().RoleBindings("netdoctor").Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "eph-alice", Namespace: "netdoctor"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "netdoctor-ephemeral"},
		Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: "alice"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

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
	nodes := map[string][2]string{}
	for i := range c.Nodes {
		n := &c.Nodes[i]
		nodes[n.Name] = [2]string{n.Annotations[kube.AnnotationNetns], n.Annotations[kube.AnnotationRoot]}
		delete(n.Annotations, kube.AnnotationNetns)
		delete(n.Annotations, kube.AnnotationRoot)
	}
	lctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := livetest.Load(lctx, acfg, c); err != nil {
		t.Fatal(err)
	}
	// A leftover of a run killed long ago.
	left, err := cs.CoreV1().Pods("netdoctor").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "netdoctor-agent-dead-x",
		Labels:      map[string]string{agent.EphemeralLabel: "true", agent.RunLabel: "dead"},
		Annotations: map[string]string{agent.ExpiresAnnotation: time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)}},
		Spec: corev1.PodSpec{NodeName: "node1", Containers: []corev1.Container{{Name: "agent", Image: "netdoctor/netdoctor:v0.1.0"}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	r := &nodeRunner{t: t, cs: cs, bin: nd, kc: a.Kubeconfig(t, "agent", ""), port: port, nodes: nodes,
		procs: map[string]*exec.Cmd{}, created: make(chan string, 16)}
	rctx, rcancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { r.run(rctx, left.ResourceVersion); close(done) }()
	t.Cleanup(func() { rcancel(); <-done; r.stop() })

	args := []string{"diagnose", "--from", req.From, "--to", req.To, "--proto", req.Proto, "-o", "json", "--ephemeral",
		"--ephemeral-tls-secret", "", "--ephemeral-port", strconv.Itoa(port), "--kubeconfig", a.Kubeconfig(t, "alice", "default")}
	out, errOut, code := run(t, env, knd, args...)
	got := report(t, "kubectl-netdoctor diagnose --ephemeral", out, errOut, code)
	dout, derr, dcode := run(t, env, nd, "diagnose", "--from", req.From, "--to", req.To, "--proto", req.Proto, "-o", "json", "--cluster-dump", dump)
	want := report(t, "netdoctor diagnose --cluster-dump", dout, derr, dcode)
	sameDiagnosis(t, "--ephemeral", got, want, f.Kind)
	if !strings.Contains(strings.Join(got.Notes, "\n"), "removed 1 agent pod(s) left by an interrupted run: netdoctor-agent-dead-x") {
		t.Errorf("no note about the removed leftover: %v", got.Notes)
	}
	if left := ephemeralPods(t, cs); len(left) > 0 {
		t.Errorf("pods left after the run: %v", left)
	}

	// Ctrl-C while the agent pods start: the run ends and deletes them.
	for len(r.created) > 0 {
		<-r.created
	}
	cmd := exec.Command(knd, args...)
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.created:
	case <-time.After(60 * time.Second):
		testenv.Kill(cmd)
		t.Fatal("no ephemeral pod was created")
	}
	_ = cmd.Process.Signal(syscall.SIGINT)
	werr := make(chan error, 1)
	go func() { werr <- cmd.Wait() }()
	select {
	case <-werr:
	case <-time.After(60 * time.Second):
		testenv.Kill(cmd)
		t.Fatal("diagnose did not end after Ctrl-C")
	}
	if left := ephemeralPods(t, cs); len(left) > 0 {
		t.Errorf("pods left after Ctrl-C: %v", left)
	}
}
