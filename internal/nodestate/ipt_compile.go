package nodestate

import (
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// matchKind is the answer of one condition for one packet.
type matchKind int

const (
	mNo matchKind = iota
	mYes
	mProb    // matches with a probability (statistic)
	mUnknown // cannot be evaluated
)

// cond is a compiled Match.
type cond struct {
	m      Match
	prefix netip.Prefix // -s / -d
	ports  [][2]uint16  // --dport, --sport, multiport
	prob   float64      // statistic
	mark   [2]uint32    // value, mask
	list   []string     // ctstate, addrtype types
}

type crule struct {
	r     *IptRule
	conds []cond
	dst   netip.Addr // a positive -d /32 (or /128), for the chain index
}

type cchain struct {
	c     *Chain
	rules []crule
	// byDst indexes big chains: the rules whose only destination is one address, by that address;
	// rest are the rule positions without such a match. Both lists are in rule order.
	byDst map[netip.Addr][]int
	rest  []int
}

// iptIndex is the compiled form of one Iptables, built once per Snapshot on the first walk.
type iptIndex struct {
	mu     sync.Mutex
	chains map[*Chain]*cchain
}

func (ix *iptIndex) get(c *Chain) *cchain {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if cc := ix.chains[c]; cc != nil {
		return cc
	}
	cc := compileChain(c)
	ix.chains[c] = cc
	return cc
}

const indexThreshold = 32

func compileChain(c *Chain) *cchain {
	cc := &cchain{c: c, rules: make([]crule, len(c.Rules))}
	for i := range c.Rules {
		cc.rules[i] = compileRule(&c.Rules[i])
	}
	if len(c.Rules) >= indexThreshold {
		cc.byDst = map[netip.Addr][]int{}
		for i, r := range cc.rules {
			if r.dst.IsValid() {
				cc.byDst[r.dst] = append(cc.byDst[r.dst], i)
			} else {
				cc.rest = append(cc.rest, i)
			}
		}
	}
	return cc
}

// candidates lists, in order, the rule positions that may match a packet to dst.
func (cc *cchain) candidates(dst netip.Addr) []int {
	if cc.byDst == nil {
		idx := make([]int, len(cc.rules))
		for i := range idx {
			idx[i] = i
		}
		return idx
	}
	a, b := cc.byDst[dst], cc.rest
	out := make([]int, 0, len(a)+len(b))
	out = append(out, a...)
	out = append(out, b...)
	sort.Ints(out)
	return out
}

func compileRule(r *IptRule) crule {
	cr := crule{r: r, conds: make([]cond, 0, len(r.Matches))}
	for _, m := range r.Matches {
		c := cond{m: m}
		arg := ""
		if len(m.Args) > 0 {
			arg = m.Args[0]
		}
		switch {
		case m.Module == "" && (m.Option == "-s" || m.Option == "-d"):
			c.prefix = parsePrefix(arg)
			if m.Option == "-d" && !m.Negate && c.prefix.IsValid() && c.prefix.IsSingleIP() {
				cr.dst = c.prefix.Addr()
			}
		case m.Option == "--dport" || m.Option == "--sport" || m.Option == "--destination-port" ||
			m.Option == "--source-port" || m.Option == "--dports" || m.Option == "--sports" ||
			m.Option == "--ports" || m.Option == "--destination-ports" || m.Option == "--source-ports":
			c.ports = parsePorts(arg)
		case m.Module == "statistic" && m.Option == "--probability":
			c.prob, _ = strconv.ParseFloat(arg, 64)
		case m.Module == "statistic" && m.Option == "--every":
			if n, err := strconv.Atoi(arg); err == nil && n > 0 {
				c.prob = 1 / float64(n)
			}
		case m.Module == "mark" && m.Option == "--mark", m.Module == "connmark" && m.Option == "--mark":
			c.mark = parseMark(arg)
		case m.Option == "--ctstate" || m.Option == "--state" || m.Option == "--dst-type" || m.Option == "--src-type":
			c.list = strings.Split(arg, ",")
		}
		cr.conds = append(cr.conds, c)
	}
	return cr
}

func parsePrefix(s string) netip.Prefix {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked()
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a, a.BitLen())
	}
	return netip.Prefix{}
}

// parsePorts parses "80", "80:90", "80,443,1000:2000" (multiport); nil on error.
func parsePorts(s string) [][2]uint16 {
	var out [][2]uint16
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, ":")
		a, err := strconv.ParseUint(lo, 10, 16)
		if err != nil {
			return nil
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(hi, 10, 16); err != nil {
				return nil
			}
		}
		out = append(out, [2]uint16{uint16(a), uint16(b)})
	}
	return out
}

// parseMark parses "0x4000/0x4000" or "0x4000" (mask all ones).
func parseMark(s string) [2]uint32 {
	v, m, hasMask := strings.Cut(s, "/")
	val, _ := parseUint(v)
	mask := uint64(0xffffffff)
	if hasMask {
		mask, _ = parseUint(m)
	}
	return [2]uint32{uint32(val), uint32(mask)}
}
