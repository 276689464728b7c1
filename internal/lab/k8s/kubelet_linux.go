//go:build linux

package k8s

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/netdoctor/netdoctor/internal/netns"
)

// layout is where one node's containerd and kubelet keep their files, all under KubeletSpec.Dir.
type layout struct {
	Dir string
	// containerd
	ContainerdConfig, ContainerdRoot, ContainerdState, Sock, RuncRoot, Opt, Tmp string
	// CNI: the conflist containerd reads and host-local's allocations
	CNIConfDir, CNIConflist, IPAMDir string
	// kubelet
	KubeletRoot, KubeletConfig, Kubeconfig, ResolvConf, PodLogs, VarLog, Sysctl string
	// logs
	ContainerdLog, KubeletLog string
}

func layoutOf(dir string) layout {
	j := func(p ...string) string { return filepath.Join(append([]string{dir}, p...)...) }
	return layout{
		Dir:              dir,
		ContainerdConfig: j("containerd", "config.toml"),
		ContainerdRoot:   j("containerd", "root"),
		ContainerdState:  j("containerd", "state"),
		Sock:             j("containerd.sock"),
		RuncRoot:         j("containerd", "runc"),
		Opt:              j("containerd", "opt"),
		Tmp:              j("containerd", "tmp"),
		CNIConfDir:       j("cni", "net.d"),
		CNIConflist:      j("cni", "net.d", "10-"+cniNetwork+".conflist"),
		IPAMDir:          j("cni", "ipam"),
		KubeletRoot:      j("kubelet"),
		KubeletConfig:    j("kubelet-config.yaml"),
		Kubeconfig:       j("kubelet.kubeconfig"),
		ResolvConf:       j("resolv.conf"),
		PodLogs:          j("pod-logs"),
		VarLog:           j("kubelet-var-log"),
		Sysctl:           j("kubelet-sysctl"),
		ContainerdLog:    j("containerd.log"),
		KubeletLog:       j("kubelet.log"),
	}
}

// fresh are the parts of the layout StartKubelet removes before it starts: a node starts with no
// containers, sandboxes, IP allocations or kubelet state from an earlier run (images are imported
// again). Logs are truncated.
func (l layout) fresh() []string {
	return []string{filepath.Join(l.Dir, "containerd"), filepath.Join(l.Dir, "cni"), l.KubeletRoot, l.PodLogs,
		l.VarLog, l.Sysctl, l.ContainerdLog, l.KubeletLog}
}

// cniNetwork is the name of the pod network in the conflist (libcni names its cache files after it).
const cniNetwork = "netdoctor"

// healthzAddr is where kubelet answers /healthz inside the node's namespace.
const healthzAddr = "127.0.0.1:10248"

