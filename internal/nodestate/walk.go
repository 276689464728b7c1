package nodestate

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
)

// WalkNAT follows p through the NAT rules of the snapshot the way the kernel would: PREROUTING (or
// OUTPUT when p.Local) of the iptables nat table, through KUBE-SERVICES / KUBE-SVC / KUBE-SEP /
// KUBE-NODEPORTS to DNAT, then POSTROUTING for masquerade; then the nftables nat base chains that
// iptables-nft does not own (kube-proxy's nftables mode). When nothing DNATs the packet, it looks
// for kube-proxy's "has no endpoints" REJECT in the filter table. It never returns nil.
//
// A rule whose matches cannot be evaluated (an unknown module, an unknown source address, a set
// that was not read) is listed in Unevaluable; the walk follows both outcomes and marks what it
// finds assuming the rule matched as Uncertain. WalkNAT does not change the snapshot's data and is
// safe to call from several goroutines (chains are compiled and indexed once, on first use).
func (s *Snapshot) WalkNAT(p Packet) *NATWalk {
	w := &NATWalk{Packet: p}
	if s == nil {
		return w
	}
	if p.Proto == "" {
		p.Proto = "tcp"
		w.Packet.Proto = "tcp"
	}
	if p.Dst.Is6() && !p.Dst.Is4In6() {
		w.Notes = append(w.Notes, "IPv6 destination: the walker follows IPv4 NAT only (ip6tables and nftables ip6 tables are not walked)")
		return w
	}
	p.Dst, p.Src = p.Dst.Unmap(), p.Src.Unmap()
	if ipt := s.Iptables; ipt != nil && ipt.Tables["nat"] != nil && ipt.Rules > 0 {
		w.Backend = "iptables-" + ipt.Backend
		if ipt.Other != nil {
			w.Notes = append(w.Notes, fmt.Sprintf("both iptables backends hold rules (%s: %d, %s: %d): the kernel runs both; only iptables-%s was walked",
				ipt.Backend, ipt.Rules, ipt.Other.Backend, ipt.Other.Rules, ipt.Backend))
		}
		iw := &iptWalker{s: s, w: w, ipt: ipt, ix: ipt.index(), budget: maxSteps}
		iw.walk(p)
	}
	if !w.Matched && s.Nft != nil {
		walkNft(s, w, p)
	}
	if !w.Matched && s.Iptables != nil {
		iw := &iptWalker{s: s, w: w, ipt: s.Iptables, ix: s.Iptables.index(), budget: maxSteps}
		iw.findReject(p)
	}
	finishWalk(w)
	return w
}

// maxSteps bounds one walk (branches multiply with every statistic or unevaluable rule).
const maxSteps = 20000

// maxDepth bounds jumps (a loop in user chains would otherwise never end).
const maxDepth = 64

// pstate is one branch of the walk.
type pstate struct {
	pkt       Packet
	mark      uint32
	prob      float64
	uncertain bool
	depth     int
	hook      string // PREROUTING, OUTPUT, POSTROUTING
	outIface  string
}

// outcome is how a chain (or a branch of it) ended.
type outcome struct {
	st       pstate
	terminal bool // a verdict ended the table traversal (DNAT, ACCEPT, DROP, MASQUERADE…)
	dnat     netip.AddrPort
	dnatVia  string
	masq     bool
	reject   string
}

type iptWalker struct {
	s      *Snapshot
	w      *NATWalk
	ipt    *Iptables
	ix     *iptIndex
	table  string
	budget int
	noted  map[string]bool
}

func (iw *iptWalker) walk(p Packet) {
	iw.table = "nat"
	hook := "PREROUTING"
	if p.Local {
		hook = "OUTPUT"
	}
	st := pstate{pkt: p, mark: p.Mark, prob: 1, hook: hook}
	outs := iw.runBuiltin(hook, st)
	for _, o := range outs {
		post := o.st
		post.depth = 0
		post.hook = "POSTROUTING"
		if o.dnat.IsValid() {
			post.pkt.Dst = o.dnat.Addr()
			post.pkt.DstPort = o.dnat.Port()
			iw.w.Matched = true
			iw.addEndpoint(Endpoint{Addr: o.dnat, Probability: o.st.prob, Chain: o.dnatVia, Uncertain: o.st.uncertain})
		}
		post.outIface = iw.s.outIface(post.pkt.Dst)
		for _, po := range iw.runBuiltin("POSTROUTING", post) {
			if po.masq {
				if po.st.uncertain {
					iw.note("masquerade depends on a rule that cannot be evaluated")
				} else {
					iw.w.Masquerade = true
				}
			}
		}
	}
}

