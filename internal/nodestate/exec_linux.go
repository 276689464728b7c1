//go:build linux

package nodestate

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/google/nftables"

	"github.com/netdoctor/netdoctor/internal/netns"
)

// maxCommandOutput bounds what one command may print (a 40k-rule iptables-save is ~10 MiB).
const maxCommandOutput = 256 << 20

// runIn runs a read-only command inside ns and returns its stdout. The child is forked from a
// thread inside the namespace and killed when ctx or the command timeout ends.
func runIn(ctx context.Context, ns *netns.NS, timeout time.Duration, name string, args ...string) ([]byte, error) {
	path, err := exec.LookPath(name)
	if err != nil {
		return nil, fmt.Errorf("%s not found in PATH: %w", name, err)
	}
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
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
	_, err := exec.LookPath(name)
	return err == nil
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
	for i, b := range backends {
		results[i] = make(chan result, 1)
		tool := b.tool
		if !haveTool(tool) {
			if b.backend == "nft" && haveTool("iptables-save") {
				tool = "iptables-save"
			} else {
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
		if !haveTool("nft") {
			errf("nft not found in PATH: table %s %s not read", fam, name)
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
