//go:build linux

package live

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCompletionScript: kubectl runs kubectl_complete-netdoctor with the words typed after
// `kubectl netdoctor`; it must list diagnose's flags, kubectl's connection flags included.
func TestCompletionScript(t *testing.T) {
	_, knd := plugin(t)
	script := repo("plugins/kubectl_complete-netdoctor")
	env := []string{"PATH=" + filepath.Dir(knd) + ":" + os.Getenv("PATH")}
	out, errOut, code := run(t, env, script, "diagnose", "--kube")
	if code != 0 || !strings.Contains(out, "--kubeconfig") {
		t.Errorf("completing 'diagnose --kube': exit %d\n%s%s", code, out, errOut)
	}
	out, _, _ = run(t, env, script, "diag")
	if !strings.Contains(out, "diagnose") {
		t.Errorf("completing 'diag': %s", out)
	}
	out, _, _ = run(t, env, script, "diagnose", "--cont")
	if !strings.Contains(out, "--context") {
		t.Errorf("completing 'diagnose --cont': %s", out)
	}
}
