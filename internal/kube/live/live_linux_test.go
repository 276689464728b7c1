//go:build linux

package live_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/kube/live"
	"github.com/netdoctor/netdoctor/internal/kube/live/livetest"
	"github.com/netdoctor/netdoctor/internal/lab"
	"github.com/netdoctor/netdoctor/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func restConfig(t *testing.T, kubeconfig string) *rest.Config {
	t.Helper()
	c, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// repoFile is a path in the repository (this file is internal/kube/live/live_linux_test.go).
func repoFile(rel string) string {
	_, me, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(me), "../../..", rel)
}

// bindClusterRole applies a ClusterRole from deploy/ and binds it to user.
func bindClusterRole(t *testing.T, cs kubernetes.Interface, file, user string) {
	t.Helper()
	b, err := os.ReadFile(repoFile(file))
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.ClusterRole
	if err := yaml.UnmarshalStrict(b, &role); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	ctx := context.Background()
	if _, err := cs.RbacV1().ClusterRoles().Create(ctx, &role, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create %s: %v", role.Name, err)
	}
	rb := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: role.Name + "-" + user},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role.Name},
		Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: user}}}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, rb, metav1.CreateOptions{}); err != nil {
		t.Fatalf("bind %s: %v", role.Name, err)
	}
}

// labDump is the cluster view a healthy 3-node lab writes (computed from its plan; no lab runs).
func labDump(t *testing.T) *kube.Cluster {
	t.Helper()
	p, err := lab.NewPlan(lab.Options{Name: "ndlive"})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AllocateIPs(); err != nil {
		t.Fatal(err)
	}
	l := &lab.Lab{Plan: p, State: &lab.State{Name: p.Name, Created: time.Now()}}
	b, err := l.Dump()
	if err != nil {
		t.Fatal(err)
	}
	c, err := kube.ReadDump(strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestFromAPIMatchesDump loads a lab's dump into a real kube-apiserver and checks that the live
// view, read by a user holding only deploy/rbac/clusterrole.yaml, holds the same objects with the
// same facts the checks read.
func TestFromAPIMatchesDump(t *testing.T) {
	a := testenv.StartAPIServer(t)
	admin := restConfig(t, a.AdminKubeconfig)
	cs := kubernetes.NewForConfigOrDie(admin)
	want := labDump(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := livetest.Load(ctx, admin, want); err != nil {
		t.Fatalf("load dump: %v", err)
	}
	bindClusterRole(t, cs, "deploy/rbac/clusterrole.yaml", "alice")

	var warns []string
	got, err := live.FromAPI(ctx, restConfig(t, a.Kubeconfig(t, "alice", "")), live.Options{PageSize: 3,
		Warnf: func(f string, args ...any) { warns = append(warns, f) }})
	if err != nil {
		t.Fatalf("FromAPI as a netdoctor-reader: %v", err)
	}
	if len(warns) > 0 {
		t.Errorf("the ClusterRole misses rules: %v", warns)
	}
	if got.Source != a.URL {
		t.Errorf("Source %q, want %q", got.Source, a.URL)
	}
	type fact = map[string]string
	collect := func(c *kube.Cluster) map[string]fact {
		m := map[string]fact{}
		for _, n := range c.Nodes {
			m["node/"+n.Name] = fact{"ip": kube.InternalIP(&n).String(), "cidr": n.Spec.PodCIDR,
				"netns": n.Annotations[kube.AnnotationNetns], "vtep": n.Annotations[kube.AnnotationFlannelPublicIP], "conds": fmtConds(n.Status.Conditions)}
		}
		for _, p := range c.Pods {
			m["pod/"+p.Namespace+"/"+p.Name] = fact{"node": p.Spec.NodeName, "ip": p.Status.PodIP, "phase": string(p.Status.Phase),
				"reason": p.Status.Reason, "prio": p.Spec.PriorityClassName, "kube-proxy": map[bool]string{true: "yes"}[kube.IsKubeProxy(&p)],
				"ready": map[bool]string{true: "yes"}[kube.PodReady(&p)], "pid": p.Annotations[kube.AnnotationPID]}
		}
		for _, s := range c.Services {
			if s.Namespace == "default" && s.Name == "kubernetes" {
				continue // the API server's own
			}
			m["svc/"+s.Namespace+"/"+s.Name] = fact{"ip": s.Spec.ClusterIP, "type": string(s.Spec.Type), "ports": strings.Join(portList(s.Spec.Ports), ",")}
		}
		for _, e := range c.EndpointSlices {
			if e.Namespace == "default" && e.Name == "kubernetes" {
				continue
			}
			var addrs []string
			for _, ep := range e.Endpoints {
				addrs = append(addrs, ep.Addresses...)
			}
			sort.Strings(addrs)
			m["eps/"+e.Namespace+"/"+e.Name] = fact{"addrs": strings.Join(addrs, ",")}
		}
		for _, d := range c.DaemonSets {
			m["ds/"+d.Namespace+"/"+d.Name] = fact{"prio": d.Spec.Template.Spec.PriorityClassName}
		}
		for _, e := range c.Events {
			m["event/"+e.Namespace+"/"+e.Name] = fact{"reason": e.Reason, "obj": e.InvolvedObject.Kind + "/" + e.InvolvedObject.Name, "msg": e.Message,
				"by": e.Source.Component + e.ReportingController}
		}
		for _, pc := range c.PriorityClasses {
			m["pc/"+pc.Name] = fact{}
		}
		return m
	}
	w, g := collect(want), collect(got)
	for k, wf := range w {
		gf, ok := g[k]
		if !ok {
			t.Errorf("%s is in the dump but not in the live view", k)
			continue
		}
		for fk, fv := range wf {
			if gf[fk] != fv {
				t.Errorf("%s: %s = %q live, %q in the dump", k, fk, gf[fk], fv)
			}
		}
	}
	for k, gf := range g {
		// The API server posts Events of its own about the loaded objects (e.g. on Services);
		// those are the live view's, not a loading error.
		if strings.HasPrefix(k, "event/") && gf["by"] != "kubelet" {
			t.Logf("event the API server made: %s %v", k, gf)
			continue
		}
		if _, ok := w[k]; !ok && !strings.HasPrefix(k, "pc/system-") {
			t.Errorf("%s is in the live view but not in the dump", k)
		}
	}
	if len(want.Pods) < 5 || len(got.Pods) != len(want.Pods) {
		t.Errorf("pods: %d live, %d in the dump", len(got.Pods), len(want.Pods))
	}
}

func portList(ps []corev1.ServicePort) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name+":"+string(p.Protocol)+":"+strconv.Itoa(int(p.Port)))
	}
	return out
}