// findReject looks for kube-proxy's REJECT / DROP of a service without endpoints in the filter table.
func (iw *iptWalker) findReject(p Packet) {
	iw.table = "filter"
	for _, name := range []string{"KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "KUBE-PROXY-FIREWALL"} {
		if iw.ipt.Chain("filter", name) == nil {
			continue
		}
		st := pstate{pkt: p, mark: p.Mark, prob: 1, hook: "FILTER"}
		for _, o := range iw.run(name, st, 0) {
			if o.reject != "" && iw.w.Rejected == "" {
				iw.w.Rejected = o.reject
			}
		}
		if iw.w.Rejected != "" {
			return
		}
	}
}

func (iw *iptWalker) runBuiltin(chain string, st pstate) []outcome {
	if iw.ipt.Chain(iw.table, chain) == nil {
		return []outcome{{st: st}}
	}
	return iw.run(chain, st, 0)
}

func (iw *iptWalker) note(msg string) {
	if iw.noted == nil {
		iw.noted = map[string]bool{}
	}
	if !iw.noted[msg] {
		iw.noted[msg] = true
		iw.w.Notes = append(iw.w.Notes, msg)
	}
}

func (iw *iptWalker) addEndpoint(e Endpoint) {
	for i := range iw.w.Endpoints {
		x := &iw.w.Endpoints[i]
		if x.Addr == e.Addr && x.Chain == e.Chain && x.Uncertain == e.Uncertain {
			x.Probability += e.Probability
			return
		}
	}
	iw.w.Endpoints = append(iw.w.Endpoints, e)
}

func (iw *iptWalker) step(st pstate, chain string, r *IptRule, verdict string) {
	if iw.budget <= 0 {
		return
	}
	iw.budget--
	if iw.budget == 0 {
		iw.note(fmt.Sprintf("walk stopped after %d steps", maxSteps))
	}
	raw := r.Raw
	iw.w.Steps = append(iw.w.Steps, NATStep{Table: iw.table, Chain: chain, RuleNum: r.Num, Rule: raw,
		Verdict: verdict, Probability: st.prob, Depth: st.depth, Uncertain: st.uncertain})
}

// run evaluates chain from its first rule for st and returns every way it can end.
func (iw *iptWalker) run(chain string, st pstate, from int) []outcome {
	c := iw.ipt.Chain(iw.table, chain)
	if c == nil {
		return []outcome{{st: st}}
	}
	cc := iw.ix.get(c)
	cands := cc.candidates(st.pkt.Dst)
	var outs []outcome
	cur := []pstate{st}
	for _, i := range cands {
		if i < from || len(cur) == 0 {
			continue
		}
		cr := &cc.rules[i]
		var next []pstate
		for _, s := range cur {
			if iw.budget <= 0 {
				outs = append(outs, outcome{st: s, terminal: true})
				continue
			}
			kind, p, why := iw.evalRule(cr, s)
			switch kind {
			case mNo:
				next = append(next, s)
				continue
			case mUnknown:
				msg := fmt.Sprintf("cannot evaluate rule %d of %s/%s (%s): %s", cr.r.Num, iw.table, chain, why, cr.r.Raw)
				iw.unevaluable(msg)
				next = append(next, s) // the world where it does not match
				m := s
				m.uncertain = true
				iw.step(m, chain, cr.r, "cannot evaluate ("+why+"): following both outcomes")
				o, cont := iw.apply(chain, cr, m)
				outs = append(outs, o...)
				next = append(next, cont...)
			case mProb:
				m, n := s, s
				m.prob *= p
				n.prob *= 1 - p
				o, cont := iw.applyStep(chain, cr, m, fmt.Sprintf("probability %.5f → ", p))
				outs = append(outs, o...)
				next = append(next, cont...)
				if n.prob > 1e-12 {
					next = append(next, n)
				}
			case mYes:
				o, cont := iw.applyStep(chain, cr, s, "")
				outs = append(outs, o...)
				next = append(next, cont...)
			}
		}
		cur = next
	}
	// Falling off the end: a built-in chain applies its policy (ACCEPT: no NAT), a user chain returns.
	for _, s := range cur {
		outs = append(outs, outcome{st: s, terminal: c.Policy != ""})
	}
	return outs
}

