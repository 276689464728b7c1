//go:build linux

package live

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/netdoctor/netdoctor/internal/agent"
	"github.com/netdoctor/netdoctor/internal/check"
	"github.com/netdoctor/netdoctor/internal/image"
	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/nodestate"
	"github.com/netdoctor/netdoctor/internal/testenv"
)

// TestAgentFromScratch: the agent-only binary, alone in an otherwise empty root filesystem (as in
// its FROM-scratch image: a chroot holding just /netdoctor-agent, /proc and the files it is
// given), with PATH=/nonexistent, serves a node snapshot whose iptables rules (both backends) are
// exactly what iptables-nft-save and iptables-legacy-save print in the node's namespace: it runs
// the host's own binaries through the host's loader, found under the host root. In a pod that
// root is /proc/1/root (hostPID); this machine's PID 1 refuses ptrace access to everyone, so the
// test names the root of its own process with NETDOCTOR_HOST_ROOT=/proc/PID/root — the same
// magic link, through the same code path.
func TestAgentFromScratch(t *testing.T) {
	testenv.RequireRoot(t)
	for _, tool := range []string{"unshare", "mount", "iptables-nft", "iptables-legacy"} {
		testenv.RequireTool(t, tool)
	}
	chroot := testenv.RequireTool(t, "chroot")
	bin := agentBinary(t)
	a := testenv.StartAPIServer(t)
	acfg, err := clientcmd.BuildConfigFromFlags("", a.AdminKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cs := kubernetes.NewForConfigOrDie(acfg)
	grant(t, cs, "system:auth-delegator", nil, "agent")
	grant(t, cs, "netdoctor-diagnose", []rbacv1.PolicyRule{{APIGroups: []string{agent.PermissionGroup},
		Resources: []string{agent.PermissionResource}, Verbs: []string{agent.PermissionVerb}}}, "alice")

	n := testenv.NewNetNS(t)
	n.Exec(t, "iptables-nft", "-t", "nat", "-N", "KUBE-SERVICES")
	n.Exec(t, "iptables-nft", "-t", "nat", "-A", "PREROUTING", "-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES")
	n.Exec(t, "iptables-nft", "-t", "nat", "-A", "KUBE-SERVICES", "-d", "10.96.0.10/32", "-p", "tcp", "--dport", "53", "-j", "DNAT", "--to-destination", "10.244.1.5:53")
	n.Exec(t, "iptables-nft", "-A", "FORWARD", "-p", "tcp", "--dport", "8080", "-j", "REJECT", "--reject-with", "tcp-reset")
	n.Exec(t, "iptables-legacy", "-t", "nat", "-A", "POSTROUTING", "-s", "10.244.0.0/16", "-j", "MASQUERADE")
	want := map[string]*nodestate.Iptables{}
	for _, b := range [][2]string{{"nft", "iptables-nft-save"}, {"legacy", "iptables-legacy-save"}} {
		out, errOut, err := n.Output(context.Background(), b[1], "-c")
		if err != nil {
			t.Fatalf("%s: %v: %s", b[1], err, errOut)
		}
		ipt, err := nodestate.ParseIptablesSave([]byte(out))
		if err != nil {
			t.Fatal(err)
		}
		ipt.Backend = b[0]
		want[b[0]] = ipt
	}
	want["nft"].Other = want["legacy"]

	// The image's root filesystem: the binary and nothing else; mount points for what a container
	// runtime provides (/proc, /dev/null), the named namespaces and the API server's files
	// (kubeconfig, CA), mounted in a private mount namespace that ends with the agent.
	root := filepath.Join(testenv.TempDir(t), "scratch-"+strconv.Itoa(os.Getpid()))
	for _, d := range []string{"proc", "dev", "run/netns", a.Dir[1:]} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, image.AgentPath), b, 0o755); err != nil {
		t.Fatal(err)
	}
	kc := a.Kubeconfig(t, "agent", "")
	script := `set -e
mount -t proc proc "$1/proc"
: > "$1/dev/null"
mount --bind /dev/null "$1/dev/null"
mount --rbind /run/netns "$1/run/netns"
mount --bind "$2" "$1$2"
shift 2
exec env -i PATH=/nonexistent ` + nodestate.HostRootEnv + `=/proc/` + strconv.Itoa(os.Getpid()) + `/root ` + chroot + ` "$@"`
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", root, a.Dir,
		root, "/"+image.AgentPath, "agent", "--listen", "127.0.0.1:0", "--node-name", "n1", "--node-netns", n.Path, "--kubeconfig", kc, "--cri-socket", "")
	url := "http://" + serving(t, cmd, "n1")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := agent.NewClient(&kube.Cluster{}, agent.ClientOptions{Token: a.Token("alice"), Agents: map[string]string{"n1": url}})
	defer c.Close()
	snap, err := c.Node(ctx, "n1")
	if err != nil {
		t.Fatalf("node snapshot from the scratch agent: %v", err)
	}
	for _, e := range snap.Errors {
		if strings.Contains(e, "iptables") {
			t.Errorf("snapshot error: %s", e)
		}
	}
	got, _ := json.MarshalIndent(snap.Iptables, "", " ")
	exp, _ := json.MarshalIndent(want["nft"], "", " ")
	if string(got) != string(exp) {
		t.Errorf("iptables in the scratch agent's snapshot:\n%s\nwant (iptables-*-save in the namespace):\n%s", got, exp)
	}
	if snap.Iptables == nil || snap.Iptables.Rules != 3 || snap.Iptables.Other == nil || snap.Iptables.Other.Rules != 1 {
		t.Errorf("want 3 nft rules and 1 legacy rule, got %+v", snap.Iptables)
	}
	// Fresh counters through the agent's rules call too (what the firewall check reads).
	rules, err := c.Rules(ctx, check.Vantage{Node: "n1"})
	if err != nil || rules.Rules != 3 {
		t.Errorf("rules from the scratch agent: %+v, %v", rules, err)
	}
}
