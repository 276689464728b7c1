//go:build linux

package k8s

import (
	"archive/tar"
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/retry"

	"github.com/netdoctor/netdoctor/internal/testenv"
)

// sleeperSrc is the program both test images run (it stands in for netdoctor): as `agent` it
// checks that the file named by $ND_WANT_FILE exists (a volume kubelet mounted reached the
// container) and answers "ok" on TCP 7441; as anything else (`lab pause`) it only waits. Both exit
// 0 on SIGTERM.
const sleeperSrc = `package main

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	if len(os.Args) > 1 && os.Args[1] == "agent" {
		if f := os.Getenv("ND_WANT_FILE"); f != "" {
			if _, err := os.Stat(f); err != nil {
				fmt.Println(err)
				os.Exit(1)
			}
		}
		ln, err := net.Listen("tcp", ":7441")
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				fmt.Fprintln(c, "ok")
				c.Close()
			}
		}()
	}
	<-sig
}
`

var sleeper struct {
	sync.Once
	path string
	err  error
}

// sleeperBinary builds sleeperSrc once, static, and returns its path.
func sleeperBinary(t *testing.T) string {
	t.Helper()
	sleeper.Do(func() {
		dir, err := os.MkdirTemp("", "nd-sleeper-")
		if err != nil {
			sleeper.err = err
			return
		}
		defer os.RemoveAll(dir)
		if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(sleeperSrc), 0o644); err != nil {
			sleeper.err = err
			return
		}
		if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module sleeper\n\ngo 1.22\n"), 0o644); err != nil {
			sleeper.err = err
			return
		}
		out := filepath.Join(testenv.TempDir(t), "sleeper")
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=")
		if b, err := cmd.CombinedOutput(); err != nil {
			sleeper.err = fmt.Errorf("go build: %v: %s", err, b)
			return
		}
		sleeper.path = out
	})
	if sleeper.err != nil {
		t.Fatalf("build the test images' program: %v", sleeper.err)
	}
	return sleeper.path
}

// TestWriteImages: the two archives carry the references and commands the lab relies on.
func TestWriteImages(t *testing.T) {
	bin := sleeperBinary(t)
	agentTar, pauseTar, agentRef, pauseRef, err := WriteImages(t.TempDir(), bin)
	if err != nil {
		t.Fatal(err)
	}
	if agentRef != "docker.io/netdoctor/netdoctor:v0.1.0" || pauseRef != "registry.k8s.io/pause:3.10" {
		t.Errorf("references %q, %q", agentRef, pauseRef)
	}
	for _, c := range []struct {
		tar, ref string
		cmd      []string
	}{{agentTar, agentRef, []string{"agent"}}, {pauseTar, pauseRef, []string{"lab", "pause"}}} {
		name, entry, cmd := readArchive(t, c.tar)
		if name != c.ref || strings.Join(entry, " ") != "/netdoctor" || strings.Join(cmd, " ") != strings.Join(c.cmd, " ") {
			t.Errorf("%s: image %q entrypoint %q cmd %q; want %q [/netdoctor] %q", c.tar, name, entry, cmd, c.ref, c.cmd)
		}
	}
	if _, _, _, _, err := WriteImages(t.TempDir(), "/nonexistent/netdoctor"); err == nil ||
		!strings.HasPrefix(err.Error(), "k8s: images: read the netdoctor binary: ") {
		t.Errorf("missing binary: %v", err)
	}
}

// readArchive returns the image name of an archive's index and its config's entrypoint and cmd.
func readArchive(t *testing.T, path string) (name string, entry, cmd []string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	files := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		b, _ := io.ReadAll(tr)
		files[h.Name] = b
	}
	var index struct {
		Manifests []struct {
			Digest      string
			Annotations map[string]string
		}
	}
	var man struct{ Config struct{ Digest string } }
	var cfg struct {
		Config struct{ Entrypoint, Cmd []string }
	}
	blob := func(d string) []byte { return files["blobs/sha256/"+strings.TrimPrefix(d, "sha256:")] }
	if err := json.Unmarshal(files["index.json"], &index); err != nil || len(index.Manifests) != 1 {
		t.Fatalf("%s: index.json: %v %s", path, err, files["index.json"])
	}
	if err := json.Unmarshal(blob(index.Manifests[0].Digest), &man); err != nil {
		t.Fatalf("%s: manifest: %v", path, err)
	}
	if err := json.Unmarshal(blob(man.Config.Digest), &cfg); err != nil {
		t.Fatalf("%s: config: %v", path, err)
	}
	return index.Manifests[0].Annotations["io.containerd.image.name"], cfg.Config.Entrypoint, cfg.Config.Cmd
}

