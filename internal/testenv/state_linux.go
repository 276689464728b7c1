//go:build linux

package testenv

import (
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"testing"
)

var (
	reSysctlKeep = regexp.MustCompile(`^net\.(ipv4\.(ip_forward|conf\.[^.]+\.(forwarding|rp_filter|proxy_arp|accept_local|route_localnet|send_redirects))|ipv6\.conf\.[^.]+\.(forwarding|disable_ipv6)|bridge\.|netfilter\.nf_conntrack_max) `)
	reIPSetCtr   = regexp.MustCompile(` (packets|bytes) \d+`)
	reTimer      = regexp.MustCompile(`(_timer|_timeout)\s+[\d.]+`)
	reOperState  = regexp.MustCompile(` state [A-Z]+ `)
	reTentative  = regexp.MustCompile(` tentative`)
	// ip resolves a peer's netns id to a name by asking about every /run/netns entry; a namespace
	// another test deletes meanwhile makes it print an error or fall back to the id.
	reLinkNetns = regexp.MustCompile(`link-netns(id)? \S+`)
	reNetnsErr  = regexp.MustCompile(`(?m)^Error: Peer netns reference is invalid\.\n?`)
)

// CaptureNetNS returns a normalised text snapshot of n's configuration, read inside n: links
// (ip -d link), addresses, routes and rules of every table, static neighbours, the bridge FDB,
// iptables (both backends) and ip6tables, the nft ruleset, ipsets, and the forwarding / rp_filter /
// bridge-netfilter / conntrack-max sysctls. Counters, lifetimes, bridge timers, operational
// states, IPv6 DAD state (tentative, link-local routes) and learned FDB entries are stripped, so
// traffic and the clock never make two captures differ; any configuration change does. Compare
// two captures with == and show the difference with DiffCaptures.
func CaptureNetNS(t testing.TB, n *NetNS) string {
	t.Helper()
	var b strings.Builder
	section := func(title string, norm func(string) string, name string, args ...string) {
		if _, err := exec.LookPath(name); err != nil {
			return
		}
		out, err := n.Try(name, args...)
		if err != nil {
			out = "error: " + err.Error()
		}
		if norm != nil {
			out = norm(out)
		}
		b.WriteString("=== " + title + "\n" + out + "\n")
	}
	iptNorm := func(txt string) string {
		var keep []string
		for _, l := range strings.Split(txt, "\n") {
			if !strings.HasPrefix(l, "#") {
				keep = append(keep, reCounters.ReplaceAllString(l, "[-]"))
			}
		}
		return strings.Join(keep, "\n")
	}
	// The operational state follows carrier and the bridge's forward delay, not configuration.
	section("links", func(t string) string {
		t = reNetnsErr.ReplaceAllString(reLinkNetns.ReplaceAllString(t, "link-netns"), "")
		return reOperState.ReplaceAllString(reTimer.ReplaceAllString(t, "$1"), " ")
	}, "ip", "-d", "link", "show")
	section("addrs", func(t string) string {
		t = reNetnsErr.ReplaceAllString(reLinkNetns.ReplaceAllString(t, "link-netns"), "")
		t = reTentative.ReplaceAllString(reLft.ReplaceAllString(t, ""), "")
		return reOperState.ReplaceAllString(t, " ")
	}, "ip", "addr", "show")
	section("routes4", func(t string) string { return reExpires.ReplaceAllString(t, "") }, "ip", "-4", "route", "show", "table", "all")
	// IPv6 link-local routes appear when duplicate address detection ends, not by configuration.
	section("routes6", func(t string) string {
		var keep []string
		for _, l := range strings.Split(reExpires.ReplaceAllString(t, ""), "\n") {
			if !strings.Contains(l, "fe80:") {
				keep = append(keep, l)
			}
		}
		return strings.Join(keep, "\n")
	}, "ip", "-6", "route", "show", "table", "all")
	section("rules4", nil, "ip", "-4", "rule")
	section("rules6", nil, "ip", "-6", "rule")
	section("neigh-permanent", nil, "ip", "neigh", "show", "nud", "permanent")
	// Learned FDB entries come and go with traffic; configured ones are permanent or static.
	section("fdb", func(txt string) string {
		var keep []string
		for _, l := range strings.Split(txt, "\n") {
			if strings.Contains(l, "permanent") || strings.Contains(l, "static") {
				keep = append(keep, l)
			}
		}
		return strings.Join(keep, "\n")
	}, "bridge", "fdb", "show")
	section("iptables-nft", iptNorm, "iptables-nft-save")
	section("iptables-legacy", iptNorm, "iptables-legacy-save")
	section("ip6tables", iptNorm, "ip6tables-save")
	section("nft", func(t string) string { return reNftCtr.ReplaceAllString(t, "counter") }, "nft", "list", "ruleset")
	section("ipset", func(t string) string { return reIPSetCtr.ReplaceAllString(t, "") }, "ipset", "save")
	section("sysctl", func(txt string) string {
		var keep []string
		for _, l := range strings.Split(txt, "\n") {
			if reSysctlKeep.MatchString(l) {
				keep = append(keep, l)
			}
		}
		sort.Strings(keep)
		return strings.Join(keep, "\n")
	}, "sysctl", "-a")
	return b.String()
}

// DiffCaptures lists the lines that differ between two CaptureNetNS results ("-" only in a, "+"
// only in b), with the section each is in; empty when they are equal.
func DiffCaptures(a, b string) string {
	count := func(s string) map[string]int {
		m := map[string]int{}
		sec := ""
		for _, l := range strings.Split(s, "\n") {
			if strings.HasPrefix(l, "=== ") {
				sec = l[4:]
			}
			m[sec+": "+l]++
		}
		return m
	}
	ca, cb := count(a), count(b)
	var out []string
	for l, n := range ca {
		if cb[l] < n {
			out = append(out, "- "+l)
		}
	}
	for l, n := range cb {
		if ca[l] < n {
			out = append(out, "+ "+l)
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}
