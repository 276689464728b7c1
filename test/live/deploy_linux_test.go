//go:build linux

package live

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/netdoctor/netdoctor/internal/agent"
	"github.com/netdoctor/netdoctor/internal/kube/live"
	"github.com/netdoctor/netdoctor/internal/testenv"
)

func repo(rel string) string {
	_, me, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(me), "../..", rel)
}

// apply creates every document of a multi-document YAML stream in the API server, strictly
// decoded (an unknown field is an error), and returns the kinds/names it created.
func apply(t *testing.T, cs kubernetes.Interface, data []byte) []string {
	t.Helper()
	ctx := context.Background()
	co := metav1.CreateOptions{FieldValidation: "Strict"}
	var made []string
	for _, doc := range strings.Split(string(data), "\n---") {
		if strings.TrimSpace(strings.Trim(doc, "-\n")) == "" || !strings.Contains(doc, "kind:") {
			continue
		}
		js, err := yaml.YAMLToJSON([]byte(doc))
		if err != nil {
			t.Fatalf("yaml: %v\n%s", err, doc)
		}
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(js, nil, nil)
		if err != nil {
			t.Fatalf("decode: %v\n%s", err, doc)
		}
		switch o := obj.(type) {
		case *corev1.Namespace:
			_, err = cs.CoreV1().Namespaces().Create(ctx, o, co)
		case *corev1.ServiceAccount:
			_, err = cs.CoreV1().ServiceAccounts(o.Namespace).Create(ctx, o, co)
		case *rbacv1.ClusterRole:
			_, err = cs.RbacV1().ClusterRoles().Create(ctx, o, co)
		case *rbacv1.ClusterRoleBinding:
			_, err = cs.RbacV1().ClusterRoleBindings().Create(ctx, o, co)
		case *rbacv1.Role:
			_, err = cs.RbacV1().Roles(o.Namespace).Create(ctx, o, co)
		case *rbacv1.RoleBinding:
			_, err = cs.RbacV1().RoleBindings(o.Namespace).Create(ctx, o, co)
		case *appsv1.DaemonSet:
			_, err = cs.AppsV1().DaemonSets(o.Namespace).Create(ctx, o, co)
		default:
			t.Fatalf("unexpected kind %T in the manifests", obj)
		}
		if err != nil {
			t.Fatalf("create %T: %v", obj, err)
		}
		m, _ := metaOf(obj)
		made = append(made, fmt.Sprintf("%T %s", obj, m))
	}
	return made
}

func metaOf(obj any) (string, bool) {
	if o, ok := obj.(metav1.Object); ok {
		return o.GetNamespace() + "/" + o.GetName(), true
	}
	return "", false
}