func testSpec(dir string) KubeletSpec {
	return KubeletSpec{
		Node: "node1", Netns: "/run/netns/x", NodeIP: netip.MustParseAddr("172.30.0.10"),
		PodCIDR:  netip.MustParsePrefix("10.244.0.0/24"),
		PodRange: [2]netip.Addr{netip.MustParseAddr("10.244.0.100"), netip.MustParseAddr("10.244.0.150")},
		PodMTU:   1450, Dir: dir, CgroupRoot: "/ndtest-node1",
		APIServer: "https://172.30.0.1:6443", CAFile: "/ca.crt", Token: "tok", ClientCAFile: "/ca.crt",
		ClusterDNS: netip.MustParseAddr("10.96.0.10"), ClusterDomain: "cluster.local",
		SandboxImage: PauseImage, Kubelet: "/bin/kubelet", Containerd: "/usr/bin/containerd", Runc: "/usr/sbin/runc",
		CNIBinDir: "/usr/lib/cni",
	}
}

// TestConfigs: the files the node's runtime reads say what the lab needs (the traps of
// docs/real-k8s: restrict_oom_score_adj, runc, cgroupfs under the node's cgroup, cgroup v1 allowed).
func TestConfigs(t *testing.T) {
	s := testSpec("/run/netdoctor/lab/t/k8s/node1")
	l := layoutOf(s.Dir)
	var conf struct {
		Name    string
		Plugins []struct {
			Type, Bridge           string
			IsGateway, HairpinMode bool
			IPMasq                 bool
			MTU                    int
			IPAM                   struct {
				Type, DataDir string
				Ranges        [][]map[string]string
			}
		}
	}
	if err := json.Unmarshal([]byte(cniConflist(s, l)), &conf); err != nil {
		t.Fatalf("conflist is not JSON: %v\n%s", err, cniConflist(s, l))
	}
	b := conf.Plugins[0]
	want := map[string]string{"subnet": "10.244.0.0/24", "rangeStart": "10.244.0.100", "rangeEnd": "10.244.0.150", "gateway": "10.244.0.1"}
	if len(conf.Plugins) != 2 || b.Type != "bridge" || b.Bridge != "cni0" || !b.IsGateway || !b.HairpinMode || b.IPMasq || b.MTU != 1450 ||
		b.IPAM.Type != "host-local" || b.IPAM.DataDir != l.IPAMDir || fmt.Sprint(b.IPAM.Ranges) != fmt.Sprint([][]map[string]string{{want}}) ||
		conf.Plugins[1].Type != "portmap" {
		t.Errorf("conflist: %+v", conf)
	}
	for _, c := range []struct {
		name, text string
		lines      []string
	}{
		{"containerd", containerdConfig(s, l), []string{"version = 2", `root = "/run/netdoctor/lab/t/k8s/node1/containerd/root"`,
			`address = "/run/netdoctor/lab/t/k8s/node1/containerd.sock"`, "restrict_oom_score_adj = true", "netns_mounts_under_state_dir = true",
			`sandbox_image = "registry.k8s.io/pause:3.10"`, `BinaryName = "/usr/sbin/runc"`, `Root = "/run/netdoctor/lab/t/k8s/node1/containerd/runc"`,
			`conf_dir = "/run/netdoctor/lab/t/k8s/node1/cni/net.d"`, `bin_dir = "/usr/lib/cni"`}},
		{"kubelet", kubeletConfig(s, l), []string{"failCgroupV1: false", "cgroupDriver: cgroupfs", `cgroupRoot: "/ndtest-node1"`,
			`containerRuntimeEndpoint: "unix:///run/netdoctor/lab/t/k8s/node1/containerd.sock"`, `clusterDNS: ["10.96.0.10"]`,
			`address: "172.30.0.10"`, "readOnlyPort: 0", "  mode: Webhook", `    clientCAFile: "/ca.crt"`, "failSwapOn: false",
			"protectKernelDefaults: true", `  nodefs.available: "1%"`, `resolvConf: "/run/netdoctor/lab/t/k8s/node1/resolv.conf"`}},
	} {
		have := map[string]bool{}
		for _, line := range strings.Split(c.text, "\n") {
			have[strings.TrimLeft(line, " ")] = true
		}
		for _, w := range c.lines {
			if !have[strings.TrimLeft(w, " ")] {
				t.Errorf("%s config lacks %q:\n%s", c.name, w, c.text)
			}
		}
	}
}