func (iw *iptWalker) unevaluable(msg string) {
	for _, u := range iw.w.Unevaluable {
		if u == msg {
			return
		}
	}
	iw.w.Unevaluable = append(iw.w.Unevaluable, msg)
}

func (iw *iptWalker) applyStep(chain string, cr *crule, st pstate, prefix string) ([]outcome, []pstate) {
	iw.step(st, chain, cr.r, prefix+verdictText(cr.r))
	return iw.apply(chain, cr, st)
}

func verdictText(r *IptRule) string {
	t := r.Target
	switch {
	case t == "":
		return "no target (counts only)"
	case t == "DNAT":
		return "DNAT " + r.TargetArg("--to-destination")
	case t == "MARK":
		return "MARK " + strings.Join(r.TargetArgs, " ")
	case r.Goto:
		return "goto " + t
	case isVerdictTarget(t):
		return t
	}
	return "jump " + t
}

func isVerdictTarget(t string) bool {
	switch t {
	case "ACCEPT", "DROP", "REJECT", "RETURN", "DNAT", "SNAT", "MASQUERADE", "REDIRECT", "MARK", "LOG", "CONNMARK", "NOTRACK", "CT":
		return true
	}
	return false
}

// apply executes a matched rule's target: it returns the outcomes that leave the chain and the
// states that continue with the next rule.
func (iw *iptWalker) apply(chain string, cr *crule, st pstate) ([]outcome, []pstate) {
	r := cr.r
	iw.noteService(r)
	switch r.Target {
	case "", "LOG", "NFLOG", "TRACE", "CONNMARK", "NOTRACK", "CT", "AUDIT":
		return nil, []pstate{st}
	case "ACCEPT":
		return []outcome{{st: st, terminal: true}}, nil
	case "RETURN":
		return []outcome{{st: st}}, nil
	case "DROP", "REJECT":
		return []outcome{{st: st, terminal: true, reject: r.Raw}}, nil
	case "MARK":
		st.mark = applyMark(st.mark, r.TargetArgs)
		return nil, []pstate{st}
	case "MASQUERADE", "SNAT":
		return []outcome{{st: st, terminal: true, masq: true}}, nil
	case "DNAT":
		to := r.TargetArg("--to-destination")
		ap, ok := parseDNAT(to, st.pkt.DstPort)
		if !ok {
			iw.unevaluable(fmt.Sprintf("cannot evaluate rule %d of %s/%s (DNAT to %q): %s", r.Num, iw.table, chain, to, r.Raw))
			return []outcome{{st: st, terminal: true}}, nil
		}
		return []outcome{{st: st, terminal: true, dnat: ap, dnatVia: chain}}, nil
	case "REDIRECT":
		port := st.pkt.DstPort
		if p := parsePorts(r.TargetArg("--to-ports")); len(p) > 0 {
			port = p[0][0]
		}
		addr := iw.s.primaryAddr(st.pkt.InIface)
		return []outcome{{st: st, terminal: true, dnat: netip.AddrPortFrom(addr, port), dnatVia: chain}}, nil
	}
	if iw.ipt.Chain(iw.table, r.Target) == nil {
		iw.unevaluable(fmt.Sprintf("cannot evaluate rule %d of %s/%s (unknown target %s): %s", r.Num, iw.table, chain, r.Target, r.Raw))
		return nil, []pstate{st}
	}
	if st.depth >= maxDepth {
		iw.note(fmt.Sprintf("jump depth %d reached at %s: a loop in user chains?", maxDepth, r.Target))
		return []outcome{{st: st, terminal: true}}, nil
	}
	sub := st
	sub.depth++
	var outs []outcome
	var cont []pstate
	for _, o := range iw.run(r.Target, sub, 0) {
		o.st.depth = st.depth
		switch {
		case o.terminal:
			outs = append(outs, o)
		case r.Goto:
			// -g: RETURN from the target returns to this chain's caller.
			outs = append(outs, outcome{st: o.st})
		default:
			cont = append(cont, o.st)
		}
	}
	return outs, cont
}

