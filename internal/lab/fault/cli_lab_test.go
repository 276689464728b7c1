package fault_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/netdoctor/netdoctor/internal/lab/fault"
	"github.com/netdoctor/netdoctor/internal/testenv"
)

// Bad input and failures are one line starting with "netdoctor: " and exit 2; nothing is left behind.
func TestLabCLIErrors(t *testing.T) {
	requireLabTools(t)
	c := &cli{t: t, bin: testenv.Binary(t), dir: filepath.Join(testenv.TempDir(t), "labs-cli"), name: testenv.Name("lab")}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"lab", "up", "--fault", "nope", "--name", c.name}, `netdoctor: fault: unknown fault "nope"`},
		{[]string{"lab", "up", "--name", "Bad_Name"}, `netdoctor: lab: name "Bad_Name"`},
		{[]string{"lab", "up", "--nodes", "2", "--name", c.name}, "netdoctor: --nodes 2: want 3..100"},
		{[]string{"lab", "up", "--timeout", "20ms", "--name", c.name}, "netdoctor: lab up timed out after 20ms; the partial lab " + c.name + " was removed"},
		{[]string{"lab", "verify", "--name", c.name}, `netdoctor: lab: "` + c.name + `": no such lab`},
		{[]string{"lab", "status", "--name", c.name}, `netdoctor: lab: "` + c.name + `": no such lab`},
	} {
		out, errOut, code := c.run(tc.args...)
		if code != 2 || out != "" || !strings.HasPrefix(errOut, tc.want) || strings.Count(strings.TrimSpace(errOut), "\n") > 1 {
			t.Errorf("netdoctor %v: exit %d, stdout %q, stderr %q; want exit 2 and %q", tc.args, code, out, errOut, tc.want)
		}
	}
	if left := testenv.LeakedNamespaces(c.name + "-"); len(left) > 0 {
		t.Errorf("namespaces left: %v", left)
	}
	out, _, code := c.run("lab", "list")
	for _, f := range fault.Catalogue() {
		if code != 0 || !strings.Contains(out, f.Name+" ") || !strings.Contains(out, string(f.Kind)) {
			t.Errorf("lab list lacks %s (%s):\n%s", f.Name, f.Kind, out)
		}
	}
}