// TestFromAPIRefusals: a user without the ClusterRole and a token the server does not know both
// fail with a message that says what to do.
func TestFromAPIRefusals(t *testing.T) {
	a := testenv.StartAPIServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := live.FromAPI(ctx, restConfig(t, a.Kubeconfig(t, "bob", "")), live.Options{})
	if err == nil || !strings.Contains(err.Error(), "forbidden: the user needs get/list on") || !strings.Contains(err.Error(), "deploy/rbac/clusterrole.yaml") {
		t.Errorf("bob without rights: %v", err)
	}
	cfg := restConfig(t, a.Kubeconfig(t, "bob", ""))
	cfg.BearerToken = "no-such-token"
	_, err = live.FromAPI(ctx, cfg, live.Options{})
	if err == nil || !strings.Contains(err.Error(), "does not accept these credentials") {
		t.Errorf("unknown token: %v", err)
	}
	// Nothing listens: one line naming the server, the first kind, and the others.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Host = "https://" + l.Addr().String()
	l.Close()
	_, err = live.FromAPI(ctx, cfg, live.Options{})
	if err == nil || !strings.HasPrefix(err.Error(), "kube/live: cannot reach the API server "+cfg.Host) ||
		!strings.Contains(err.Error(), "(listing pods, services failed too)") || strings.Contains(err.Error(), "\n") {
		t.Errorf("no API server: %v", err)
	}
}

func fmtConds(cs []corev1.NodeCondition) string {
	var out []string
	for _, c := range cs {
		out = append(out, string(c.Type)+"="+string(c.Status))
	}
	return strings.Join(out, ",")
}