// StartKubelet runs containerd (with runc and the bridge CNI) and kubelet in the node's network
// namespace s.Netns: it writes their configuration under s.Dir, starts containerd, waits until its
// socket answers, imports s.Images into containerd's k8s.io namespace, starts kubelet, and waits
// for kubelet's /healthz inside the node's namespace. It does not wait for the Node to be Ready:
// the caller watches that through the API server.
//
// Whatever an earlier run under s.Dir left (processes, mounts, cgroups) is cleaned up first. On
// failure everything StartKubelet started is stopped and cleaned up again, and the error names the
// log to read. progressf (may be nil) receives one line per step.
//
// kubelet runs in a private mount namespace in which the six kernel sysctls kubelet insists on
// (vm.overcommit_memory, kernel.panic, kernel.panic_on_oops, …) read as the values it wants, so it
// never rewrites the host's; its root directory is a shared bind mount, so the volumes it mounts
// (tmpfs of projected and downward-API volumes) reach containerd and runc in the host's mount
// namespace.
func StartKubelet(ctx context.Context, s KubeletSpec, progressf func(string, ...any)) (procs []*Proc, err error) {
	if progressf == nil {
		progressf = func(string, ...any) {}
	}
	if err := s.validate(); err != nil {
		return nil, err
	}
	l := layoutOf(s.Dir)
	if len(l.Sock) >= len(unix.RawSockaddrUnix{}.Path) {
		return nil, fmt.Errorf("k8s: node %s: containerd socket path %s is longer than a unix socket allows: use a shorter state directory", s.Node, l.Sock)
	}
	if err := CleanupKubelet(s.Dir, s.CgroupRoot); err != nil {
		return nil, fmt.Errorf("k8s: node %s: clean up an earlier kubelet: %w", s.Node, err)
	}
	for _, p := range l.fresh() {
		if err := os.RemoveAll(p); err != nil {
			return nil, fmt.Errorf("k8s: node %s: %w", s.Node, err)
		}
	}
	defer func() {
		if err != nil {
			for i := len(procs) - 1; i >= 0; i-- {
				procs[i].Kill(10 * time.Second)
			}
			if cerr := CleanupKubelet(s.Dir, s.CgroupRoot); cerr != nil {
				err = fmt.Errorf("%w (and cleaning up failed: %v)", err, cerr)
			}
			procs = nil
		}
	}()
	if err := writeNodeFiles(s, l); err != nil {
		return nil, fmt.Errorf("k8s: node %s: %w", s.Node, err)
	}
	if err := createCgroup(s.CgroupRoot); err != nil {
		return nil, fmt.Errorf("k8s: node %s: %w", s.Node, err)
	}

	t0 := time.Now()
	cd, err := StartProc("containerd/"+s.Node, s.Netns, l.ContainerdLog,
		[]string{s.Containerd, "--config", l.ContainerdConfig}, []string{"TMPDIR=" + l.Tmp})
	if err != nil {
		return nil, err
	}
	procs = append(procs, cd)
	if err := waitSocket(ctx, l.Sock, cd); err != nil {
		return procs, fmt.Errorf("k8s: containerd of node %s did not start: %w; read %s", s.Node, err, l.ContainerdLog)
	}
	progressf("containerd on %s: ready in %s", s.Node, time.Since(t0).Round(time.Millisecond))
	for _, img := range s.Images {
		if err := ImportImage(ctx, s, img); err != nil {
			return procs, err
		}
	}
	if len(s.Images) > 0 {
		progressf("containerd on %s: %d images imported", s.Node, len(s.Images))
	}

	t1 := time.Now()
	kl, err := startKubeletProc(s, l)
	if err != nil {
		return procs, err
	}
	procs = append(procs, kl)
	if err := waitHealthz(ctx, s.Netns, kl); err != nil {
		return procs, fmt.Errorf("k8s: kubelet of node %s did not become healthy: %w; read %s", s.Node, err, l.KubeletLog)
	}
	progressf("kubelet on %s: healthy in %s", s.Node, time.Since(t1).Round(time.Millisecond))
	return procs, nil
}

// ImportImage imports an image archive (docker-save or OCI layout) into the k8s.io namespace of
// the node's containerd, unpacked for the snapshotter the CRI plugin uses, so that pods with
// imagePullPolicy Never run it.
func ImportImage(ctx context.Context, s KubeletSpec, tar string) error {
	l := layoutOf(s.Dir)
	ctr, err := ctrPath(s.Containerd)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, ctr, "--address", l.Sock, "--namespace", "k8s.io", "images", "import",
		"--snapshotter", snapshotterFor(l.ContainerdRoot), tar)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("k8s: import image %s into containerd of node %s: %v: %s (read %s)",
			tar, s.Node, err, strings.TrimSpace(string(out)), l.ContainerdLog)
	}
	return nil
}