// TestSpecErrors: a bad spec is refused with one line naming the field, before anything starts.
func TestSpecErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(*KubeletSpec)
		want string
	}{
		{"no token", func(s *KubeletSpec) { s.Token = "" }, `k8s: kubelet spec of node "node1": no API server URL, CA file or token: the lab must set it`},
		{"root cgroup", func(s *KubeletSpec) { s.CgroupRoot = "/" }, `k8s: kubelet spec of node "node1": cgroup root "/" is not an absolute cgroup path below /: the lab must set it`},
		{"range outside", func(s *KubeletSpec) { s.PodRange[1] = netip.MustParseAddr("10.245.0.1") },
			`k8s: kubelet spec of node "node1": pod range 10.244.0.100-10.245.0.1 is not an ordered range inside 10.244.0.0/24: the lab must set it`},
	} {
		s := testSpec(t.TempDir())
		c.edit(&s)
		if _, err := StartKubelet(context.Background(), s, nil); err == nil || err.Error() != c.want {
			t.Errorf("%s: got %v\nwant %s", c.name, err, c.want)
		}
	}
	if err := CleanupKubelet("/", "/x"); err == nil {
		t.Errorf("CleanupKubelet accepted / as the state directory")
	}
	if err := CleanupKubelet("/tmp/x", "/"); err == nil {
		t.Errorf("CleanupKubelet accepted the root cgroup")
	}
}

