//go:build linux

package live

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/kube/live/livetest"
	"github.com/netdoctor/netdoctor/internal/testenv"
)

// TestCompletionScript: kubectl runs kubectl_complete-netdoctor with the words typed after
// `kubectl netdoctor`; it must list diagnose's flags, kubectl's connection flags included.
func TestCompletionScript(t *testing.T) {
	_, knd := plugin(t)
	script := repo("plugins/kubectl_complete-netdoctor")
	env := []string{"PATH=" + filepath.Dir(knd) + ":" + os.Getenv("PATH")}
	out, errOut, code := run(t, env, script, "diagnose", "--kube")
	if code != 0 || !strings.Contains(out, "--kubeconfig") {
		t.Errorf("completing 'diagnose --kube': exit %d\n%s%s", code, out, errOut)
	}
	out, _, _ = run(t, env, script, "diag")
	if !strings.Contains(out, "diagnose") {
		t.Errorf("completing 'diag': %s", out)
	}
	out, _, _ = run(t, env, script, "diagnose", "--cont")
	if !strings.Contains(out, "--context") {
		t.Errorf("completing 'diagnose --cont': %s", out)
	}
}

// TestCompletionFromAPI: --from and --to complete from the live API in the context's namespace:
// pods and nodes for the source, services with their ports and pods for the target.
func TestCompletionFromAPI(t *testing.T) {
	testenv.RequireRoot(t)
	_, knd := plugin(t)
	a := testenv.StartAPIServer(t)
	cfg, err := clientcmd.BuildConfigFromFlags("", a.AdminKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := livetest.Load(ctx, cfg, &kube.Cluster{
		Nodes: []corev1.Node{{ObjectMeta: metav1.ObjectMeta{Name: "node1"}}},
		Pods: []corev1.Pod{{ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "team-a"},
			Spec: corev1.PodSpec{NodeName: "node1", Containers: []corev1.Container{{Name: "web", Image: "web"}}}}},
		Services: []corev1.Service{{ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: "team-a"},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}},
	}); err != nil {
		t.Fatal(err)
	}
	grantReader(t, a, "alice")
	script := repo("plugins/kubectl_complete-netdoctor")
	env := []string{"PATH=" + filepath.Dir(knd) + ":" + os.Getenv("PATH"), "KUBECONFIG=" + a.Kubeconfig(t, "alice", "team-a")}
	out, errOut, code := run(t, env, script, "diagnose", "--from", "")
	if code != 0 || !strings.Contains(out, "pod/web-1\n") || !strings.Contains(out, "node/node1\n") {
		t.Errorf("--from: exit %d\n%s%s", code, out, errOut)
	}
	out, _, _ = run(t, env, script, "diagnose", "--from", "pod/web-1", "--to", "svc/")
	if !strings.Contains(out, "svc/api:80\n") || strings.Contains(out, "pod/") {
		t.Errorf("--to svc/: %s", out)
	}
}
