package drops

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netdoctor/netdoctor/internal/testenv"
)

// TestGeneratedObjectUpToDate rebuilds the BPF object with the exact go:generate line of gen.go
// into a temporary directory and fails when the committed object or its Go wrapper differ.
func TestGeneratedObjectUpToDate(t *testing.T) {
	if _, err := exec.LookPath("clang"); err != nil {
		testenv.Skip(t, "needs clang to rebuild the BPF object (scripts/deps.sh installs it)")
	}
	if _, err := exec.LookPath("llvm-strip"); err != nil {
		testenv.Skip(t, "needs llvm-strip to rebuild the BPF object (scripts/deps.sh installs llvm)")
	}
	src, err := os.ReadFile("gen.go")
	if err != nil {
		t.Fatal(err)
	}
	var line string
	for _, l := range strings.Split(string(src), "\n") {
		if strings.HasPrefix(l, "//go:generate ") {
			line = strings.TrimPrefix(l, "//go:generate ")
		}
	}
	args := splitArgs(line)
	if len(args) < 3 || args[0] != "go" {
		t.Fatalf("unexpected go:generate line %q", line)
	}
	out := t.TempDir()
	// -output-dir goes before the positional stem and source.
	n := len(args)
	args = append(append(append([]string{}, args[:n-2]...), "-output-dir", out), args[n-2:]...)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "GOPACKAGE=drops")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, b)
	}
	for _, f := range []string{"dropsbpf_bpfel.o", "dropsbpf_bpfel.go"} {
		want, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(out, f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from a fresh build (%d bytes committed, %d rebuilt): run go generate ./internal/drops and commit", f, len(want), len(got))
		}
	}
}

// splitArgs splits a command line on blanks, keeping double-quoted words together.
func splitArgs(s string) []string {
	var out []string
	var cur strings.Builder
	quoted, have := false, false
	for _, r := range s {
		switch {
		case r == '"':
			quoted, have = !quoted, true
		case r == ' ' && !quoted:
			if have {
				out = append(out, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteRune(r)
			have = true
		}
	}
	if have {
		out = append(out, cur.String())
	}
	return out
}