// TestKubeletRunsPods: real containerd, runc and kubelet v1.37 on a node namespace next to a real
// API server: the Node registers, a hostNetwork pod and a pod on the bridge CNI (with a
// downward-API volume, which kubelet mounts as tmpfs in its own mount namespace) run from the
// imported images, both answer on TCP; then kill + CleanupKubelet leave no process, mount, pod
// namespace, cgroup or host sysctl change behind.
func TestKubeletRunsPods(t *testing.T) {
	testenv.RequireRoot(t)
	bins := map[string]string{}
	for _, tool := range []string{"containerd", "containerd-shim-runc-v2", "ctr", "runc", "nsenter"} {
		bins[tool] = testenv.RequireTool(t, tool)
	}
	if _, err := os.Stat("/usr/lib/cni/bridge"); err != nil {
		testenv.Skip(t, "no CNI plugins in /usr/lib/cni (Debian containernetworking-plugins): %v", err)
	}
	kubelet := testenv.K8sTool(t, "kubelet")
	sysctlsBefore := readKernelDefaults(t)

	api := testenv.StartAPIServer(t)
	node := testenv.NewNetNS(t)
	const nodeIP = "172.30.0.10"
	peer := testenv.IfName("kv")
	testenv.Veth(t, node, "eth0", nodeIP+"/24", api.NS, peer, "")
	api.NS.Exec(t, "ip", "link", "set", peer, "master", "apisrv0")
	node.Exec(t, "ip", "route", "add", "default", "via", api.InnerIP)
	// What the lab builds on every node: cni0 holding the pod CIDR's gateway.
	node.Exec(t, "ip", "link", "add", "cni0", "type", "bridge")
	node.Exec(t, "ip", "addr", "add", "10.244.0.1/24", "dev", "cni0")
	node.Exec(t, "ip", "link", "set", "cni0", "up")

	dir, err := os.MkdirTemp(testenv.TempDir(t), "kubelet-")
	if err != nil {
		t.Fatal(err)
	}
	agentTar, pauseTar, agentRef, pauseRef, err := WriteImages(filepath.Join(dir, "images"), sleeperBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	s := testSpec(filepath.Join(dir, "node1"))
	s.Netns, s.CgroupRoot = node.Path, "/"+testenv.Name("kl")
	s.APIServer, s.CAFile, s.ClientCAFile = "https://"+api.InnerIP+":6443", api.CAFile, api.CAFile
	s.Token = api.Token("system:node:" + s.Node)
	s.Images, s.SandboxImage = []string{agentTar, pauseTar}, pauseRef
	s.Kubelet, s.Containerd, s.Runc = kubelet, bins["containerd"], bins["runc"]

	ctx, cancel := context.WithTimeoutCause(context.Background(), 3*time.Minute, errors.New("test deadline (3 min)"))
	defer cancel()
	t0 := time.Now()
	t.Cleanup(func() {
		if t.Failed() {
			l := layoutOf(s.Dir)
			for _, f := range []string{l.ContainerdLog, l.KubeletLog} {
				b, _ := os.ReadFile(f)
				t.Logf("--- tail of %s:\n%s", f, lastLines(string(b), 40))
			}
		}
	})
	procs, err := StartKubelet(ctx, s, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	tHealthy := time.Since(t0)
	t.Cleanup(func() { // only matters when the test fails before its own teardown
		for _, p := range procs {
			p.Kill(10 * time.Second)
		}
		if err := CleanupKubelet(s.Dir, s.CgroupRoot); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	if len(procs) != 2 || !strings.HasPrefix(procs[0].Name, "containerd/") || !strings.HasPrefix(procs[1].Name, "kubelet/") {
		t.Fatalf("procs: %+v", procs)
	}
	// A process that dies ends the wait below with its log.
	ctx, cancelDead := context.WithCancelCause(ctx)
	defer cancelDead(nil)
	go watchProcs(ctx, procs, cancelDead)

	cs := adminClient(t, api.AdminKubeconfig)
	waitNode(t, ctx, cs, s.Node)
	tNode := time.Since(t0)
	untaint(t, ctx, cs, s.Node)

	pods := []*corev1.Pod{testPod("agent", s.Node, agentRef, true), testPod("web", s.Node, agentRef, false)}
	for _, p := range pods {
		if _, err := cs.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create pod %s: %v", p.Name, err)
		}
	}
	ready := waitPodsReady(t, ctx, cs, "agent", "web")
	tReady := time.Since(t0)

	if ip := ready["agent"].Status.PodIP; ip != nodeIP {
		t.Errorf("hostNetwork pod IP %s, want the node IP %s", ip, nodeIP)
	}
	webIP, err := netip.ParseAddr(ready["web"].Status.PodIP)
	if err != nil || webIP.Less(s.PodRange[0]) || s.PodRange[1].Less(webIP) {
		t.Errorf("bridge pod IP %q is not in the pod range %s-%s", ready["web"].Status.PodIP, s.PodRange[0], s.PodRange[1])
	}
	for _, addr := range []string{nodeIP + ":7441", ready["web"].Status.PodIP + ":7441"} {
		if got := dialIn(t, node, addr); got != "ok" {
			t.Errorf("from the node, %s answered %q, want ok", addr, got)
		}
	}
	rssKubelet, rssContainerd := rss(procs[1].PID), rss(procs[0].PID)
	t.Logf("StartKubelet → kubelet healthy %s, Node registered %s, both pods Ready %s; RSS kubelet %d MiB, containerd %d MiB",
		tHealthy.Round(time.Millisecond), tNode.Round(time.Millisecond), tReady.Round(time.Millisecond), rssKubelet>>20, rssContainerd>>20)

	// What must be gone afterwards.
	mounts, err := cgroupMounts()
	if err != nil {
		t.Fatal(err)
	}
	var inCgroup []int
	for _, m := range mounts {
		inCgroup = append(inCgroup, cgroupPIDs(filepath.Join(m.Path, s.CgroupRoot), false)...)
	}
	shims := runtimePIDs(s.Dir)
	if len(inCgroup) < 4 || len(shims) < 4 { // 2 pause + 2 containers; containerd, kubelet, 2 shims
		t.Errorf("before teardown: processes in the node's cgroup %v, runtime processes %v", inCgroup, shims)
	}
	sockets, cniCache := shimSockets(t, s.Dir), cniCacheFiles(t, s.Dir)
	if len(sockets) == 0 || len(cniCache) == 0 {
		t.Errorf("before teardown: shim sockets %v, CNI cache %v", sockets, cniCache)
	}

	tDown := time.Now()
	cancelDead(nil)
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].Kill(10 * time.Second)
	}
	if err := CleanupKubelet(s.Dir, s.CgroupRoot); err != nil {
		t.Fatalf("CleanupKubelet: %v", err)
	}
	t.Logf("teardown (kill + CleanupKubelet): %s", time.Since(tDown).Round(time.Millisecond))

	for _, pid := range append(inCgroup, shims...) {
		if (&Proc{PID: pid}).Alive() {
			t.Errorf("process %d (%s) survived the cleanup", pid, comm(pid))
		}
	}
	all, err := readMountinfo("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range all {
		if under(m.Point, dir) {
			t.Errorf("still mounted: %s (%s)", m.Point, m.FSType)
		}
	}
	for _, m := range mounts {
		if _, err := os.Stat(filepath.Join(m.Path, s.CgroupRoot)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("cgroup %s is left: %v", filepath.Join(m.Path, s.CgroupRoot), err)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(layoutOf(s.Dir).ContainerdState, "io.containerd.grpc.v1.cri", "netns", "*")); len(left) > 0 {
		t.Errorf("pod netns files left: %v", left)
	}
	for _, f := range append(sockets, cniCache...) {
		if _, err := os.Lstat(f); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("left outside the state directory: %s", f)
		}
	}
	if after := readKernelDefaults(t); after != sysctlsBefore {
		t.Errorf("kubelet changed host sysctls:\nbefore %s\nafter  %s", sysctlsBefore, after)
	}
	// The pods' veths go with their namespaces (the kernel frees them asynchronously).
	waitLinks(t, node, "cni0 eth0 lo")
	if err := CleanupKubelet(s.Dir, s.CgroupRoot); err != nil {
		t.Errorf("a second CleanupKubelet: %v", err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Errorf("remove the state directory after cleanup: %v", err)
	}
}

// mountNS names the mount namespace of this process's main thread (what /proc/self shows).
func mountNS(t *testing.T) string {
	t.Helper()
	l, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func readKernelDefaults(t *testing.T) string {
	t.Helper()
	var out []string
	for _, kv := range kernelDefaults {
		b, err := os.ReadFile("/proc/sys/" + kv[0])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, kv[0]+"="+strings.TrimSpace(string(b)))
	}
	return strings.Join(out, " ")
}

// watchProcs cancels ctx, with the log's tail, when one of procs dies.
func watchProcs(ctx context.Context, procs []*Proc, cancel context.CancelCauseFunc) {
	for {
		for _, p := range procs {
			if !p.Alive() {
				cancel(fmt.Errorf("%s exited: %s", p.Name, p.Tail(3000)))
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond): // a process's death has no event we can wait on here
		}
	}
}

func adminClient(t *testing.T, kubeconfig string) *kubernetes.Clientset {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// waitNode watches until the kubelet's Node exists.
func waitNode(t *testing.T, ctx context.Context, cs *kubernetes.Clientset, name string) {
	t.Helper()
	sel := fields.OneTermEqualSelector("metadata.name", name).String()
	if err := watchUntil(ctx, func(ctx context.Context) (watch.Interface, error) {
		return cs.CoreV1().Nodes().Watch(ctx, metav1.ListOptions{FieldSelector: sel})
	}, func(e watch.Event) (bool, error) {
		return e.Type == watch.Added || e.Type == watch.Modified, nil
	}); err != nil {
		t.Fatalf("node %s never registered: %v (%v)", name, err, context.Cause(ctx))
	}
}

// watchUntil watches (a watch without a resource version starts with the current objects as
// Added events) until cond says done or fails, or ctx ends; a watch the server closes is reopened.
func watchUntil(ctx context.Context, start func(context.Context) (watch.Interface, error), cond func(watch.Event) (bool, error)) error {
	for {
		w, err := start(ctx)
		if err != nil {
			return err
		}
		done, err := func() (bool, error) {
			defer w.Stop()
			for {
				select {
				case <-ctx.Done():
					return false, context.Cause(ctx)
				case e, ok := <-w.ResultChan():
					if !ok {
						return false, nil
					}
					if e.Type == watch.Error {
						return false, fmt.Errorf("watch: %v", e.Object)
					}
					if done, err := cond(e); err != nil || done {
						return done, err
					}
				}
			}
		}()
		if err != nil || done {
			return err
		}
	}
}

// untaint removes the not-ready taint kubelet registers with (no node-lifecycle controller runs).
func untaint(t *testing.T, ctx context.Context, cs *kubernetes.Clientset, name string) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		var keep []corev1.Taint
		for _, tn := range n.Spec.Taints {
			if tn.Key != "node.kubernetes.io/not-ready" {
				keep = append(keep, tn)
			}
		}
		n.Spec.Taints = keep
		_, err = cs.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("remove the not-ready taint of %s: %v", name, err)
	}
}

// testPod runs the agent image on node with a TCP readiness probe on 7441; the bridge pod also
// needs its downward-API volume (tmpfs mounted by kubelet) to start.
func testPod(name, node, image string, hostNetwork bool) *corev1.Pod {
	grace := int64(1)
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.PodSpec{
			NodeName:                      node,
			HostNetwork:                   hostNetwork,
			TerminationGracePeriodSeconds: &grace,
			Tolerations:                   []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
			Containers: []corev1.Container{{
				Name: name, Image: image, ImagePullPolicy: corev1.PullNever,
				ReadinessProbe: &corev1.Probe{
					ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(7441)}},
					PeriodSeconds: 1,
				},
			}},
		},
	}
	if !hostNetwork {
		p.Spec.Volumes = []corev1.Volume{{Name: "podinfo", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{
			Items: []corev1.DownwardAPIVolumeFile{{Path: "name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		}}}}
		p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "podinfo", MountPath: "/podinfo"}}
		p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "ND_WANT_FILE", Value: "/podinfo/name"}}
	}
	return p
}

