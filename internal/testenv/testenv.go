// Package testenv is the harness for netdoctor's privileged tests: precise skips that fail in strict
// mode (CI), one network namespace per test with cleanup, unique names so packages testing in parallel
// never collide, and a TestMain leak check that proves the root namespace was not touched.
//
// Rules every test follows: never add addresses, routes, links or rules in the root namespace (create
// veth pairs inside test namespaces with Veth), send traffic only to addresses inside namespaces the
// test created or to loopback, and start processes with NetNS.Start so they are killed by PID.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// StrictEnv is the environment variable that turns every skip into a failure. .ci/run sets it.
const StrictEnv = "NETDOCTOR_STRICT"

// Strict reports whether skips must fail (CI runs as root with every tool installed).
func Strict() bool { return os.Getenv(StrictEnv) == "1" }

// Skip skips the test with a message naming the missing thing, or fails it in strict mode.
func Skip(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if Strict() {
		t.Fatalf("%s=1 forbids skipping: %s", StrictEnv, msg)
	}
	t.Skip(msg)
}

// RequireRoot skips (or fails in strict mode) unless the test runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Skip(t, "needs root (network namespaces, raw sockets): run as root, as CI does")
	}
}

// RequireTool returns the path of a command, or skips naming the Debian package that provides it.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Skip(t, "needs %s in PATH (bash scripts/test.sh installs it)", name)
	}
	return p
}

var (
	counter atomic.Uint64
	prefix  = "nd" + strconv.FormatUint(uint64(os.Getpid()), 36)
)

// Prefix is the prefix of every name this test process hands out; the leak check looks for it.
func Prefix() string { return prefix }

// Name returns a name unique across all test processes on the machine: prefix + pid + counter.
// It is at most 15 characters when tag is at most 3, so it also fits an interface name.
func Name(tag string) string {
	if len(tag) > 3 {
		tag = tag[:3]
	}
	return prefix + tag + strconv.FormatUint(counter.Add(1), 36)
}

// IfName returns a unique interface name (at most 15 bytes).
func IfName(tag string) string { return Name(tag) }

// run runs a command and returns its combined output, with the command in the error.
func run(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

var tmpOnce struct {
	sync.Once
	dir string
	err error
}

// TempDir is a directory shared by the whole test process, removed by Main.
func TempDir(t testing.TB) string {
	t.Helper()
	tmpOnce.Do(func() { tmpOnce.dir, tmpOnce.err = os.MkdirTemp("", prefix+"-") })
	if tmpOnce.err != nil {
		t.Fatalf("temp dir: %v", tmpOnce.err)
	}
	return tmpOnce.dir
}

var binOnce struct {
	sync.Once
	path string
	err  error
}

// Binary builds the netdoctor binary once per test process and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	dir := TempDir(t)
	binOnce.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			binOnce.err = err
			return
		}
		binOnce.path = dir + "/netdoctor"
		cmd := exec.Command("go", "build", "-o", binOnce.path, ".")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			binOnce.err = fmt.Errorf("go build: %w: %s", err, out)
		}
	})
	if binOnce.err != nil {
		t.Fatalf("build netdoctor: %v", binOnce.err)
	}
	return binOnce.path
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("not inside the netdoctor module")
	}
	return strings.TrimSuffix(mod, "/go.mod"), nil
}