// allowed asks the API server whether user (with groups) may do verb on group/resource.
func allowed(t *testing.T, cs kubernetes.Interface, user string, groups []string, verb, group, resource string) bool {
	t.Helper()
	r, err := cs.AuthorizationV1().SubjectAccessReviews().Create(context.Background(), &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
		User: user, Groups: groups, ResourceAttributes: &authzv1.ResourceAttributes{Verb: verb, Group: group, Resource: resource, Name: "node1"}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return r.Status.Allowed
}

// TestHelmChart: `helm lint --strict` passes, and `helm template` output is accepted by the real
// API server with strict field validation; what it grants works: the bound user lists the cluster
// view and may diagnose, the agent's ServiceAccount may review tokens and access, nothing more.
func TestHelmChart(t *testing.T) {
	helm := testenv.K8sTool(t, "helm")
	chart := repo("deploy/helm/netdoctor")
	home := t.TempDir() // helm's cache/config, not the user's
	henv := append(os.Environ(), "HELM_CACHE_HOME="+home, "HELM_CONFIG_HOME="+home, "HELM_DATA_HOME="+home)
	lint := exec.Command(helm, "lint", "--strict", chart)
	lint.Env = henv
	if out, err := lint.CombinedOutput(); err != nil {
		t.Fatalf("helm lint: %v\n%s", err, out)
	}
	tmpl := exec.Command(helm, "template", "nd", chart, "--namespace", "netdoctor", "--set", "rbac.users={alice}")
	tmpl.Env = henv
	rendered, err := tmpl.Output()
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	a := testenv.StartAPIServer(t)
	cfg, err := clientcmd.BuildConfigFromFlags("", a.AdminKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cs := kubernetes.NewForConfigOrDie(cfg)
	apply(t, cs, []byte("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: netdoctor\n"))
	made := apply(t, cs, rendered)
	t.Logf("created: %s", strings.Join(made, ", "))
	if _, err := cs.AppsV1().DaemonSets("netdoctor").Get(context.Background(), "nd-agent", metav1.GetOptions{}); err != nil {
		t.Errorf("the agent DaemonSet: %v", err)
	}
	checkGrants(t, a, cs, "system:serviceaccount:netdoctor:nd-agent")
}

// TestKustomizeManifests: the plain manifests under deploy/ (what `kubectl apply -k deploy/`
// applies, read from the kustomization files) are accepted with strict validation and grant the
// same.
func TestKustomizeManifests(t *testing.T) {
	a := testenv.StartAPIServer(t)
	cfg, err := clientcmd.BuildConfigFromFlags("", a.AdminKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cs := kubernetes.NewForConfigOrDie(cfg)
	var files []string
	var walk func(dir string)
	walk = func(dir string) {
		var k struct {
			Resources []string `json:"resources"`
		}
		b, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.UnmarshalStrict(b, &k); err != nil {
			// apiVersion/kind are allowed too
			if err := yaml.Unmarshal(b, &k); err != nil {
				t.Fatal(err)
			}
		}
		for _, r := range k.Resources {
			p := filepath.Join(dir, r)
			if st, err := os.Stat(p); err == nil && st.IsDir() {
				walk(p)
			} else {
				files = append(files, p)
			}
		}
	}
	walk(repo("deploy"))
	// Namespaces first, as kubectl apply -k orders them.
	var docs, nss []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range strings.Split(string(b), "\n---") {
			if strings.Contains(d, "\nkind: Namespace") || strings.HasPrefix(strings.TrimSpace(d), "apiVersion: v1\nkind: Namespace") {
				nss = append(nss, []byte(d+"\n---\n")...)
			} else {
				docs = append(docs, []byte(d+"\n---\n")...)
			}
		}
	}
	apply(t, cs, nss)
	apply(t, cs, docs)
	// Bind the two user roles to alice as the docs say.
	for _, r := range []string{"netdoctor-reader", "netdoctor-diagnose"} {
		if _, err := cs.RbacV1().ClusterRoleBindings().Create(context.Background(), &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: r + "-alice"},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: r},
			Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: "alice"}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	checkGrants(t, a, cs, "system:serviceaccount:netdoctor:netdoctor-agent")
}

func checkGrants(t *testing.T, a *testenv.APIServer, cs kubernetes.Interface, agentSA string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	acfg, err := clientcmd.BuildConfigFromFlags("", a.Kubeconfig(t, "alice", ""))
	if err != nil {
		t.Fatal(err)
	}
	var warns []string
	if _, err := live.FromAPI(ctx, acfg, live.Options{Warnf: func(f string, args ...any) { warns = append(warns, fmt.Sprintf(f, args...)) }}); err != nil || len(warns) > 0 {
		t.Errorf("alice lists the cluster view: %v %v", err, warns)
	}
	if !allowed(t, cs, "alice", nil, agent.PermissionVerb, agent.PermissionGroup, agent.PermissionResource) {
		t.Errorf("alice may not diagnose nodes")
	}
	if allowed(t, cs, "bob", nil, agent.PermissionVerb, agent.PermissionGroup, agent.PermissionResource) {
		t.Errorf("bob may diagnose nodes without a binding")
	}
	if allowed(t, cs, "alice", nil, "delete", "", "pods") || allowed(t, cs, "alice", nil, "watch", "", "pods") {
		t.Errorf("alice may delete or watch pods: the roles grant more than get/list")
	}
	groups := []string{"system:serviceaccounts", "system:serviceaccounts:netdoctor", "system:authenticated"}
	for _, res := range []struct{ group, resource string }{{"authentication.k8s.io", "tokenreviews"}, {"authorization.k8s.io", "subjectaccessreviews"}} {
		if !allowed(t, cs, agentSA, groups, "create", res.group, res.resource) {
			t.Errorf("the agent's ServiceAccount may not create %s", res.resource)
		}
	}
	if allowed(t, cs, agentSA, groups, "list", "", "secrets") {
		t.Errorf("the agent's ServiceAccount may list secrets")
	}
}