// waitPodsReady watches pods in default until all of names are Ready, failing at once on a state
// they cannot recover from.
func waitPodsReady(t *testing.T, ctx context.Context, cs *kubernetes.Clientset, names ...string) map[string]*corev1.Pod {
	t.Helper()
	ready := map[string]*corev1.Pod{}
	last := map[string]string{}
	err := watchUntil(ctx, func(ctx context.Context) (watch.Interface, error) {
		return cs.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{})
	}, func(e watch.Event) (bool, error) {
		p, ok := e.Object.(*corev1.Pod)
		if !ok {
			return false, nil
		}
		last[p.Name] = podState(p)
		if p.Status.Phase == corev1.PodFailed {
			return false, fmt.Errorf("pod %s failed: %s", p.Name, last[p.Name])
		}
		for _, cst := range p.Status.ContainerStatuses {
			if w := cst.State.Waiting; w != nil && (w.Reason == "ErrImageNeverPull" || w.Reason == "CrashLoopBackOff" || w.Reason == "CreateContainerError") {
				return false, fmt.Errorf("pod %s: %s", p.Name, last[p.Name])
			}
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue && p.Status.Phase == corev1.PodRunning {
				ready[p.Name] = p.DeepCopy()
			}
		}
		return len(ready) == len(names), nil
	})
	if err != nil {
		t.Fatalf("pods not ready: %v (%v); last states %v", err, context.Cause(ctx), last)
	}
	return ready
}

