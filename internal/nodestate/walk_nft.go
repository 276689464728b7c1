package nodestate

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
)

// walkNft follows p through the nat base chains of nftables tables that iptables-nft does not own
// (kube-proxy's nftables mode and hand-written tables), by hook and priority.
func walkNft(s *Snapshot, w *NATWalk, p Packet) {
	hook := "prerouting"
	if p.Local {
		hook = "output"
	}
	nw := &nftWalker{s: s, w: w, budget: maxSteps}
	chains := nw.baseChains("nat", hook)
	if len(chains) == 0 {
		return
	}
	if w.Backend == "" {
		w.Backend = "nftables"
	} else {
		w.Backend += "+nftables"
	}
	st := pstate{pkt: p, mark: p.Mark, prob: 1, hook: strings.ToUpper(hook)}
	var outs []outcome
	cur := []pstate{st}
	for _, bc := range chains {
		var next []pstate
		for _, s := range cur {
			for _, o := range nw.run(bc.t, bc.c, s) {
				if o.dnat.IsValid() || o.reject != "" {
					outs = append(outs, o)
				} else {
					next = append(next, o.st) // accepted or fell through: the next base chain sees it
				}
			}
		}
		cur = next
	}
	for _, s := range cur {
		outs = append(outs, outcome{st: s})
	}
	for _, o := range outs {
		post := o.st
		post.depth = 0
		post.hook = "POSTROUTING"
		if o.dnat.IsValid() {
			w.Matched = true
			nw.addEndpoint(Endpoint{Addr: o.dnat, Probability: o.st.prob, Chain: o.dnatVia, Uncertain: o.st.uncertain})
			post.pkt.Dst, post.pkt.DstPort = o.dnat.Addr(), o.dnat.Port()
		}
		post.outIface = s.outIface(post.pkt.Dst)
		for _, bc := range nw.baseChains("nat", "postrouting") {
			for _, po := range nw.run(bc.t, bc.c, post) {
				if po.masq && !po.st.uncertain {
					w.Masquerade = true
				}
			}
		}
	}
	if !w.Matched {
		fhook := "forward"
		if p.Local {
			fhook = "output"
		} else if s.IsLocal(p.Dst) {
			fhook = "input"
		}
		for _, bc := range nw.baseChains("filter", fhook) {
			for _, o := range nw.run(bc.t, bc.c, st) {
				if o.reject != "" && w.Rejected == "" {
					w.Rejected = o.reject
				}
			}
		}
	}
}

type tableChain struct {
	t *NftTable
	c *NftChain
}

type nftWalker struct {
	s      *Snapshot
	w      *NATWalk
	budget int
}

func (nw *nftWalker) addEndpoint(e Endpoint) {
	(&iptWalker{w: nw.w}).addEndpoint(e)
}

// baseChains lists the base chains of type typ on hook in IPv4-capable tables not owned by
// iptables-nft, by priority.
func (nw *nftWalker) baseChains(typ, hook string) []tableChain {
	var out []tableChain
	for _, t := range nw.s.Nft.Tables {
		if t.IptablesNft || (t.Family != "ip" && t.Family != "inet") {
			continue
		}
		for _, c := range t.Chains {
			if c.Type == typ && c.Hook == hook {
				out = append(out, tableChain{t, c})
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].c.Priority < out[j].c.Priority })
	return out
}

// nalt is one alternative while evaluating a rule's expressions.
type nalt struct {
	st      pstate
	verdict string // "", "nomatch", "jump", "goto", "return", "accept", "drop", "reject", "dnat", "masq"
	target  string
	dnat    netip.AddrPort
	done    bool
}

func (nw *nftWalker) tname(t *NftTable) string { return t.Family + " " + t.Name }

func (nw *nftWalker) run(t *NftTable, c *NftChain, st pstate) []outcome {
	var outs []outcome
	cur := []pstate{st}
	for _, r := range c.Rules {
		if len(cur) == 0 {
			break
		}
		var next []pstate
		for _, s := range cur {
			if nw.budget <= 0 {
				outs = append(outs, outcome{st: s, terminal: true})
				continue
			}
			for _, a := range nw.evalRule(t, c, r, s) {
				if a.verdict == "nomatch" {
					next = append(next, a.st)
					continue
				}
				nw.budget--
				nw.step(t, c, r, a)
				o, cont := nw.apply(t, c, r, a)
				outs = append(outs, o...)
				next = append(next, cont...)
			}
		}
		cur = next
	}
	for _, s := range cur {
		if c.Hook != "" && c.Policy == "drop" {
			outs = append(outs, outcome{st: s, terminal: true, reject: "policy drop of " + nw.tname(t) + " " + c.Name})
			continue
		}
		outs = append(outs, outcome{st: s, terminal: c.Hook != ""})
	}
	return outs
}

