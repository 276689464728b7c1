//go:build linux

package nodestate

import (
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/google/nftables"

	"github.com/netdoctor/netdoctor/internal/netns"
)

// maxCommandOutput bounds what one command may print (a 40k-rule iptables-save is ~10 MiB).
const maxCommandOutput = 256 << 20

// runIn runs a read-only command inside ns and returns its stdout. The child is forked from a
// thread inside the namespace and killed when ctx or the command timeout ends. A tool that is not
// in PATH is run from the host's root when it is visible (see lookTool).
func runIn(ctx context.Context, ns *netns.NS, timeout time.Duration, name string, args ...string) ([]byte, error) {
	tool, err := lookTool(name)
	if err != nil {
		return nil, err
	}
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, tool.path, append(tool.pre[:len(tool.pre):len(tool.pre)], args...)...)
	if len(tool.env) > 0 {
		cmd.Env = append(os.Environ(), tool.env...)
	}
	var so, se limitedBuffer
	so.max, se.max = maxCommandOutput, 4096
	cmd.Stdout, cmd.Stderr = &so, &se
	if err := ns.Start(cmd); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	if err := cmd.Wait(); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: timed out after %s", name, timeout)
		}
		return so.Bytes(), fmt.Errorf("%s: %w: %s", name, err, strings.TrimSpace(se.String()))
	}
	if so.over {
		return nil, fmt.Errorf("%s: output larger than %d bytes", name, so.max)
	}
	return so.Bytes(), nil
}

type limitedBuffer struct {
	bytes.Buffer
	max  int
	over bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > b.max {
		b.over = true
		return len(p), nil
	}
	return b.Buffer.Write(p)
}

func haveTool(name string) bool {
	_, err := lookTool(name)
	return err == nil
}

// HostRootEnv names the environment variable that says where the host's root filesystem is
// visible; default /proc/1/root (the host's init, seen by an agent pod with hostPID).
const HostRootEnv = "NETDOCTOR_HOST_ROOT"

// hostTool is how to run a tool: path, the arguments before the tool's own, extra environment.
type hostTool struct {
	path string
	pre  []string
	env  []string
}

// hostBinDirs are searched, in order, for a tool on the host.
var hostBinDirs = []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}

// lookTool finds a tool in PATH, else on the host: under the host root (HostRootEnv, default
// /proc/1/root) in the usual bin directories. That is how a FROM-scratch agent image reads
// iptables, nft and ipset rules: it runs the host's own binary through the host's own dynamic
// loader (ld.so --library-path HOST_LIB_DIRS HOST_BINARY), with XTABLES_LIBDIR at the host's
// xtables extensions, so nothing but the host's files is used and the container needs no tools.
// Seeing /proc/1/root needs hostPID and CAP_SYS_PTRACE (ptrace read access to the host's init).
// When the host root is this process's own root, the binary is run directly.
func lookTool(name string) (*hostTool, error) {
	if p, err := exec.LookPath(name); err == nil {
		return &hostTool{path: p}, nil
	}
	root := os.Getenv(HostRootEnv)
	if root == "" {
		root = "/proc/1/root"
	}
	t, err := hostCommand(root, name)
	if err != nil {
		return nil, fmt.Errorf("%s not found in PATH, nor on the host: %w", name, err)
	}
	return t, nil
}

// hostCommand returns how to run the host's tool name, the host's root filesystem being at root.
func hostCommand(root, name string) (*hostTool, error) {
	if _, err := os.Stat(root + "/"); err != nil {
		return nil, fmt.Errorf("cannot see the host's root at %s (the agent needs hostPID and CAP_SYS_PTRACE, or %s): %w", root, HostRootEnv, err)
	}
	var bin string
	for _, d := range hostBinDirs {
		p, err := resolveIn(root, path.Join(d, name))
		if err != nil {
			continue
		}
		if st, err := os.Stat(root + p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			bin = p
			break
		}
	}
	if bin == "" {
		return nil, fmt.Errorf("no %s in %s of the host root %s", name, strings.Join(hostBinDirs, ", "), root)
	}
	var pre []string
	if b := path.Base(bin); b != name && strings.HasSuffix(b, "-multi") {
		pre = []string{name} // a multi-call binary (xtables-nft-multi…) run by its own name takes the applet first
	}
	if sameFile(root, "/") {
		return &hostTool{path: bin, pre: pre}, nil
	}
	f, err := elf.Open(root + bin)
	if err != nil {
		return nil, fmt.Errorf("host's %s: %w", bin, err)
	}
	defer f.Close()
	var interp string
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b := make([]byte, p.Filesz)
			if _, err := p.ReadAt(b, 0); err != nil {
				return nil, fmt.Errorf("host's %s: read its loader: %w", bin, err)
			}
			interp = strings.TrimRight(string(b), "\x00")
		}
	}
	var env []string
	if strings.Contains(name, "tables") {
		if d := hostXtablesDir(root, f.Machine); d != "" {
			env = append(env, "XTABLES_LIBDIR="+root+d)
		}
	}
	if interp == "" { // static
		return &hostTool{path: root + bin, pre: pre, env: env}, nil
	}
	ld, err := resolveIn(root, interp)
	if err != nil {
		return nil, fmt.Errorf("host's %s: its loader %s: %w", bin, interp, err)
	}
	var libs []string
	for _, d := range hostLibDirs(root, f.Machine) {
		libs = append(libs, root+d)
	}
	args := []string{"--library-path", strings.Join(libs, ":")}
	if strings.HasPrefix(path.Base(interp), "ld-linux") {
		args = append([]string{"--inhibit-cache"}, args...) // glibc: not our /etc/ld.so.cache
	}
	args = append(append(args, root+bin), pre...)
	return &hostTool{path: root + ld, pre: args, env: env}, nil
}

