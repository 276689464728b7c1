//go:build linux

package testenv

import (
	"bufio"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Tcpdump is a running `tcpdump -w` inside a test namespace.
type Tcpdump struct {
	File string // the pcap file it writes
	cmd  *exec.Cmd
	done chan struct{}
	tail strings.Builder
}

// StartTcpdump runs `tcpdump --immediate-mode -i iface -U -w file [filter...]` inside n and returns once tcpdump says
// it is listening (its readiness line), so no packet sent afterwards is missed. It is stopped (and
// killed by PID if it hangs) when the test ends; call Stop to finish the file earlier.
func StartTcpdump(t testing.TB, n *NetNS, iface, file string, filter ...string) *Tcpdump {
	t.Helper()
	RequireTool(t, "tcpdump")
	args := append([]string{"netns", "exec", n.Name, "tcpdump", "-n", "--immediate-mode", "-i", iface, "-U", "-s", "0", "-w", file}, filter...)
	cmd := exec.Command("ip", args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatalf("testenv: tcpdump pipe: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("testenv: start tcpdump in %s: %v", n.Name, err)
	}
	td := &Tcpdump{File: file, cmd: cmd, done: make(chan struct{})}
	t.Cleanup(func() { td.Stop(t) })
	ready := make(chan struct{})
	go func() {
		defer close(td.done)
		sc := bufio.NewScanner(stderr)
		signalled := false
		for sc.Scan() {
			line := sc.Text()
			td.tail.WriteString(line + "\n")
			if !signalled && strings.Contains(line, "listening on") {
				signalled = true
				close(ready)
			}
		}
		if !signalled {
			close(ready)
		}
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatalf("testenv: tcpdump in %s did not start listening", n.Name)
	}
	select {
	case <-td.done:
		t.Fatalf("testenv: tcpdump in %s exited: %s", n.Name, td.tail.String())
	default:
	}
	return td
}

// Stop ends tcpdump with SIGINT (it flushes and closes the file) and waits for it; it kills it by
// PID after 10 s. Safe to call twice.
func (td *Tcpdump) Stop(t testing.TB) {
	t.Helper()
	if td.cmd.ProcessState != nil {
		return
	}
	_ = td.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-td.done:
	case <-time.After(10 * time.Second):
		_ = td.cmd.Process.Kill()
	}
	_ = td.cmd.Wait()
}

// WaitFor polls the capture file (every 50 ms, up to timeout) until cond says it holds what the
// test's traffic produced: tcpdump hands packets over asynchronously, so stopping it right after the
// traffic can lose the last ones. It reports whether cond became true.
func (td *Tcpdump) WaitFor(timeout time.Duration, cond func(file string) bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond(td.File) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-td.done:
			return cond(td.File)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