func (nw *nftWalker) step(t *NftTable, c *NftChain, r *NftRule, a nalt) {
	v := a.verdict
	switch v {
	case "jump", "goto":
		v += " " + a.target
	case "dnat":
		v = "DNAT " + a.dnat.String()
	case "masq":
		v = "MASQUERADE"
	case "":
		v = "continue"
	}
	nw.w.Steps = append(nw.w.Steps, NATStep{Table: nw.tname(t), Chain: c.Name, RuleNum: r.Handle, Rule: r.Text,
		Verdict: v, Probability: a.st.prob, Depth: a.st.depth, Uncertain: a.st.uncertain})
}

func (nw *nftWalker) apply(t *NftTable, c *NftChain, r *NftRule, a nalt) ([]outcome, []pstate) {
	st := a.st
	switch a.verdict {
	case "", "continue":
		return nil, []pstate{st}
	case "return":
		return []outcome{{st: st}}, nil
	case "accept":
		return []outcome{{st: st, terminal: true}}, nil
	case "drop", "reject":
		return []outcome{{st: st, terminal: true, reject: nw.tname(t) + " " + c.Name + ": " + r.Text}}, nil
	case "dnat":
		return []outcome{{st: st, terminal: true, dnat: a.dnat, dnatVia: c.Name}}, nil
	case "masq":
		return []outcome{{st: st, terminal: true, masq: true}}, nil
	}
	// jump / goto
	if nw.w.Service == "" {
		nw.w.Service = serviceFromNftChain(a.target)
	}
	sub := t.Chain(a.target)
	if sub == nil {
		nw.unevaluable(fmt.Sprintf("cannot evaluate rule %d of %s/%s (no chain %s): %s", r.Handle, nw.tname(t), c.Name, a.target, r.Text))
		return nil, []pstate{st}
	}
	if st.depth >= maxDepth {
		return []outcome{{st: st, terminal: true}}, nil
	}
	in := st
	in.depth++
	var outs []outcome
	var cont []pstate
	for _, o := range nw.run(t, sub, in) {
		o.st.depth = st.depth
		switch {
		case o.terminal:
			outs = append(outs, o)
		case a.verdict == "goto":
			outs = append(outs, outcome{st: o.st})
		default:
			cont = append(cont, o.st)
		}
	}
	return outs, cont
}

// serviceFromNftChain turns "service-ULMVA6XW-ns1/svc1/tcp/p80" into "ns1/svc1:p80".
func serviceFromNftChain(name string) string {
	for _, p := range []string{"service-", "external-"} {
		if !strings.HasPrefix(name, p) {
			continue
		}
		rest := name[len(p):]
		if i := strings.IndexByte(rest, '-'); i >= 0 {
			f := strings.Split(rest[i+1:], "/")
			if len(f) == 4 {
				return f[0] + "/" + f[1] + ":" + f[3]
			}
		}
	}
	return ""
}

func (nw *nftWalker) unevaluable(msg string) {
	(&iptWalker{w: nw.w}).unevaluable(msg)
}

// evalRule evaluates a rule's expressions in order for st and returns the alternatives.
func (nw *nftWalker) evalRule(t *NftTable, c *NftChain, r *NftRule, st pstate) []nalt {
	alts := []nalt{{st: st}}
	for _, raw := range r.Expr {
		var next []nalt
		for _, a := range alts {
			if a.done {
				next = append(next, a)
				continue
			}
			res, why := nw.evalStmt(t, raw, a)
			if why != "" {
				nw.unevaluable(fmt.Sprintf("cannot evaluate rule %d of %s/%s (%s): %s", r.Handle, nw.tname(t), c.Name, why, r.Text))
				no := a
				no.verdict, no.done = "nomatch", true
				yes := a
				yes.st.uncertain = true
				next = append(next, no, yes)
				continue
			}
			next = append(next, res...)
		}
		alts = next
	}
	return alts
}