// sameFile reports whether a and b are the same directory (the host root is our own root).
func sameFile(a, b string) bool {
	var sa, sb syscall.Stat_t
	return syscall.Stat(a, &sa) == nil && syscall.Stat(b, &sb) == nil && sa.Dev == sb.Dev && sa.Ino == sb.Ino
}

// resolveIn resolves p (absolute, in the host's namespace of paths) to a path without symbolic
// links, following them as the host would: absolute targets are relative to root, not to ours.
func resolveIn(root, p string) (string, error) {
	done := "/"
	rest := strings.Split(strings.Trim(path.Clean("/"+p), "/"), "/")
	for hops := 0; len(rest) > 0; {
		c := rest[0]
		rest = rest[1:]
		if c == "" || c == "." {
			continue
		}
		if c == ".." {
			done = path.Dir(done)
			continue
		}
		next := path.Join(done, c)
		st, err := os.Lstat(root + next)
		if err != nil {
			return "", err
		}
		if st.Mode()&os.ModeSymlink == 0 {
			done = next
			continue
		}
		if hops++; hops > 40 {
			return "", fmt.Errorf("%s: too many symbolic links", p)
		}
		target, err := os.Readlink(root + next)
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(target, "/") {
			done = "/"
		}
		rest = append(strings.Split(strings.Trim(target, "/"), "/"), rest...)
	}
	return done, nil
}

// multiarch is Debian's multiarch directory name of an ELF machine.
func multiarch(m elf.Machine) string {
	switch m {
	case elf.EM_X86_64:
		return "x86_64-linux-gnu"
	case elf.EM_AARCH64:
		return "aarch64-linux-gnu"
	case elf.EM_386:
		return "i386-linux-gnu"
	case elf.EM_PPC64:
		return "powerpc64le-linux-gnu"
	case elf.EM_S390:
		return "s390x-linux-gnu"
	case elf.EM_RISCV:
		return "riscv64-linux-gnu"
	}
	return ""
}

