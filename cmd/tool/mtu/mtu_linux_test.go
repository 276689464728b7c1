//go:build linux

package mtu_test

import (
	"bytes"
	"errors"
	"os/exec"
	"strings"
	"testing"

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
		{"mtu"},
		{"mtu", "10.0.0.1", "--proto", "sctp"},
		{"mtu", "10.0.0.1", "--proto", "tcp"},
		{"mtu", "10.0.0.1", "--max", "10"},
		{"mtu", "10.0.0.1", "--port", "70000"},
		{"mtu", "10.0.0.1", "--wait", "0s"},
		{"mtu", "10.0.0.1", "-o", "xml"},
		{"mtu", "2001:db8::1"},
		{"mtu", "10.0.0.1", "--pid", "999999999"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			out, errOut, code := run(t, args...)
			lines := strings.Split(strings.TrimRight(errOut, "\n"), "\n")
			if code != 2 || out != "" || !strings.HasPrefix(lines[0], "netdoctor: ") || len(lines) > 2 ||
				(len(lines) == 2 && lines[1] != "Run 'netdoctor mtu --help' for usage.") {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 2, no stdout, one netdoctor: line", code, out, errOut)
			}
		})
	}
}

// TestExitCodes: 0 when the path MTU is the local MTU, 1 when it is smaller and for a black hole.
func TestExitCodes(t *testing.T) {
	testenv.RequireRoot(t)
	t.Run("healthy", func(t *testing.T) {
		t.Parallel()
		l := testenv.NewLine(t, 3)
		out, errOut, code := run(t, "mtu", l.Addr(2), "--netns", l.Hosts[0].Name)
		if code != 0 || !strings.Contains(out, "path MTU 1500 (local 1500)") {
			t.Errorf("exit %d, stdout %q, stderr %q; want exit 0 and path MTU 1500", code, out, errOut)
		}
	})
	t.Run("smaller", func(t *testing.T) {
		t.Parallel()
		l := testenv.NewLine(t, 4, 1500, 1400, 1500)
		out, errOut, code := run(t, "mtu", l.Addr(3), "--netns", l.Hosts[0].Name)
		want := "fragmentation-needed from " + l.Links[0].RightAddr + " announcing MTU 1400"
		if code != 1 || !strings.Contains(out, "path MTU 1400 (local 1500)") || !strings.Contains(out, want) {
			t.Errorf("exit %d, stdout %q, stderr %q; want exit 1, path MTU 1400, %q", code, out, errOut, want)
		}
	})
	t.Run("black hole", func(t *testing.T) {
		t.Parallel()
		l := testenv.NewLine(t, 4, 1500, 1400, 1500)
		l.Hosts[1].Exec(t, "iptables", "-A", "OUTPUT", "-p", "icmp", "--icmp-type", "fragmentation-needed", "-j", "DROP")
		out, errOut, code := run(t, "mtu", l.Addr(3), "--netns", l.Hosts[0].Name)
		if code != 1 || !strings.Contains(out, "black hole: packets up to 1400 bytes pass, 1401 and larger vanish") {
			t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 and the black hole at 1400", code, out, errOut)
		}
	})
}
