//go:build linux

package nodestate_test

import (
	"context"
	"debug/elf"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/netdoctor/netdoctor/internal/nodestate"
	"github.com/netdoctor/netdoctor/internal/testenv"
)

// fakeHost builds, in a fresh directory, the part of a host root that iptables-nft-save and
// iptables-legacy-save need, laid out like a merged-/usr Debian host and with its traps: the
// loader is reached through /lib64 → usr/lib64 and an absolute symbolic link
// (/usr/lib64/ld-linux-x86-64.so.2 → /lib/x86_64-linux-gnu/…), iptables-save goes through the
// absolute alternatives link, the libraries are found through /etc/ld.so.conf's include, and the
// binaries are the host's multi-call ones. The files are copies of this machine's own.
func fakeHost(t *testing.T) string {
	t.Helper()
	ma := map[string]string{"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu"}[runtime.GOARCH]
	if ma == "" {
		testenv.Skip(t, "no multiarch directory known for %s", runtime.GOARCH)
	}
	root := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	copyFile := func(src, dst string) {
		t.Helper()
		b, err := os.ReadFile(src)
		must(err)
		must(os.MkdirAll(filepath.Dir(root+dst), 0o755))
		must(os.WriteFile(root+dst, b, 0o755))
	}
	link := func(target, at string) {
		t.Helper()
		must(os.MkdirAll(filepath.Dir(root+at), 0o755))
		must(os.Symlink(target, root+at))
	}
	lib := "/usr/lib/" + ma
	for _, d := range []string{"/usr/sbin", "/usr/lib64", lib, "/etc/ld.so.conf.d", "/etc/alternatives"} {
		must(os.MkdirAll(root+d, 0o755))
	}
	link("usr/lib", "/lib")
	link("usr/lib64", "/lib64")
	link("usr/sbin", "/sbin")
	must(os.WriteFile(root+"/etc/ld.so.conf", []byte("include /etc/ld.so.conf.d/*.conf\n"), 0o644))
	must(os.WriteFile(root+"/etc/ld.so.conf.d/"+ma+".conf", []byte("# Multiarch support\n"+lib+"\n"), 0o644))
	for _, multi := range []string{"xtables-nft-multi", "xtables-legacy-multi"} {
		real, err := exec.LookPath(multi)
		if err != nil {
			testenv.Skip(t, "%s not installed: %v", multi, err)
		}
		copyFile(real, "/usr/sbin/"+multi)
		f, err := elf.Open(real)
		must(err)
		libs, err := f.ImportedLibraries()
		must(err)
		var interp string
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				b := make([]byte, p.Filesz)
				_, err := p.ReadAt(b, 0)
				must(err)
				interp = strings.TrimRight(string(b), "\x00")
			}
		}
		f.Close()
		for _, l := range libs {
			src := filepath.Join("/lib", ma, l)
			if _, err := os.Stat(src); err != nil {
				src = filepath.Join("/usr/lib", ma, l)
			}
			copyFile(src, lib+"/"+l)
		}
		if _, err := os.Lstat(root + interp); err != nil {
			copyFile(interp, lib+"/"+filepath.Base(interp))
			link("/lib/"+ma+"/"+filepath.Base(interp), "/usr/lib64/"+filepath.Base(interp))
		}
	}
	ext, _ := filepath.Glob("/usr/lib/" + ma + "/xtables/*.so")
	if len(ext) == 0 {
		testenv.Skip(t, "no iptables extensions in /usr/lib/%s/xtables", ma)
	}
	for _, e := range ext {
		copyFile(e, lib+"/xtables/"+filepath.Base(e))
	}
	link("xtables-nft-multi", "/usr/sbin/iptables-nft-save")
	link("xtables-legacy-multi", "/usr/sbin/iptables-legacy-save")
	link("/usr/sbin/iptables-nft-save", "/etc/alternatives/iptables-save")
	link("/etc/alternatives/iptables-save", "/usr/sbin/iptables-save")
	return root
}

// saved runs an iptables-save tool in n (with this machine's PATH) and parses its output: what the
// snapshot must hold.
func saved(t *testing.T, n *testenv.NetNS, tool, backend string) *nodestate.Iptables {
	t.Helper()
	out, errOut, err := n.Output(context.Background(), tool, "-c")
	if err != nil {
		t.Fatalf("%s: %v: %s", tool, err, errOut)
	}
	ipt, err := nodestate.ParseIptablesSave([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	ipt.Backend = backend
	return ipt
}

func asJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestIptablesFromHostRoot: with no iptables tool in PATH (as in the FROM-scratch agent image),
// the snapshot still reads both iptables backends of a test namespace by running the host's own
// multi-call binaries through the host's own loader and libraries, found under the host root
// (NETDOCTOR_HOST_ROOT; /proc/1/root in the agent pod), and gets exactly what iptables-nft-save
// and iptables-legacy-save print there.
func TestIptablesFromHostRoot(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireTool(t, "iptables-nft")
	testenv.RequireTool(t, "iptables-legacy")
	host := fakeHost(t)
	n := testenv.NewNetNS(t)
	n.Exec(t, "iptables-nft", "-t", "nat", "-N", "KUBE-SERVICES")
	n.Exec(t, "iptables-nft", "-t", "nat", "-A", "PREROUTING", "-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES")
	n.Exec(t, "iptables-nft", "-t", "nat", "-A", "KUBE-SERVICES", "-d", "10.96.0.10/32", "-p", "udp", "--dport", "53", "-m", "statistic", "--mode", "random", "--probability", "0.5", "-j", "DNAT", "--to-destination", "10.244.1.5:53")
	n.Exec(t, "iptables-nft", "-A", "INPUT", "-p", "tcp", "--dport", "10250", "-m", "conntrack", "--ctstate", "NEW", "-j", "DROP")
	n.Exec(t, "iptables-legacy", "-t", "nat", "-A", "POSTROUTING", "-s", "10.244.0.0/16", "!", "-d", "10.244.0.0/16", "-j", "MASQUERADE")
	want := saved(t, n, "iptables-nft-save", "nft")
	want.Other = saved(t, n, "iptables-legacy-save", "legacy")

	t.Setenv("PATH", "/nonexistent")
	t.Setenv(nodestate.HostRootEnv, host)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := nodestate.Take(ctx, n.NS, nodestate.Options{SkipHostFiles: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range s.Errors {
		if strings.Contains(e, "iptables") {
			t.Errorf("snapshot error: %s", e)
		}
	}
	if got, w := asJSON(t, s.Iptables), asJSON(t, want); got != w {
		t.Errorf("iptables through the host root:\n%s\nwant (iptables-*-save in the namespace):\n%s", got, w)
	}
	if s.Iptables == nil || s.Iptables.Rules != 3 || s.Iptables.Other == nil || s.Iptables.Other.Rules != 1 {
		t.Errorf("want 3 nft rules and 1 legacy rule, got %+v", s.Iptables)
	}

	// Without the host root the tools are simply missing, and the snapshot says where it looked.
	t.Setenv(nodestate.HostRootEnv, filepath.Join(host, "nonexistent"))
	s, err = nodestate.Take(ctx, n.NS, nodestate.Options{SkipHostFiles: true})
	if err != nil {
		t.Fatal(err)
	}
	if s.Iptables != nil || !strings.Contains(strings.Join(s.Errors, "\n"), "iptables not read: iptables-nft-save not found in PATH, nor on the host: cannot see the host's root at") {
		t.Errorf("no host root: iptables %v, errors %q", s.Iptables, s.Errors)
	}
	t.Logf("without a host root: %q", s.Errors)
}
