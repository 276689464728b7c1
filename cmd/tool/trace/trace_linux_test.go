//go:build linux

package trace_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netdoctor/netdoctor/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// run runs the netdoctor binary and returns stdout, stderr and the exit code.
func run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(testenv.Binary(t), args...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	var ee *exec.ExitError
	code := 0
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return so.String(), se.String(), code
}

// TestBadInput: every bad input exits 2 with one line on stderr and nothing on stdout.
func TestBadInput(t *testing.T) {
	for _, args := range [][]string{
		{"trace"},
		{"trace", "10.0.0.1", "10.0.0.2"},
		{"trace", "10.0.0.1", "-c", "0"},
		{"trace", "10.0.0.1", "--udp", "--tcp", "80"},
		{"trace", "10.0.0.1", "--tcp", "70000"},
		{"trace", "10.0.0.1", "--max-ttl", "300"},
		{"trace", "10.0.0.1", "-i", "-1s"},
		{"trace", "10.0.0.1", "-o", "yaml"},
		{"trace", "::1"},
		{"trace", "bad\nhost"},
		{"trace", "10.0.0.1", "--netns", testenv.Name("no")},
		{"trace", "10.0.0.1", "--netns", "x", "--pid", "1"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			out, errOut, code := run(t, args...)
			lines := strings.Split(strings.TrimRight(errOut, "\n"), "\n")
			if code != 2 || out != "" || !strings.HasPrefix(lines[0], "netdoctor: ") || len(lines) > 2 ||
				(len(lines) == 2 && lines[1] != "Run 'netdoctor trace --help' for usage.") {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 2, no stdout, one netdoctor: line", code, out, errOut)
			}
		})
	}
}

// TestExitCodes: 0 when the destination answers, 1 when it cannot be reached; JSON is valid.
func TestExitCodes(t *testing.T) {
	testenv.RequireRoot(t)
	l := testenv.NewLine(t, 3)
	ns := l.Hosts[0].Name
	out, errOut, code := run(t, "trace", l.Addr(2), "-c", "2", "--netns", ns, "-o", "json")
	var res struct {
		Reached bool `json:"reached"`
		Hops    []struct {
			Addrs []string `json:"addrs"`
		} `json:"hops"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != 0 || !res.Reached || len(res.Hops) != 2 {
		t.Fatalf("exit %d, json err %v, %+v, stderr %q; want exit 0, reached in 2 hops", code, err, res, errOut)
	}
	out, errOut, code = run(t, "trace", "10.250.99.9", "-c", "1", "--wait", "200ms", "--netns", ns)
	if code != 1 || !strings.Contains(out, "not reached") {
		t.Fatalf("unroutable target: exit %d, stdout %q, stderr %q; want exit 1 and 'not reached'", code, out, errOut)
	}
}

// started starts the netdoctor binary with args and returns it with its output buffers; it is killed
// by PID when the test ends.
func started(t *testing.T, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(testenv.Binary(t), args...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { testenv.Kill(cmd) })
	return cmd, &so, &se
}

// waitRawSocket waits until a raw ICMP socket is open in the namespace: the trace is running.
func waitRawSocket(t *testing.T, ns string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		out, err := exec.Command("ip", "netns", "exec", ns, "cat", "/proc/net/raw").Output()
		if err == nil && len(strings.Split(strings.TrimSpace(string(out)), "\n")) > 1 {
			return
		}
		time.Sleep(20 * time.Millisecond) // polling a readiness condition, not waiting a fixed time
	}
	t.Fatalf("no raw socket appeared in %s", ns)
}

func exitCode(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(20 * time.Second):
		t.Fatalf("netdoctor did not end")
		return -1
	}
}

// TestInterrupt: Ctrl-C ends a long trace normally: the report so far, why it stopped, exit 0.
func TestInterrupt(t *testing.T) {
	testenv.RequireRoot(t)
	l := testenv.NewLine(t, 3)
	cmd, so, se := started(t, "trace", l.Addr(2), "-c", "1000", "-i", "100ms", "--netns", l.Hosts[0].Name)
	waitRawSocket(t, l.Hosts[0].Name)
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := exitCode(t, cmd); code != 0 || !strings.Contains(so.String(), "stopped early: interrupted") ||
		!strings.Contains(so.String(), "reached in 2 hops, no loss") {
		t.Fatalf("exit %d, stdout %q, stderr %q; want exit 0, the report and 'stopped early: interrupted'", code, so, se)
	}
}

// TestVantageVanishes: deleting the --netns mid-run ends the trace within about a second, exit 2,
// one line naming the namespace.
func TestVantageVanishes(t *testing.T) {
	testenv.RequireRoot(t)
	name := testenv.Name("vn")
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	if out, err := exec.Command("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up: %v: %s", err, out)
	}
	cmd, so, se := started(t, "trace", "127.0.0.1", "-c", "1000", "-i", "100ms", "--netns", name)
	waitRawSocket(t, name)
	if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns del: %v: %s", err, out)
	}
	start := time.Now()
	code := exitCode(t, cmd)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v to notice the namespace vanished, want about 1 s", d)
	}
	lines := strings.Split(strings.TrimSpace(se.String()), "\n")
	if code != 2 || len(lines) != 1 || !strings.HasPrefix(lines[0], "netdoctor: ") || !strings.Contains(lines[0], name) {
		t.Fatalf("exit %d, stdout %q, stderr %q; want exit 2 and one line naming %s", code, so, se, name)
	}
}
