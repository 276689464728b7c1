//go:build linux

package agent_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/netdoctor/netdoctor/internal/agent"
	"github.com/netdoctor/netdoctor/internal/image"
	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/netns"
	"github.com/netdoctor/netdoctor/internal/testenv"
)

// startContainerd runs Debian's containerd (CRI plugin, runc, bridge CNI) inside a fresh network
// namespace, so the CNI bridge and every pod namespace stay out of the root namespace; its state
// lives in a temporary directory. It returns the CRI socket.
func startContainerd(t *testing.T) (sock, dir string) {
	t.Helper()
	for _, tool := range []string{"containerd", "ctr", "runc", "nsenter"} {
		testenv.RequireTool(t, tool)
	}
	if _, err := os.Stat("/usr/lib/cni/bridge"); err != nil {
		testenv.Skip(t, "no CNI plugins (containernetworking-plugins): %v", err)
	}
	n := testenv.NewNetNS(t)
	dir, err := os.MkdirTemp(testenv.TempDir(t), "containerd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock = filepath.Join(dir, "containerd.sock")
	br := testenv.IfName("cri")
	cni := `{"cniVersion":"0.4.0","name":"nd","plugins":[{"type":"bridge","bridge":"` + br + `","isGateway":true,
"ipam":{"type":"host-local","dataDir":"` + dir + `/ipam","ranges":[[{"subnet":"10.233.7.0/24"}]]}}]}`
	cfg := fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = %[3]q
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "netdoctor.test/pause:1"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %[4]q
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
      Root = %[5]q
`, dir+"/root", dir+"/state", sock, dir+"/cni", dir+"/runc")
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(dir+"/cni", 0o755))
	must(os.WriteFile(dir+"/cni/10-nd.conflist", []byte(cni), 0o644))
	must(os.WriteFile(dir+"/config.toml", []byte(cfg), 0o644))
	logf, err := os.Create(dir + "/containerd.log")
	must(err)
	t.Cleanup(func() { logf.Close() })
	// nsenter, not `ip netns exec` (which remounts /sys and hides the cgroup hierarchy).
	cmd := exec.Command("nsenter", "--net="+n.Path, "containerd", "--config", dir+"/config.toml")
	cmd.Stdout, cmd.Stderr = logf, logf
	must(cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			testenv.Kill(cmd)
		}
		// containerd's mounts (snapshots, sandbox shm) under dir must go before the directory.
		out, _ := os.ReadFile("/proc/self/mounts")
		for _, l := range strings.Split(string(out), "\n") {
			if f := strings.Fields(l); len(f) > 1 && strings.HasPrefix(f[1], dir) {
				_ = exec.Command("umount", "-l", f[1]).Run()
			}
		}
	})
	for deadline := time.Now().Add(30 * time.Second); ; {
		if exec.Command("ctr", "--address", sock, "version").Run() == nil {
			break
		}
		if time.Now().After(deadline) || cmd.ProcessState != nil {
			log, _ := os.ReadFile(dir + "/containerd.log")
			t.Fatalf("containerd did not start:\n%s", log)
		}
		time.Sleep(100 * time.Millisecond) // polling the socket: containerd has no readiness signal
	}
	return sock, dir
}

// pauseImage imports a FROM-scratch pause image (a static program that waits for SIGTERM) built by
// internal/image, the way images reach containerd without a registry.
func pauseImage(t *testing.T, sock, dir string) {
	t.Helper()
	src := filepath.Join(dir, "pause.go")
	if err := os.WriteFile(src, []byte("package main\nimport (\"os\";\"os/signal\";\"syscall\")\nfunc main() { c := make(chan os.Signal, 1); signal.Notify(c, syscall.SIGTERM, syscall.SIGINT); <-c }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "pause")
	b := exec.Command("go", "build", "-o", bin, src)
	b.Env = append(os.Environ(), "CGO_ENABLED=0", "GO111MODULE=off", "GOFLAGS=")
	if out, err := b.CombinedOutput(); err != nil {
		t.Fatalf("build pause: %v\n%s", err, out)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := image.Write(&buf, image.Options{Binary: data, Name: "netdoctor.test/pause:1", Cmd: []string{"pause"}}); err != nil {
		t.Fatal(err)
	}
	tar := filepath.Join(dir, "pause.tar")
	if err := os.WriteFile(tar, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("ctr", "--address", sock, "-n", "k8s.io", "images", "import", tar).CombinedOutput(); err != nil {
		t.Fatalf("ctr images import: %v\n%s", err, out)
	}
}

// TestCRIFindsPodNetns: a real pod sandbox (containerd, runc, bridge CNI) is found through the CRI
// socket by the pod's name and namespace, and the namespace path returned holds the pod's IP.
func TestCRIFindsPodNetns(t *testing.T) {
	testenv.RequireRoot(t)
	sock, dir := startContainerd(t)
	pauseImage(t, sock, dir)
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() }) // after the sandbox's removal below (cleanups run last-first)
	rt := runtimeapi.NewRuntimeServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cg := "/" + testenv.Name("cg")
	t.Cleanup(func() { removeCgroup(t, cg) })
	sc := &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: "web-1", Namespace: "team-a", Uid: "uid-web-1"},
		Hostname:     "web-1",
		LogDirectory: filepath.Join(dir, "logs"),
		Labels:       map[string]string{"io.kubernetes.pod.name": "web-1", "io.kubernetes.pod.namespace": "team-a", "io.kubernetes.pod.uid": "uid-web-1"},
		Linux:        &runtimeapi.LinuxPodSandboxConfig{CgroupParent: cg},
	}
	run, err := rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: sc})
	if err != nil {
		log, _ := os.ReadFile(dir + "/containerd.log")
		t.Fatalf("RunPodSandbox: %v\n%s", err, tailStr(string(log), 3000))
	}
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := rt.StopPodSandbox(c, &runtimeapi.StopPodSandboxRequest{PodSandboxId: run.PodSandboxId}); err != nil {
			t.Errorf("StopPodSandbox: %v", err)
		}
		if _, err := rt.RemovePodSandbox(c, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: run.PodSandboxId}); err != nil {
			t.Errorf("RemovePodSandbox: %v", err)
		}
	})
	st, err := rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: run.PodSandboxId})
	if err != nil || st.Status.GetNetwork().GetIp() == "" {
		t.Fatalf("sandbox status: %v %v", st, err)
	}
	ip := netip.MustParseAddr(st.Status.Network.Ip)

	cri := &agent.CRI{Socket: sock}
	path, err := cri.PodNetns(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "team-a", UID: "uid-web-1"}})
	if err != nil {
		t.Fatalf("PodNetns: %v", err)
	}
	ns, err := netns.OpenPath(path)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer ns.Close()
	h, err := ns.Netlink()
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	addrs, err := h.AddrList(nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, a := range addrs {
		if x, ok := netip.AddrFromSlice(a.IP); ok && x.Unmap() == ip {
			found = true
		}
	}
	if !found {
		t.Errorf("namespace %s does not hold the pod IP %s: %v", path, ip, addrs)
	}
	if _, err := cri.PodNetns(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-2", Namespace: "team-a"}}); err == nil {
		t.Errorf("a pod without a sandbox was found")
	}
	t.Logf("pod team-a/web-1 (%s): %s", ip, path)

	// The agent finds the pod the same way: a pod snapshot for a pod without annotations.
	srv, err := agent.NewServer(agent.ServerConfig{NodeName: "n1", Auth: allowAll{}, CRI: cri})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	c := agent.NewClient(&kube.Cluster{}, agent.ClientOptions{Token: "t", Agents: map[string]string{"n1": hs.URL}})
	defer c.Close()
	snap, err := c.Pod(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "team-a", UID: "uid-web-1"},
		Spec: corev1.PodSpec{NodeName: "n1"}, Status: corev1.PodStatus{PodIP: "10.99.99.99"}}) // a wrong IP: only the CRI can find it
	if err != nil {
		t.Fatalf("pod snapshot through the agent: %v", err)
	}
	found = false
	for _, l := range snap.Links {
		for _, a := range l.Addrs {
			found = found || a.IP == ip
		}
	}
	if !found {
		t.Errorf("the agent's pod snapshot lacks %s: %+v", ip, snap.Links)
	}
}

// allowAll lets every caller in: this test is about finding namespaces, not access control
// (which TestAgentRefuses checks against a real API server).
type allowAll struct{}

func (allowAll) Authorize(context.Context, string, string) (string, error) { return "test", nil }

func tailStr(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// removeCgroup removes the test's cgroup parent in every v1 hierarchy, deepest first, after killing
// (by PID) any process still in it.
func removeCgroup(t *testing.T, cg string) {
	t.Helper()
	hs, _ := filepath.Glob("/sys/fs/cgroup/*" + cg)
	for _, h := range hs {
		var dirs []string
		_ = filepath.WalkDir(h, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			if b, err := os.ReadFile(filepath.Join(dirs[i], "cgroup.procs")); err == nil {
				for _, f := range strings.Fields(string(b)) {
					var pid int
					if _, err := fmt.Sscan(f, &pid); err == nil && pid > 1 {
						if p, err := os.FindProcess(pid); err == nil {
							_ = p.Kill()
							t.Errorf("process %d was still in cgroup %s", pid, dirs[i])
						}
					}
				}
			}
			for try := 0; try < 50; try++ {
				if err := os.Remove(dirs[i]); err == nil || os.IsNotExist(err) {
					break
				}
				time.Sleep(20 * time.Millisecond) // a killed process leaves its cgroup asynchronously
			}
		}
	}
}