// ctrPath finds containerd's client: next to containerd, else in PATH.
func ctrPath(containerd string) (string, error) {
	if p := filepath.Join(filepath.Dir(containerd), "ctr"); containerd != "" && isExec(p) {
		return p, nil
	}
	p, err := exec.LookPath("ctr")
	if err != nil {
		return "", fmt.Errorf("k8s: no ctr (containerd's client) next to %s or in PATH: install Debian's containerd", containerd)
	}
	return p, nil
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// snapshotterFor picks overlayfs, unless dir itself lives on overlayfs (which cannot be stacked
// again), where it falls back to the native (copying) snapshotter.
func snapshotterFor(dir string) string {
	var st unix.Statfs_t
	for d := dir; ; d = filepath.Dir(d) {
		if err := unix.Statfs(d, &st); err == nil {
			break
		}
		if d == "/" {
			return "overlayfs"
		}
	}
	if st.Type == unix.OVERLAYFS_SUPER_MAGIC {
		return "native"
	}
	return "overlayfs"
}

// validate says which field of the spec is missing or wrong.
func (s KubeletSpec) validate() error {
	bad := func(what string) error {
		return fmt.Errorf("k8s: kubelet spec of node %q: %s: the lab must set it", s.Node, what)
	}
	switch {
	case s.Node == "":
		return bad("no node name")
	case s.Netns == "":
		return bad("no netns")
	case !s.NodeIP.Is4():
		return bad("no IPv4 node IP")
	case !s.PodCIDR.IsValid() || !s.PodCIDR.Addr().Is4():
		return bad("no IPv4 pod CIDR")
	case !s.PodCIDR.Contains(s.PodRange[0]) || !s.PodCIDR.Contains(s.PodRange[1]) || s.PodRange[1].Less(s.PodRange[0]):
		return bad(fmt.Sprintf("pod range %s-%s is not an ordered range inside %s", s.PodRange[0], s.PodRange[1], s.PodCIDR))
	case s.PodMTU < 576:
		return bad(fmt.Sprintf("pod MTU %d", s.PodMTU))
	case !filepath.IsAbs(s.Dir) || filepath.Clean(s.Dir) == "/":
		return bad(fmt.Sprintf("state directory %q is not an absolute path below /", s.Dir))
	case !validCgroup(s.CgroupRoot):
		return bad(fmt.Sprintf("cgroup root %q is not an absolute cgroup path below /", s.CgroupRoot))
	case s.APIServer == "" || s.CAFile == "" || s.Token == "":
		return bad("no API server URL, CA file or token")
	case s.ClientCAFile == "":
		return bad("no client CA file")
	case !s.ClusterDNS.IsValid() || s.ClusterDomain == "":
		return bad("no cluster DNS address or domain")
	case s.SandboxImage == "":
		return bad("no sandbox image")
	case s.Kubelet == "" || s.Containerd == "" || s.Runc == "" || s.CNIBinDir == "":
		return bad("no kubelet, containerd, runc or CNI plugin directory")
	}
	return nil
}

func validCgroup(cg string) bool {
	return strings.HasPrefix(cg, "/") && filepath.Clean(cg) == cg && cg != "/"
}

// writeNodeFiles writes containerd's config, the CNI conflist, the kubelet's config, kubeconfig and
// resolv.conf, and creates the directories they name.
func writeNodeFiles(s KubeletSpec, l layout) error {
	for _, d := range []string{filepath.Dir(l.ContainerdConfig), l.ContainerdRoot, l.ContainerdState, l.RuncRoot, l.Opt, l.Tmp,
		l.CNIConfDir, l.IPAMDir, l.KubeletRoot, l.PodLogs, l.VarLog, l.Sysctl} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	files := []struct {
		path, data string
	}{
		{l.ContainerdConfig, containerdConfig(s, l)},
		{l.CNIConflist, cniConflist(s, l)},
		{l.KubeletConfig, kubeletConfig(s, l)},
		{l.Kubeconfig, kubeconfig(s)},
		{l.ResolvConf, "nameserver " + s.ClusterDNS.String() + "\n"},
	}
	for _, f := range files {
		if err := os.WriteFile(f.path, []byte(f.data), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// containerdConfig is containerd's config (version 2): everything under Dir, its own socket, the
// CRI plugin with runc (restrict_oom_score_adj: root here lacks CAP_SYS_RESOURCE), the bridge CNI,
// and pod network namespaces pinned under its state directory.
func containerdConfig(s KubeletSpec, l layout) string {
	return fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = %q

[plugins."io.containerd.internal.v1.opt"]
  path = %q

# The legacy v1 runtime is never used, but the task service needs it loaded: keep its runc state here.
[plugins."io.containerd.runtime.v1.linux"]
  runtime_root = %q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  disable_apparmor = true
  enable_selinux = false
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = %q
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = %q
        Root = %q
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %q
    conf_dir = %q
    max_conf_num = 1
`, l.ContainerdRoot, l.ContainerdState, l.Sock, l.Opt, l.RuncRoot+"-v1", s.SandboxImage, snapshotterFor(l.ContainerdRoot),
		s.Runc, l.RuncRoot, s.CNIBinDir, l.CNIConfDir)
}

// cniConflist is the pod network: the bridge plugin on the lab's cni0 (which already holds the
// gateway, .1 of the pod CIDR), host-local IPAM limited to PodRange, and portmap.
func cniConflist(s KubeletSpec, l layout) string {
	gw := s.PodCIDR.Masked().Addr().Next()
	return fmt.Sprintf(`{
  "cniVersion": "0.4.0",
  "name": %q,
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "mtu": %d,
      "ipam": {
        "type": "host-local",
        "dataDir": %q,
        "ranges": [[{"subnet": %q, "rangeStart": %q, "rangeEnd": %q, "gateway": %q}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`, cniNetwork, s.PodMTU, l.IPAMDir, s.PodCIDR.Masked().String(), s.PodRange[0].String(), s.PodRange[1].String(), gw.String())
}

// kubeletConfig is the KubeletConfiguration: cgroup v1 allowed, cgroupfs under CgroupRoot, webhook
// authentication and authorization, no read-only port, eviction and image GC thresholds that never
// fire on a lab (imported images cannot be pulled again), and the kernel defaults protected.
func kubeletConfig(s KubeletSpec, l layout) string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: %q
cgroupsPerQOS: true
containerRuntimeEndpoint: %q
imageServiceEndpoint: %q
clusterDNS: [%q]
clusterDomain: %q
resolvConf: %q
address: %q
port: 10250
readOnlyPort: 0
healthzBindAddress: "127.0.0.1"
healthzPort: 10248
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: %q
authorization:
  mode: Webhook
failSwapOn: false
protectKernelDefaults: true
podLogsDir: %q
evictionHard:
  memory.available: "100Mi"
  nodefs.available: "1%%"
  nodefs.inodesFree: "1%%"
  imagefs.available: "1%%"
  imagefs.inodesFree: "1%%"
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
registerNode: true
rotateCertificates: false
serverTLSBootstrap: false
`, s.CgroupRoot, "unix://"+l.Sock, "unix://"+l.Sock, s.ClusterDNS.String(), s.ClusterDomain, l.ResolvConf,
		s.NodeIP.String(), s.ClientCAFile, l.PodLogs)
}

// kubeconfig authenticates kubelet as system:node:NODE with its bearer token.
func kubeconfig(s KubeletSpec) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: lab
  cluster:
    server: %q
    certificate-authority: %q
contexts:
- name: lab
  context:
    cluster: lab
    user: kubelet
current-context: lab
users:
- name: kubelet
  user:
    token: %q
`, s.APIServer, s.CAFile, s.Token)
}

// waitSocket waits until something accepts on the unix socket (containerd serves its API right
// after it binds it), or the process dies, or ctx ends.
func waitSocket(ctx context.Context, sock string, p *Proc) error {
	for {
		c, err := net.DialTimeout("unix", sock, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if !p.Alive() {
			return fmt.Errorf("it exited: %s", lastLines(p.Tail(2000), 5))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no answer on %s: %w", sock, context.Cause(ctx))
		case <-time.After(20 * time.Millisecond): // polling the socket: containerd has no readiness signal
		}
	}
}

// waitHealthz polls kubelet's /healthz inside the node's namespace until it says ok, the process
// dies, or ctx ends (at most two minutes).
func waitHealthz(ctx context.Context, netnsPath string, p *Proc) error {
	ns, err := netns.OpenPath(netnsPath)
	if err != nil {
		return err
	}
	defer ns.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	tr := &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := ns.Do(func() error {
			var d net.Dialer
			var err error
			c, err = d.DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 2 * time.Second}
	last := "no answer"
	for {
		if !p.Alive() {
			return fmt.Errorf("it exited: %s", lastLines(p.Tail(4000), 8))
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+healthzAddr+"/healthz", nil)
		resp, err := hc.Do(req)
		if err == nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.TrimSpace(string(b)) == "ok" {
				return nil
			}
			last = fmt.Sprintf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s on %s: %s", "/healthz never said ok", healthzAddr, last)
		case <-time.After(100 * time.Millisecond): // polling the health endpoint: there is no event to wait on
		}
	}
}

// lastLines keeps the last n lines of s, joined with " | " so an error stays one line.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// createCgroup creates cg in every cgroup hierarchy (kubelet refuses a cgroupRoot missing from one),
// giving new cpuset levels their parent's CPUs and memory nodes (an empty cpuset takes no tasks).
func createCgroup(cg string) error {
	mounts, err := cgroupMounts()
	if err != nil {
		return err
	}
	for _, m := range mounts {
		parent := m.Path
		for _, part := range strings.Split(strings.TrimPrefix(cg, "/"), "/") {
			d := filepath.Join(parent, part)
			if err := os.Mkdir(d, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
				return fmt.Errorf("create cgroup %s: %w", d, err)
			}
			if m.Cpuset {
				for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
					cur, _ := os.ReadFile(filepath.Join(d, f))
					if strings.TrimSpace(string(cur)) != "" {
						continue
					}
					b, err := os.ReadFile(filepath.Join(parent, f))
					if err == nil {
						err = os.WriteFile(filepath.Join(d, f), b, 0o644)
					}
					if err != nil {
						return fmt.Errorf("cgroup %s: copy %s from its parent: %w", d, f, err)
					}
				}
			}
			parent = d
		}
	}
	return nil
}

// kernelDefaults are the sysctls kubelet's container manager sets at start (setupKernelTunables)
// unless they already hold these values. They are not namespaced: kubelet must not write them.
var kernelDefaults = [][2]string{
	{"vm/overcommit_memory", "1"},
	{"vm/panic_on_oom", "0"},
	{"kernel/panic", "10"},
	{"kernel/panic_on_oops", "1"},
	{"kernel/keys/root_maxkeys", "1000000"},
	{"kernel/keys/root_maxbytes", "25000000"},
}

// startKubeletProc starts kubelet in the node's network namespace and in a mount namespace of its
// own (see StartKubelet): in there, every mount but the kubelet root stops propagating, the kernel
// defaults kubelet checks are files holding the values it wants (protectKernelDefaults makes a
// mismatch fatal instead of a write), /var/log is a directory under Dir (kubelet's
// /var/log/containers symlinks), and copies of other containers' namespaces and root filesystems
// are detached so this namespace never keeps them alive.
func startKubeletProc(s KubeletSpec, l layout) (*Proc, error) {
	if err := unix.Mount(l.KubeletRoot, l.KubeletRoot, "", unix.MS_BIND, ""); err != nil {
		return nil, fmt.Errorf("k8s: node %s: bind mount the kubelet root %s: %w", s.Node, l.KubeletRoot, err)
	}
	if err := unix.Mount("", l.KubeletRoot, "", unix.MS_SHARED, ""); err != nil {
		return nil, fmt.Errorf("k8s: node %s: make the kubelet root %s a shared mount: %w", s.Node, l.KubeletRoot, err)
	}
	argv := []string{s.Kubelet, "--config=" + l.KubeletConfig, "--kubeconfig=" + l.Kubeconfig,
		"--root-dir=" + l.KubeletRoot, "--hostname-override=" + s.Node, "--node-ip=" + s.NodeIP.String(), "--v=1"}
	var p *Proc
	err := onThrowawayThread(func() error {
		if err := unix.Unshare(unix.CLONE_FS | unix.CLONE_NEWNS); err != nil {
			return fmt.Errorf("a mount namespace: %w", err)
		}
		if err := isolateMounts(l.KubeletRoot, s.Netns); err != nil {
			return err
		}
		for _, kv := range kernelDefaults {
			if err := pinSysctl(l.Sysctl, kv[0], kv[1]); err != nil {
				return err
			}
		}
		if st, err := os.Stat("/var/log"); err == nil && st.IsDir() {
			if err := unix.Mount(l.VarLog, "/var/log", "", unix.MS_BIND, ""); err != nil {
				return fmt.Errorf("bind %s on /var/log: %w", l.VarLog, err)
			}
		}
		var err error
		p, err = StartProc("kubelet/"+s.Node, s.Netns, l.KubeletLog, argv, nil)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("k8s: node %s: start kubelet: %w", s.Node, err)
	}
	return p, nil
}

// onThrowawayThread runs fn on a goroutine locked to an OS thread that is not the process's main
// thread, and never unlocks it: fn may move the thread into other namespaces for good, and Go ends
// the thread with the goroutine. (Go cannot end the main thread: it would park it forever in
// fn's namespaces, and /proc/self would describe them from then on.)
func onThrowawayThread(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			// Keep the main thread busy with this goroutine, so the next one runs elsewhere.
			errc <- onThrowawayThread(fn)
			runtime.UnlockOSThread()
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// isolateMounts runs in a fresh mount namespace (a copy of the host's): it turns every shared mount
// but keep into a slave (events still arrive from the host, none leave), checks that no visible
// mount but keep is still shared, then detaches nsfs and overlay mounts (other pods' namespaces and
// root filesystems) except the node's own namespace file netnsPath.
func isolateMounts(keep, netnsPath string) error {
	const self = "/proc/thread-self/mountinfo"
	ms, err := readMountinfo(self)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if m.Shared && m.Point != keep {
			if err := unix.Mount("", m.Point, "", unix.MS_SLAVE, ""); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
				return fmt.Errorf("make %s a slave mount: %w", m.Point, err)
			}
		}
	}
	if ms, err = readMountinfo(self); err != nil {
		return err
	}
	top := map[string]mountEntry{}
	byID := map[int]mountEntry{}
	for _, m := range ms {
		top[m.Point] = m
		byID[m.ID] = m
	}
	for p, m := range top {
		if m.Shared && p != keep {
			return fmt.Errorf("mount %s is still shared after making it a slave: refusing to run kubelet where its mounts could reach the host", p)
		}
	}
	for _, m := range ms {
		if (m.FSType != "nsfs" && m.FSType != "overlay") || m.Point == netnsPath || under(m.Point, keep) {
			continue
		}
		if parent, ok := byID[m.Parent]; ok && parent.Shared {
			continue
		}
		_ = unix.Unmount(m.Point, unix.MNT_DETACH) // a copy in this namespace only
	}
	return nil
}

// pinSysctl makes /proc/sys/key read as value in this mount namespace (a bind-mounted file), unless
// it already holds it.
func pinSysctl(dir, key, value string) error {
	p := "/proc/sys/" + key
	cur, err := os.ReadFile(p)
	if err != nil {
		return fmt.Errorf("read %s: %w", p, err)
	}
	if strings.TrimSpace(string(cur)) == value {
		return nil
	}
	f := filepath.Join(dir, strings.ReplaceAll(key, "/", "."))
	if err := os.WriteFile(f, []byte(value+"\n"), 0o444); err != nil {
		return err
	}
	if err := unix.Mount(f, p, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind %s on %s: %w", f, p, err)
	}
	return nil
}
