//go:build linux

package diagnose_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netdoctor/netdoctor/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const dump = `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: client, namespace: default}
  spec: {nodeName: n1}
  status: {phase: Running, podIP: 10.9.0.4}
`

// TestBadInput: every bad input is one line on stderr starting with "netdoctor: " (plus the optional
// usage pointer), nothing on stdout, exit 2.
func TestBadInput(t *testing.T) {
	bin := testenv.Binary(t)
	dir := t.TempDir()
	f := filepath.Join(dir, "cluster.yaml")
	if err := os.WriteFile(f, []byte(dump), 0o600); err != nil {
		t.Fatal(err)
	}
	notDump := filepath.Join(dir, "not.yaml")
	if err := os.WriteFile(notDump, []byte("hello: [world\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no from", []string{"--to", "10.0.0.1"}, "netdoctor: --from is required"},
		{"no to", []string{"--from", "host"}, "netdoctor: --to is required"},
		{"bad output", []string{"--from", "host", "--to", "10.0.0.1", "-o", "yaml"}, `netdoctor: unknown output format "yaml"`},
		{"bad from", []string{"--from", "deploy/x", "--to", "10.0.0.1", "--cluster-dump", f}, `netdoctor: --from "deploy/x": want pod/NAMESPACE/NAME`},
		{"bad port", []string{"--from", "host", "--to", "10.0.0.1:99999", "--cluster-dump", f}, `netdoctor: --to "10.0.0.1:99999": port "99999" out of range 1-65535`},
		{"unknown pod", []string{"--from", "pod/default/ghost", "--to", "10.0.0.1:80", "--cluster-dump", f}, `netdoctor: pod "default/ghost" is not in the cluster view`},
		{"missing dump", []string{"--from", "host", "--to", "10.0.0.1", "--cluster-dump", filepath.Join(dir, "nope.yaml")}, "netdoctor: cluster dump"},
		{"not a dump", []string{"--from", "host", "--to", "10.0.0.1", "--cluster-dump", notDump}, "netdoctor: kube: dump"},
		{"newline in input", []string{"--from", "pod/default/a\nb", "--to", "10.0.0.1:80", "--cluster-dump", f}, `netdoctor: pod "default/a\nb" is not in the cluster view`},
		{"two views", []string{"--from", "host", "--to", "10.0.0.1", "--cluster-dump", f, "--lab", "x"}, "netdoctor: --cluster-dump and --lab name two cluster views"},
		{"no view", []string{"--from", "host", "--to", "10.0.0.1", "--lab", testenv.Name("nol")}, "netdoctor: no cluster view"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(bin, append([]string{"diagnose"}, c.args...)...)
			var so, se bytes.Buffer
			cmd.Stdout, cmd.Stderr = &so, &se
			err := cmd.Run()
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() != 2 {
				t.Fatalf("exit %v, want 2 (stderr %q)", err, se.String())
			}
			if so.Len() != 0 {
				t.Errorf("stdout not empty: %q", so.String())
			}
			lines := strings.Split(strings.TrimRight(se.String(), "\n"), "\n")
			if len(lines) > 2 || !strings.HasPrefix(lines[0], c.want) || len(lines) == 2 && lines[1] != "Run 'netdoctor diagnose --help' for usage." {
				t.Errorf("stderr %q, want one line starting %q", se.String(), c.want)
			}
			if len(lines[0]) > 512 {
				t.Errorf("error line is %d bytes, more than 512", len(lines[0]))
			}
		})
	}
}
