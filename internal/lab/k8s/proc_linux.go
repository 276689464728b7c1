//go:build linux

package k8s

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// StartProc starts argv inside the network namespace at netnsPath (through `nsenter --net`, which
// keeps /sys as it is, unlike `ip netns exec`, so kubelet sees the cgroup hierarchies), in a new
// session, with stdout and stderr appended to logPath. env is added to this process's environment.
// The child is reaped in the background; the lab kills it by PID.
func StartProc(name, netnsPath, logPath string, argv, env []string) (*Proc, error) {
	if len(argv) == 0 {
		return nil, fmt.Errorf("k8s: start %s: no command", name)
	}
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return nil, fmt.Errorf("k8s: start %s: %w", name, err)
	}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("k8s: start %s: %w", name, err)
	}
	defer logf.Close()
	cmd := exec.Command("nsenter", append([]string{"--net=" + netnsPath, "--"}, argv...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// The components get this process's environment minus the caller's Kubernetes client settings
	// (a KUBECONFIG of the user's, even an empty one, must not reach them), plus env.
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "KUBECONFIG=") && !strings.HasPrefix(e, "KUBERNETES_") {
			cmd.Env = append(cmd.Env, e)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Pdeathsig: 0}
	cmd.Dir = "/"
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("k8s: start %s: %w", name, err)
	}
	go func() { _ = cmd.Wait() }()
	return &Proc{Name: name, PID: cmd.Process.Pid, Netns: netnsPath, Log: logPath, Exe: argv[0]}, nil
}

// Alive reports whether the process still runs (not gone, not a zombie).
func (p *Proc) Alive() bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.PID) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] != 'Z' && s[i+2] != 'X'
}

// Tail returns the last n bytes of the process's log (for error messages).
func (p *Proc) Tail(n int) string {
	b, _ := os.ReadFile(p.Log)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}

// Kill sends SIGKILL to the process if it still runs the same binary (a PID may be reused) and
// waits up to timeout for it to be gone.
func (p *Proc) Kill(timeout time.Duration) {
	if p == nil || p.PID <= 0 || !p.Alive() {
		return
	}
	// nsenter execs the component, so its argv[0] is the component's path (or still nsenter's, for
	// the instant before the exec).
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(p.PID) + "/cmdline")
	argv0, _, _ := strings.Cut(string(b), "\x00")
	if p.Exe != "" && argv0 != p.Exe && argv0 != "nsenter" {
		return
	}
	_ = unix.Kill(p.PID, unix.SIGKILL)
	deadline := time.Now().Add(timeout)
	for p.Alive() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
}