func podState(p *corev1.Pod) string {
	s := string(p.Status.Phase)
	for _, c := range p.Status.ContainerStatuses {
		switch {
		case c.State.Waiting != nil:
			s += fmt.Sprintf(" waiting %s: %s", c.State.Waiting.Reason, c.State.Waiting.Message)
		case c.State.Terminated != nil:
			s += fmt.Sprintf(" terminated %s (%d): %s", c.State.Terminated.Reason, c.State.Terminated.ExitCode, c.State.Terminated.Message)
		}
	}
	for _, c := range p.Status.Conditions {
		if c.Status != corev1.ConditionTrue && c.Message != "" {
			s += fmt.Sprintf(" %s: %s", c.Type, c.Message)
		}
	}
	return s
}

// dialIn connects to addr from inside n and returns the first line it answers.
func dialIn(t *testing.T, n *testenv.NetNS, addr string) string {
	t.Helper()
	var c net.Conn
	if err := n.NS.Do(func() error {
		var err error
		c, err = net.DialTimeout("tcp", addr, 5*time.Second)
		return err
	}); err != nil {
		return err.Error()
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	line, _ := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line)
}

// rss is a process's resident set size in bytes (0 when unknown).
func rss(pid int) int64 {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// shimSockets are the socket files the node's shims listen on (named in containerd's task state).
func shimSockets(t *testing.T, dir string) []string {
	t.Helper()
	addrs, _ := filepath.Glob(filepath.Join(layoutOf(dir).ContainerdState, "io.containerd.runtime.v2.task", "*", "*", "address"))
	var out []string
	for _, a := range addrs {
		b, err := os.ReadFile(a)
		if err == nil {
			out = append(out, strings.TrimPrefix(strings.TrimSpace(string(b)), "unix://"))
		}
	}
	return out
}

// cniCacheFiles are libcni's cached results for the node's sandboxes.
func cniCacheFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, _ := os.ReadDir(filepath.Join(layoutOf(dir).ContainerdRoot, "io.containerd.grpc.v1.cri", "sandboxes"))
	var out []string
	for _, e := range ents {
		f, _ := filepath.Glob(filepath.Join("/var/lib/cni/results", "*-"+e.Name()+"-*"))
		out = append(out, f...)
	}
	return out
}

