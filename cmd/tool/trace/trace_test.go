package trace_test

import (
	"bytes"
	"encoding/json"
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
