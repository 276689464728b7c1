//go:build linux

package k8s

import (
	"bufio"
	"context"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// The build scripts, embedded so that `netdoctor lab up --k8s` builds what is missing on a machine
// that has only the binary and Go (test/k8s/build.sh and scripts/coredns.sh run the same files).
var (
	//go:embed build.sh
	buildScript []byte
	//go:embed coredns.sh
	corednsScript []byte
)

// Components are what a --k8s lab runs from the build cache.
var Components = []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy", "kubelet", "kubectl", "flanneld"}

// CacheDir is $NETDOCTOR_K8S_CACHE or /var/cache/netdoctor.
func CacheDir() string {
	if d := os.Getenv("NETDOCTOR_K8S_CACHE"); d != "" {
		return d
	}
	return "/var/cache/netdoctor"
}

// EnsureBins finds the components in the build cache, building the missing ones from the Go module
// proxy first (minutes on a cold machine, with progress; seconds once cached), and the Debian
// binaries (etcd, containerd, runc, CNI plugins) on this machine.
func EnsureBins(ctx context.Context, progressf func(string, ...any)) (Bins, error) {
	dir := filepath.Join(CacheDir(), "k8s-"+Version, "bin")
	var missing []string
	for _, c := range Components {
		if st, err := os.Stat(filepath.Join(dir, c)); err != nil || st.Mode()&0o111 == 0 {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		progressf("building %s from the Go module proxy into %s (first run only)", strings.Join(missing, ", "), dir)
		if err := runScript(ctx, buildScript, "build.sh", missing, progressf); err != nil {
			return Bins{}, err
		}
	}
	b := Bins{Dir: dir, APIServer: filepath.Join(dir, "kube-apiserver"), KCM: filepath.Join(dir, "kube-controller-manager"),
		Scheduler: filepath.Join(dir, "kube-scheduler"), KubeProxy: filepath.Join(dir, "kube-proxy"), Kubelet: filepath.Join(dir, "kubelet"),
		Kubectl: filepath.Join(dir, "kubectl"), Flanneld: filepath.Join(dir, "flanneld"), CNIBinDir: "/usr/lib/cni"}
	for _, t := range []struct {
		dst  *string
		name string
	}{{&b.Etcd, "etcd"}, {&b.Containerd, "containerd"}, {&b.Runc, "runc"}} {
		p, err := exec.LookPath(t.name)
		if err != nil {
			return b, fmt.Errorf("k8s: %s not found: install the Debian packages etcd-server, containerd and runc (scripts/deps.sh does)", t.name)
		}
		*t.dst = p
	}
	if _, err := os.Stat(filepath.Join(b.CNIBinDir, "bridge")); err != nil {
		return b, fmt.Errorf("k8s: no CNI bridge plugin in %s: install the Debian package containernetworking-plugins", b.CNIBinDir)
	}
	return b, nil
}

// EnsureCoreDNS returns the cached CoreDNS build, building it first when missing.
func EnsureCoreDNS(ctx context.Context, progressf func(string, ...any)) (string, error) {
	var out string
	err := runScript(ctx, corednsScript, "coredns.sh", nil, func(f string, a ...any) {
		line := fmt.Sprintf(f, a...)
		if strings.HasPrefix(line, "/") {
			out = line
			return
		}
		progressf("%s", line)
	})
	if err == nil && out == "" {
		err = fmt.Errorf("k8s: coredns.sh printed no path")
	}
	return out, err
}

// runScript runs an embedded script with bash, passing each output line to progressf.
func runScript(ctx context.Context, script []byte, name string, args []string, progressf func(string, ...any)) error {
	if _, err := exec.LookPath("go"); err != nil {
		return fmt.Errorf("k8s: building the Kubernetes components needs Go (https://go.dev/dl, or scripts/deps.sh): %w", err)
	}
	f, err := os.CreateTemp("", "netdoctor-"+name)
	if err != nil {
		return fmt.Errorf("k8s: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(script); err != nil {
		f.Close()
		return fmt.Errorf("k8s: %w", err)
	}
	f.Close()
	cmd := exec.CommandContext(ctx, "bash", append([]string{f.Name()}, args...)...)
	pr, pw, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("k8s: %w", err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		pw.Close()
		pr.Close()
		return fmt.Errorf("k8s: %s: %w", name, err)
	}
	pw.Close()
	var tail []string
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		line := sc.Text()
		tail = append(tail, line)
		if len(tail) > 20 {
			tail = tail[1:]
		}
		progressf("%s", line)
	}
	pr.Close()
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("k8s: %s failed: %w: %s", name, err, strings.Join(tail, " | "))
	}
	return nil
}
