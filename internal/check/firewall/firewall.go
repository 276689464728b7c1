// Package firewall is the check "firewall": which DROP or REJECT rule on the path eats the client's
// packets. It reads the iptables counters of every namespace on the path (the client pod, the
// nodes, the target pods), re-sends the failing probe a few times, reads them again, and names the
// rules whose counters grew by the probe's packets — table, chain, position, rule text and comment.
// Read-only: it only reads counters, and the probe traffic is the symptom's own.
package firewall

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/netdoctor/netdoctor/internal/check"
	"github.com/netdoctor/netdoctor/internal/diag"
	"github.com/netdoctor/netdoctor/internal/nodestate"
)

// Name is the check's stable name.
const Name = "firewall"

// Resends is how many times the failing probe is sent again between the two counter readings.
const Resends = 4

// New returns the check.
func New() check.Check { return check.Func(Name, run) }

type place = check.Place

func run(ctx context.Context, env *check.Env) ([]diag.Finding, error) {
	if env.Views == nil || env.Probe == nil || env.Symptom == diag.KindHealthy {
		return nil, nil
	}
	resend := env.Resender(Resends)
	if resend == nil {
		return nil, nil
	}
	places := env.PlacesOnPath()
	before := read(ctx, env, places)
	resend(ctx)
	after := read(ctx, env, places)

	ports := vxlanPorts(ctx, env)
	var out []diag.Finding
	for i, p := range places {
		if before[i] == nil || after[i] == nil {
			continue
		}
		for _, hit := range grown(before[i], after[i]) {
			f := finding(env, p, hit, ports)
			out = append(out, f)
		}
	}
	return out, nil
}

// vxlanPorts are the UDP ports of the VXLAN devices on the path's nodes (the overlay's own traffic).
func vxlanPorts(ctx context.Context, env *check.Env) map[int]bool {
	ports := map[int]bool{}
	for _, n := range env.NodesOnPath() {
		s, err := env.Views.Node(ctx, n)
		if err != nil || s == nil {
			continue
		}
		for _, l := range s.Links {
			if l.VXLAN != nil && l.VXLAN.Port != 0 {
				ports[l.VXLAN.Port] = true
			}
		}
	}
	return ports
}

// overlayPort returns the VXLAN port a rule matches as destination, 0 when none.
func overlayPort(r nodestate.IptRule, ports map[int]bool) int {
	for _, m := range r.Matches {
		if m.Option != "--dport" && m.Option != "--dports" || m.Negate {
			continue
		}
		for _, a := range m.Args {
			for _, p := range strings.Split(a, ",") {
				if n, err := strconv.Atoi(p); err == nil && ports[n] {
					return n
				}
			}
		}
	}
	return 0
}

// hit is a rule whose counter grew.
type hit struct {
	table, chain string
	rule         nodestate.IptRule
	delta        uint64
}

// grown lists the DROP/REJECT rules (and random-drop rules) of b whose packet counters exceed a's.
func grown(a, b *nodestate.Iptables) []hit {
	var out []hit
	for tname, t := range b.Tables {
		for cname, c := range t.Chains {
			ac := a.Chain(tname, cname)
			for i, r := range c.Rules {
				if r.Target != "DROP" && r.Target != "REJECT" {
					continue
				}
				var prev uint64
				if ac != nil && i < len(ac.Rules) && ac.Rules[i].Raw == r.Raw {
					prev = ac.Rules[i].Packets
				}
				if r.Packets > prev {
					out = append(out, hit{table: tname, chain: cname, rule: r, delta: r.Packets - prev})
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].delta > out[j].delta })
	return out
}

func finding(env *check.Env, p place, h hit, ports map[int]bool) diag.Finding {
	kind := env.Symptom
	overlay := overlayPort(h.rule, ports)
	if overlay != 0 {
		kind = diag.KindCNIKubeProxy
	}
	random := strings.Contains(h.rule.Raw, "statistic")
	verb := "drops"
	if h.rule.Target == "REJECT" {
		verb = "rejects"
	}
	title := fmt.Sprintf("%s %s the client's packets: %s chain %s rule %d", p.Label, verb, h.table, h.chain, h.rule.Num)
	if random {
		title = fmt.Sprintf("%s drops a random share of packets: %s chain %s rule %d", p.Label, h.table, h.chain, h.rule.Num)
	}
	hop := p.Hop
	hop.Where = fmt.Sprintf("%s %s/%s rule %d", p.Label, h.table, h.chain, h.rule.Num)
	f := check.Finding(Name, kind, diag.SeverityCritical, hop, title)
	check.Evidencef(f, "%s: %s", p.Label, h.rule.Raw)
	if h.rule.Comment != "" {
		check.Evidencef(f, "rule comment: %q", h.rule.Comment)
	}
	check.Evidencef(f, "its packet counter grew by %d while the failing probe was re-sent %d times", h.delta, Resends)
	switch {
	case overlay != 0:
		f.Title = fmt.Sprintf("%s %s the VXLAN overlay (UDP %d): %s chain %s rule %d", p.Label, verb, overlay, h.table, h.chain, h.rule.Num)
		f.Cause = fmt.Sprintf("A firewall rule in %s's %s chain drops the encapsulated pod traffic itself (VXLAN, UDP port %d), so no pod on another node can reach pods there.", p.Label, h.chain, overlay)
	case random:
		f.Cause = fmt.Sprintf("A rule in %s's %s chain drops packets at random (-m statistic), so some connections and queries fail and others work.", p.Label, h.chain)
	case h.rule.Target == "REJECT":
		f.Cause = fmt.Sprintf("A firewall rule in %s's %s chain rejects the flow, so the client gets an error (%s) instead of an answer.", p.Label, h.chain, strings.Join(h.rule.TargetArgs, " "))
	default:
		f.Cause = fmt.Sprintf("A firewall rule in %s's %s chain silently drops the flow, so the client times out.", p.Label, h.chain)
	}
	f.Fix = fmt.Sprintf("Remove or narrow the rule in %s (iptables -t %s -D %s %d), or find what installs it (a host firewall, a NetworkPolicy agent, a security baseline) and change it there.", p.Label, h.table, h.chain, h.rule.Num)
	return *f
}

// read reads the counters of every place at once.
func read(ctx context.Context, env *check.Env, places []place) []*nodestate.Iptables {
	out := make([]*nodestate.Iptables, len(places))
	var wg sync.WaitGroup
	for i, p := range places {
		wg.Add(1)
		go func(i int, p place) {
			defer wg.Done()
			ipt, err := env.Views.Rules(ctx, p.At)
			if err == nil {
				out[i] = ipt
			}
		}(i, p)
	}
	wg.Wait()
	return out
}