// hostLibDirs lists the host's library directories (resolved within root): those of its
// /etc/ld.so.conf, then the usual ones, each once.
func hostLibDirs(root string, m elf.Machine) []string {
	var cands []string
	var readConf func(file string, depth int)
	readConf = func(file string, depth int) {
		p, err := resolveIn(root, file)
		if err != nil || depth > 3 {
			return
		}
		b, err := os.ReadFile(root + p)
		if err != nil {
			return
		}
		for _, l := range strings.Split(string(b), "\n") {
			l = strings.TrimSpace(l)
			if i := strings.IndexByte(l, '#'); i >= 0 {
				l = strings.TrimSpace(l[:i])
			}
			switch {
			case strings.HasPrefix(l, "include "):
				pat := strings.TrimSpace(strings.TrimPrefix(l, "include "))
				if !strings.HasPrefix(pat, "/") {
					pat = path.Join(path.Dir(file), pat)
				}
				dir, err := resolveIn(root, path.Dir(pat))
				if err != nil {
					continue
				}
				ms, _ := filepath.Glob(root + dir + "/" + path.Base(pat))
				for _, mf := range ms {
					readConf(dir+"/"+filepath.Base(mf), depth+1)
				}
			case strings.HasPrefix(l, "/"):
				cands = append(cands, l)
			}
		}
	}
	readConf("/etc/ld.so.conf", 0)
	if ma := multiarch(m); ma != "" {
		cands = append(cands, "/lib/"+ma, "/usr/lib/"+ma)
	}
	cands = append(cands, "/lib64", "/usr/lib64", "/lib", "/usr/lib")
	seen := map[string]bool{}
	var out []string
	for _, c := range cands {
		p, err := resolveIn(root, c)
		if err != nil || seen[p] {
			continue
		}
		if st, err := os.Stat(root + p); err == nil && st.IsDir() {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// hostXtablesDir is the host's directory of iptables extensions (libxt_*.so), "" if none.
func hostXtablesDir(root string, m elf.Machine) string {
	var cands []string
	if ma := multiarch(m); ma != "" {
		cands = append(cands, "/usr/lib/"+ma+"/xtables", "/lib/"+ma+"/xtables")
	}
	cands = append(cands, "/usr/lib64/xtables", "/lib64/xtables", "/usr/lib/xtables", "/lib/xtables", "/usr/libexec/xtables")
	for _, c := range cands {
		p, err := resolveIn(root, c)
		if err != nil {
			continue
		}
		if ms, _ := filepath.Glob(root + p + "/libxt_*.so"); len(ms) > 0 {
			return p
		}
	}
	return ""
}

// readIptables reads both iptables backends at once and keeps the one with rules as the main one;
// when both have rules the other one goes to Other.
func readIptables(ctx context.Context, ns *netns.NS, opt Options, errf func(string, ...any)) *Iptables {
	type result struct {
		ipt *Iptables
		err error
	}
	backends := []struct{ backend, tool string }{{"nft", "iptables-nft-save"}, {"legacy", "iptables-legacy-save"}}
	results := make([]chan result, len(backends))
	var missing []error
	for i, b := range backends {
		results[i] = make(chan result, 1)
		tool := b.tool
		if _, err := lookTool(tool); err != nil {
			if b.backend == "nft" && haveTool("iptables-save") {
				tool = "iptables-save"
			} else {
				missing = append(missing, err)
				results[i] <- result{}
				continue
			}
		}
		go func(ch chan result, backend, tool string) {
			out, err := runIn(ctx, ns, opt.CommandTimeout, tool, "-c")
			if err != nil {
				ch <- result{err: err}
				return
			}
			ipt, err := ParseIptablesSave(out)
			if err != nil {
				ch <- result{err: fmt.Errorf("%s: %w", tool, err)}
				return
			}
			ipt.Backend = backend
			ch <- result{ipt: ipt}
		}(results[i], b.backend, tool)
	}
	if len(missing) == len(backends) {
		errf("iptables not read: %v", missing[0]) // neither backend's tool: say where it was looked for
	}
	var got []*Iptables
	for _, ch := range results {
		r := <-ch
		if r.err != nil {
			errf("%v", r.err)
		}
		if r.ipt != nil {
			got = append(got, r.ipt)
		}
	}
	switch len(got) {
	case 0:
		return nil
	case 1:
		return got[0]
	}
	main, other := got[0], got[1]
	if main.Rules == 0 && other.Rules > 0 {
		main, other = other, main
	}
	if other.Rules > 0 {
		main.Other = other
	}
	return main
}

// iptablesTableNames are the tables iptables-nft / ip6tables-nft create.
var iptablesTableNames = map[string]bool{"filter": true, "nat": true, "mangle": true, "raw": true, "security": true}

// nftTables lists the namespace's nftables tables through netlink (`nft list tables` builds the
// whole rule cache first, seconds on a kube-proxy-sized ruleset).
func nftTables(ns *netns.NS) ([][2]string, error) {
	var out [][2]string
	err := ns.Do(func() error {
		c, err := nftables.New()
		if err != nil {
			return err
		}
		tables, err := c.ListTables()
		if err != nil {
			return err
		}
		for _, t := range tables {
			out = append(out, [2]string{nftFamily(t.Family), t.Name})
		}
		return nil
	})
	return out, err
}

func nftFamily(f nftables.TableFamily) string {
	switch f {
	case nftables.TableFamilyIPv4:
		return "ip"
	case nftables.TableFamilyIPv6:
		return "ip6"
	case nftables.TableFamilyINet:
		return "inet"
	case nftables.TableFamilyARP:
		return "arp"
	case nftables.TableFamilyBridge:
		return "bridge"
	case nftables.TableFamilyNetdev:
		return "netdev"
	}
	return fmt.Sprintf("family%d", f)
}

// readNft lists every table; the tables iptables-nft owns (when its backend holds rules, which
// Snapshot.Iptables already has) are recorded without their rules, the others are read in full
// with `nft -j list table`.
func readNft(ctx context.Context, ns *netns.NS, opt Options, tables [][2]string, ipt *Iptables, errf func(string, ...any)) *NftRuleset {
	rs := &NftRuleset{}
	nftBackend := ipt != nil && (ipt.Backend == "nft" || (ipt.Other != nil && ipt.Other.Backend == "nft"))
	for _, t := range tables {
		fam, name := t[0], t[1]
		if nftBackend && (fam == "ip" || fam == "ip6") && iptablesTableNames[name] {
			rs.Tables = append(rs.Tables, &NftTable{Family: fam, Name: name, IptablesNft: true})
			continue
		}
		if _, err := lookTool("nft"); err != nil {
			errf("table %s %s not read: %v", fam, name, err)
			continue
		}
		js, err := runIn(ctx, ns, opt.CommandTimeout, "nft", "-j", "list", "table", fam, name)
		if err != nil {
			errf("%v", err)
			continue
		}
		one, err := ParseNftJSON(js)
		if err != nil {
			errf("nft: %v", err)
			continue
		}
		rs.Tables = append(rs.Tables, one.Tables...)
	}
	return rs
}

func readIPSets(ctx context.Context, ns *netns.NS, opt Options, errf func(string, ...any)) map[string]*IPSet {
	if !haveTool("ipset") {
		return nil
	}
	out, err := runIn(ctx, ns, opt.CommandTimeout, "ipset", "save")
	if err != nil {
		errf("%v", err)
		return nil
	}
	return ParseIPSetSave(out)
}
