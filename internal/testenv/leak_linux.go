//go:build linux

package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// RootState is a normalised text snapshot of the root namespace's network configuration: links,
// addresses, routes, rules, iptables and nft rulesets, and a few sysctls. Counters, lifetimes and
// timestamps are stripped so that traffic alone never makes two snapshots differ.
type RootState map[string]string

var (
	reCounters = regexp.MustCompile(`\[\d+:\d+\]`)
	reLft      = regexp.MustCompile(`(valid_lft|preferred_lft) \S+`)
	reExpires  = regexp.MustCompile(`expires \d+sec`)
	reNftCtr   = regexp.MustCompile(`counter packets \d+ bytes \d+`)
)

// CaptureRoot snapshots the namespace this process runs in (the root namespace for tests).
func CaptureRoot() RootState {
	s := RootState{}
	add := func(key string, norm func(string) string, name string, args ...string) {
		if _, err := exec.LookPath(name); err != nil {
			return
		}
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			s[key] = "error: " + err.Error()
			return
		}
		txt := string(out)
		if norm != nil {
			txt = norm(txt)
		}
		s[key] = txt
	}
	dropComments := func(txt string) string {
		var keep []string
		for _, l := range strings.Split(txt, "\n") {
			if !strings.HasPrefix(l, "#") {
				keep = append(keep, reCounters.ReplaceAllString(l, "[-]"))
			}
		}
		return strings.Join(keep, "\n")
	}
	add("links", nil, "ip", "-d", "link", "show")
	add("addrs", func(t string) string { return reLft.ReplaceAllString(t, "") }, "ip", "addr", "show")
	add("routes4", func(t string) string { return reExpires.ReplaceAllString(t, "") }, "ip", "-4", "route", "show", "table", "all")
	add("routes6", func(t string) string { return reExpires.ReplaceAllString(t, "") }, "ip", "-6", "route", "show", "table", "all")
	add("rules4", nil, "ip", "-4", "rule")
	add("rules6", nil, "ip", "-6", "rule")
	add("neigh-static", nil, "ip", "neigh", "show", "nud", "permanent")
	add("iptables", dropComments, "iptables-save")
	add("ip6tables", dropComments, "ip6tables-save")
	add("nft", func(t string) string { return reNftCtr.ReplaceAllString(t, "counter") }, "nft", "list", "ruleset")
	for _, k := range []string{"net/ipv4/ip_forward", "net/ipv4/conf/all/rp_filter", "net/ipv4/conf/all/forwarding"} {
		if b, err := os.ReadFile("/proc/sys/" + k); err == nil {
			s["sysctl "+k] = string(b)
		}
	}
	return s
}

// Diff lists, per key, how b differs from a; empty when they are identical.
func (a RootState) Diff(b RootState) string {
	var out []string
	for k, av := range a {
		if bv := b[k]; av != bv {
			out = append(out, fmt.Sprintf("--- %s changed:\nbefore:\n%s\nafter:\n%s", k, av, bv))
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, "--- "+k+" appeared")
		}
	}
	return strings.Join(out, "\n")
}

// LeakedNamespaces lists namespaces under /run/netns whose names carry prefix.
func LeakedNamespaces(prefix string) []string {
	ents, _ := os.ReadDir("/run/netns")
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			out = append(out, e.Name())
		}
	}
	return out
}

// Children lists the PIDs (with their command) of this process's live or zombie children.
func Children() []string {
	me := os.Getpid()
	ents, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(me) {
			out = append(out, fmt.Sprintf("%d %s", pid, s[strings.IndexByte(s, '(')+1:i]))
		}
	}
	return out
}

// Main runs the package's tests, then fails the run (exit 99) if the root namespace changed, a
// namespace this process created is left, or a child process is still around. Use it in TestMain:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
func Main(m *testing.M) {
	var before RootState
	root := os.Geteuid() == 0
	if root {
		before = CaptureRoot()
	}
	code := m.Run()
	if tmpOnce.dir != "" {
		os.RemoveAll(tmpOnce.dir)
	}
	if root {
		var problems []string
		if d := before.Diff(CaptureRoot()); d != "" {
			problems = append(problems, "root namespace changed:\n"+d)
		}
		if ns := LeakedNamespaces(prefix); len(ns) > 0 {
			problems = append(problems, "namespaces left behind: "+strings.Join(ns, ", "))
			for _, n := range ns {
				_ = exec.Command("ip", "netns", "del", n).Run()
			}
		}
		if ch := Children(); len(ch) > 0 {
			problems = append(problems, "child processes left behind: "+strings.Join(ch, "; "))
		}
		if len(problems) > 0 {
			fmt.Fprintln(os.Stderr, "testenv leak check FAILED:\n"+strings.Join(problems, "\n"))
			if code == 0 {
				code = 99
			}
		}
	}
	os.Exit(code)
}
