//go:build linux

package nodestate

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"

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

// readIptables reads both iptables backends and keeps the one with rules as the main one; when
// both have rules the other one goes to Other.
func readIptables(ctx context.Context, ns *netns.NS, opt Options, errf func(string, ...any)) *Iptables {
	var got []*Iptables
	for _, b := range []struct{ backend, tool string }{{"nft", "iptables-nft-save"}, {"legacy", "iptables-legacy-save"}} {
		tool := b.tool
		if !haveTool(tool) {
			if b.backend == "nft" && haveTool("iptables-save") {
				tool = "iptables-save"
			} else {
				continue
			}
		}
		out, err := runIn(ctx, ns, opt.CommandTimeout, tool, "-c")
		if err != nil {
			errf("%v", err)
			continue
		}
		ipt, err := ParseIptablesSave(out)
		if err != nil {
			errf("%s: %v", tool, err)
			continue
		}
		ipt.Backend = b.backend
		got = append(got, ipt)
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

func readNft(ctx context.Context, ns *netns.NS, opt Options, errf func(string, ...any)) *NftRuleset {
	if !haveTool("nft") {
		return nil
	}
	js, err := runIn(ctx, ns, opt.CommandTimeout, "nft", "-j", "list", "ruleset")
	if err != nil {
		errf("%v", err)
		return nil
	}
	rs, err := ParseNftJSON(js)
	if err != nil {
		errf("nft: %v", err)
		return nil
	}
	if txt, err := runIn(ctx, ns, opt.CommandTimeout, "nft", "list", "ruleset"); err == nil {
		rs.Text = string(txt)
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

// markIptablesNft flags the nft tables that iptables-nft owns.
func markIptablesNft(n *NftRuleset, ipt *Iptables) {
	for _, t := range n.Tables {
		if t.Family != "ip" && t.Family != "ip6" {
			continue
		}
		if ipt.Backend == "nft" && ipt.Tables[t.Name] != nil {
			t.IptablesNft = true
		}
	}
}