// waitLinks waits (up to 10 s) until n holds exactly the links want (sorted names, space-separated).
func waitLinks(t *testing.T, n *testenv.NetNS, want string) {
	t.Helper()
	var got string
	for deadline := time.Now().Add(10 * time.Second); ; {
		out := n.Exec(t, "ip", "-o", "link", "show")
		var names []string
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if f := strings.Fields(l); len(f) > 1 {
				names = append(names, strings.SplitN(strings.TrimSuffix(f[1], ":"), "@", 2)[0])
			}
		}
		slices.Sort(names)
		if got = strings.Join(names, " "); got == want || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond) // namespace teardown is asynchronous in the kernel
	}
	if got != want {
		t.Errorf("links left in the node namespace: %q, want %q", got, want)
	}
}

// TestKubeletEarlyCrash: a kubelet that dies at start is reported with its log's last lines and
// the log's path, and StartKubelet leaves nothing behind (containerd killed, no mount under the
// state directory, no cgroup).
func TestKubeletEarlyCrash(t *testing.T) {
	testenv.RequireRoot(t)
	containerd := testenv.RequireTool(t, "containerd")
	runc := testenv.RequireTool(t, "runc")
	testenv.RequireTool(t, "nsenter")
	node := testenv.NewNetNS(t)
	dir, err := os.MkdirTemp(testenv.TempDir(t), "crash-")
	if err != nil {
		t.Fatal(err)
	}
	fake := filepath.Join(dir, "kubelet")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho 'E0101 run.go:72] \"command failed\" err=\"boom\"' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	s := testSpec(filepath.Join(dir, "node1"))
	s.Netns, s.CgroupRoot = node.Path, "/"+testenv.Name("kc")
	s.Kubelet, s.Containerd, s.Runc = fake, containerd, runc
	mntns := mountNS(t)
	procs, err := StartKubelet(context.Background(), s, t.Logf)
	if got := mountNS(t); got != mntns {
		t.Errorf("this process's main thread moved from mount namespace %s to %s (kubelet's)", mntns, got)
	}
	want := `err="boom"`
	if err == nil || !strings.Contains(err.Error(), want) || !strings.HasSuffix(err.Error(), "read "+layoutOf(s.Dir).KubeletLog) {
		t.Errorf("StartKubelet: %v\nwant an error with %s naming %s", err, want, layoutOf(s.Dir).KubeletLog)
	}
	if procs != nil {
		t.Errorf("procs returned with an error: %+v", procs)
	}
	if left := runtimePIDs(s.Dir); len(left) > 0 {
		t.Errorf("runtime processes left: %v", left)
	}
	all, err := readMountinfo("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range all {
		if under(m.Point, dir) {
			t.Errorf("still mounted: %s (%s)", m.Point, m.FSType)
		}
	}
	mounts, _ := cgroupMounts()
	for _, m := range mounts {
		if _, err := os.Stat(filepath.Join(m.Path, s.CgroupRoot)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("cgroup %s is left: %v", filepath.Join(m.Path, s.CgroupRoot), err)
		}
	}
}