// noteService records the kube-proxy service name from the comment of a rule that jumps to a
// service chain.
func (iw *iptWalker) noteService(r *IptRule) {
	if iw.w.Service != "" || r.Comment == "" {
		return
	}
	t := r.Target
	if strings.HasPrefix(t, "KUBE-SVC-") || strings.HasPrefix(t, "KUBE-EXT-") || strings.HasPrefix(t, "KUBE-SVL-") ||
		strings.HasPrefix(t, "KUBE-FW-") || strings.HasPrefix(t, "KUBE-XLB-") || t == "REJECT" || t == "DROP" {
		iw.w.Service = serviceFromComment(r.Comment)
	}
}

// serviceFromComment extracts "ns/name:port" from kube-proxy's comments.
func serviceFromComment(c string) string {
	for _, suf := range []string{" cluster IP", " external IP", " loadbalancer IP", " has no endpoints", " -> ", " has no local endpoints", " node port"} {
		if i := strings.Index(c, suf); i > 0 {
			return c[:i]
		}
	}
	if strings.Contains(c, "/") && !strings.Contains(c, " ") {
		return c
	}
	return ""
}

func applyMark(mark uint32, args []string) uint32 {
	for i := 0; i+1 < len(args); i++ {
		v := parseMark(args[i+1])
		switch args[i] {
		case "--set-xmark":
			return (mark &^ v[1]) ^ v[0]
		case "--set-mark":
			return (mark &^ v[1]) | v[0]
		case "--or-mark":
			return mark | v[0]
		case "--and-mark":
			return mark & v[0]
		case "--xor-mark":
			return mark ^ v[0]
		}
	}
	return mark
}

// parseDNAT parses "10.244.1.3:80", "10.244.1.3", "[fd00::1]:80"; the port defaults to the
// packet's. Ranges ("a-b:p") take their first address.
func parseDNAT(s string, port uint16) (netip.AddrPort, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap, true
	}
	host, p, hasPort := strings.Cut(s, ":")
	if strings.HasPrefix(s, "[") {
		host, p, hasPort = strings.Cut(strings.TrimPrefix(s, "["), "]:")
		host = strings.TrimSuffix(host, "]")
	}
	host, _, _ = strings.Cut(host, "-")
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.AddrPort{}, false
	}
	if hasPort {
		ps := parsePorts(strings.Split(p, "-")[0])
		if len(ps) == 0 {
			return netip.AddrPort{}, false
		}
		port = ps[0][0]
	}
	return netip.AddrPortFrom(a, port), true
}

// finishWalk sorts endpoints and drops uncertain duplicates of certain ones.
func finishWalk(w *NATWalk) {
	certain := map[netip.AddrPort]bool{}
	for _, e := range w.Endpoints {
		if !e.Uncertain {
			certain[e.Addr] = true
		}
	}
	eps := w.Endpoints[:0]
	for _, e := range w.Endpoints {
		if e.Uncertain && certain[e.Addr] {
			continue
		}
		eps = append(eps, e)
	}
	w.Endpoints = eps
	sort.SliceStable(w.Endpoints, func(i, j int) bool {
		a, b := w.Endpoints[i], w.Endpoints[j]
		if a.Uncertain != b.Uncertain {
			return !a.Uncertain
		}
		return a.Addr.Addr().Less(b.Addr.Addr()) || (a.Addr.Addr() == b.Addr.Addr() && a.Addr.Port() < b.Addr.Port())
	})
	if len(w.Endpoints) == 0 {
		w.Matched = false
	}
}
