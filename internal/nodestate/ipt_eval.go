package nodestate

import (
	"net/netip"
	"strconv"
	"strings"
)

// evalRule decides whether a compiled rule matches st: mNo, mYes, mProb with the probability, or
// mUnknown with the reason.
func (iw *iptWalker) evalRule(cr *crule, st pstate) (matchKind, float64, string) {
	res, prob := mYes, 1.0
	for i := range cr.conds {
		k, p, why := iw.evalCond(&cr.conds[i], st)
		switch k {
		case mNo:
			return mNo, 0, ""
		case mUnknown:
			// A later condition may still rule the packet out.
			return iw.finishUnknown(cr, st, i, why)
		case mProb:
			if res == mYes {
				res = mProb
			}
			prob *= p
		}
	}
	return res, prob, ""
}

// finishUnknown checks the conditions after an unevaluable one: if one of them is certainly false
// the rule does not match; otherwise it stays unknown.
func (iw *iptWalker) finishUnknown(cr *crule, st pstate, from int, why string) (matchKind, float64, string) {
	for i := from + 1; i < len(cr.conds); i++ {
		if k, _, _ := iw.evalCond(&cr.conds[i], st); k == mNo {
			return mNo, 0, ""
		}
	}
	return mUnknown, 1, why
}

func boolKind(b, negate bool) matchKind {
	if b != negate {
		return mYes
	}
	return mNo
}

func (iw *iptWalker) evalCond(c *cond, st pstate) (matchKind, float64, string) {
	m := &c.m
	p := &st.pkt
	arg := ""
	if len(m.Args) > 0 {
		arg = m.Args[0]
	}
	if m.Module == "" {
		switch m.Option {
		case "-s", "-d":
			if !c.prefix.IsValid() {
				return mUnknown, 0, "address " + strconv.Quote(arg)
			}
			a := p.Dst
			if m.Option == "-s" {
				a = iw.s.srcOf(st)
				if !a.IsValid() {
					return mUnknown, 0, "source address unknown: give --src"
				}
			}
			return boolKind(c.prefix.Contains(a), m.Negate), 0, ""
		case "-p":
			return boolKind(protoIs(arg, p.Proto), m.Negate), 0, ""
		case "-i":
			if st.hook == "OUTPUT" || st.hook == "POSTROUTING" && p.Local {
				return boolKind(false, m.Negate), 0, ""
			}
			if p.InIface == "" {
				return mUnknown, 0, "input interface unknown: give --from-iface"
			}
			return boolKind(ifaceMatch(arg, p.InIface), m.Negate), 0, ""
		case "-o":
			if st.hook == "PREROUTING" {
				return boolKind(false, m.Negate), 0, ""
			}
			out := st.outIface
			if out == "" {
				out = iw.s.outIface(p.Dst)
			}
			if out == "" {
				return mUnknown, 0, "output interface unknown"
			}
			return boolKind(ifaceMatch(arg, out), m.Negate), 0, ""
		case "-f":
			return boolKind(false, m.Negate), 0, "" // a connection's first packet is not a fragment
		}
		return mUnknown, 0, m.Option
	}
	switch m.Module {
	case "comment":
		return mYes, 0, ""
	case "tcp", "udp", "sctp", "multiport":
		switch m.Option {
		case "--dport", "--destination-port", "--dports", "--destination-ports":
			if c.ports == nil {
				return mUnknown, 0, "port " + strconv.Quote(arg)
			}
			return boolKind(inPorts(c.ports, p.DstPort), m.Negate), 0, ""
		case "--sport", "--source-port", "--sports", "--source-ports":
			if c.ports == nil {
				return mUnknown, 0, "port " + strconv.Quote(arg)
			}
			if p.SrcPort == 0 {
				return mUnknown, 0, "source port unknown"
			}
			return boolKind(inPorts(c.ports, p.SrcPort), m.Negate), 0, ""
		case "--ports":
			if c.ports == nil {
				return mUnknown, 0, "port " + strconv.Quote(arg)
			}
			return boolKind(inPorts(c.ports, p.DstPort) || (p.SrcPort != 0 && inPorts(c.ports, p.SrcPort)), m.Negate), 0, ""
		case "--syn":
			return boolKind(p.Proto == "tcp", m.Negate), 0, ""
		case "--tcp-flags":
			if len(m.Args) != 2 {
				return mUnknown, 0, "--tcp-flags"
			}
			// The first packet of a connection carries SYN only.
			mask, comp := strings.Split(m.Args[0], ","), strings.Split(m.Args[1], ",")
			want := map[string]bool{}
			for _, f := range comp {
				want[f] = true
			}
			ok := true
			for _, f := range mask {
				has := f == "SYN" || f == "ALL" && want["SYN"]
				if f == "ALL" {
					ok = len(comp) == 1 && comp[0] == "SYN"
					break
				}
				if has != want[f] {
					ok = false
				}
			}
			return boolKind(ok, m.Negate), 0, ""
		}
	case "statistic":
		switch m.Option {
		case "--mode", "--packet":
			return mYes, 0, ""
		case "--probability", "--every":
			if c.prob <= 0 || c.prob > 1 {
				return mUnknown, 0, "statistic " + arg
			}
			if m.Negate {
				return mProb, 1 - c.prob, ""
			}
			return mProb, c.prob, ""
		}
	case "mark":
		if m.Option == "--mark" {
			return boolKind(st.mark&c.mark[1] == c.mark[0], m.Negate), 0, ""
		}
	case "addrtype":
		switch m.Option {
		case "--dst-type":
			return boolKind(iw.s.addrTypeIn(p.Dst, c.list), m.Negate), 0, ""
		case "--src-type":
			if p.Local {
				return boolKind(containsStr(c.list, "LOCAL"), m.Negate), 0, ""
			}
			a := iw.s.srcOf(st)
			if !a.IsValid() {
				return mUnknown, 0, "source address unknown: give --src"
			}
			return boolKind(iw.s.addrTypeIn(a, c.list), m.Negate), 0, ""
		case "--limit-iface-in", "--limit-iface-out":
			return mYes, 0, ""
		}
	case "conntrack", "state":
		if m.Option == "--ctstate" || m.Option == "--state" {
			// The first packet of a connection is NEW (and not yet DNATed in PREROUTING / OUTPUT).
			return boolKind(containsStr(c.list, "NEW"), m.Negate), 0, ""
		}
	case "set":
		if m.Option == "--match-set" && len(m.Args) >= 2 {
			return iw.evalSet(m.Args[0], m.Args[1], m.Negate, st)
		}
		if m.Option == "--return-nomatch" || m.Option == "--exist" {
			return mYes, 0, ""
		}
	case "recent":
		switch m.Option {
		case "--set", "--name", "--mask", "--rsource", "--rdest", "--seconds", "--reap", "--hitcount", "--rttl":
			return mYes, 0, "" // --set always matches (it records the source); the rest qualify --rcheck
		case "--rcheck", "--update":
			return mUnknown, 0, "-m recent " + m.Option + " (session affinity: depends on earlier connections)"
		}
	case "icmp", "icmp6":
		return boolKind(false, m.Negate), 0, "" // the walked packet is tcp/udp/sctp
	}
	return mUnknown, 0, "-m " + m.Module + " " + m.Option
}

func (iw *iptWalker) evalSet(name, dirs string, negate bool, st pstate) (matchKind, float64, string) {
	set := iw.s.IPSets[name]
	if set == nil {
		return mUnknown, 0, "ipset " + name + " not read"
	}
	d := strings.Split(dirs, ",")
	dims := strings.Split(strings.TrimPrefix(strings.TrimPrefix(set.Type, "hash:"), "bitmap:"), ",")
	var key []string
	for i, dim := range dims {
		dir := "dst"
		if i < len(d) {
			dir = d[i]
		}
		switch dim {
		case "ip", "net":
			a := st.pkt.Dst
			if dir == "src" {
				a = iw.s.srcOf(st)
				if !a.IsValid() {
					return mUnknown, 0, "source address unknown: give --src"
				}
			}
			key = append(key, a.String())
		case "port":
			port := st.pkt.DstPort
			if dir == "src" {
				if st.pkt.SrcPort == 0 {
					return mUnknown, 0, "source port unknown"
				}
				port = st.pkt.SrcPort
			}
			key = append(key, st.pkt.Proto+":"+strconv.Itoa(int(port)))
		default:
			return mUnknown, 0, "ipset type " + set.Type
		}
	}
	return boolKind(ipsetContains(set, dims, key), negate), 0, ""
}

func ipsetContains(set *IPSet, dims, key []string) bool {
	for _, mem := range set.Members {
		parts := strings.Split(mem, ",")
		if len(parts) != len(key) {
			continue
		}
		ok := true
		for i, part := range parts {
			if dims[i] == "ip" || dims[i] == "net" {
				pf := parsePrefix(part)
				a, _ := netip.ParseAddr(key[i])
				if !pf.IsValid() || !pf.Contains(a) {
					ok = false
				}
			} else if part != key[i] && !(strings.HasPrefix(key[i], "tcp:") && part == strings.TrimPrefix(key[i], "tcp:")) {
				ok = false
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func protoIs(rule, pkt string) bool {
	switch strings.ToLower(rule) {
	case "all", "0":
		return true
	case "6":
		return pkt == "tcp"
	case "17":
		return pkt == "udp"
	case "132":
		return pkt == "sctp"
	}
	return strings.EqualFold(rule, pkt)
}

func ifaceMatch(pattern, name string) bool {
	if strings.HasSuffix(pattern, "+") {
		return strings.HasPrefix(name, strings.TrimSuffix(pattern, "+"))
	}
	return pattern == name
}

func inPorts(ranges [][2]uint16, p uint16) bool {
	for _, r := range ranges {
		if p >= r[0] && p <= r[1] {
			return true
		}
	}
	return false
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// addrTypeIn reports whether a's address type (LOCAL, UNICAST, BROADCAST, MULTICAST) is in types.
func (s *Snapshot) addrTypeIn(a netip.Addr, types []string) bool {
	t := "UNICAST"
	switch {
	case s.IsLocal(a):
		t = "LOCAL"
	case a.IsMulticast():
		t = "MULTICAST"
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) || s.isBroadcast(a):
		t = "BROADCAST"
	}
	return containsStr(types, t)
}

func (s *Snapshot) isBroadcast(a netip.Addr) bool {
	for _, r := range s.Routes {
		if r.Type == "broadcast" && r.Dst.IsSingleIP() && r.Dst.Addr() == a {
			return true
		}
	}
	return false
}

// srcOf is the source address of the walked packet: the given one, or for a local packet the
// source the main table gives for the destination.
func (s *Snapshot) srcOf(st pstate) netip.Addr {
	if st.pkt.Src.IsValid() {
		return st.pkt.Src
	}
	if st.pkt.Local {
		if r := s.lpm(st.pkt.Dst); r != nil && r.Src.IsValid() {
			return r.Src
		}
		return s.primaryAddr(s.outIface(st.pkt.Dst))
	}
	return netip.Addr{}
}

// lpm is a longest-prefix match of a in the local and main tables (policy rules not applied).
func (s *Snapshot) lpm(a netip.Addr) *Route {
	var best *Route
	for i := range s.Routes {
		r := &s.Routes[i]
		if (r.Table != 254 && r.Table != 255) || !r.Dst.IsValid() || r.Dst.Addr().Is4() != a.Is4() || !r.Dst.Contains(a) {
			continue
		}
		if best == nil || r.Dst.Bits() > best.Dst.Bits() || (r.Dst.Bits() == best.Dst.Bits() && r.Table == 255) {
			best = r
		}
	}
	return best
}

// outIface is the device a packet to a leaves through according to the main table ("lo" for a
// local address), "" when no route matches.
func (s *Snapshot) outIface(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	if s.IsLocal(a) {
		return "lo"
	}
	if r := s.lpm(a); r != nil {
		return r.Dev
	}
	return ""
}

// primaryAddr is the first IPv4 address of the named link, or of any non-loopback link.
func (s *Snapshot) primaryAddr(dev string) netip.Addr {
	if l := s.Link(dev); l != nil {
		for _, a := range l.Addrs {
			if a.IP.Is4() {
				return a.IP
			}
		}
	}
	for _, l := range s.Links {
		if l.Name == "lo" {
			continue
		}
		for _, a := range l.Addrs {
			if a.IP.Is4() && !a.Secondary {
				return a.IP
			}
		}
	}
	return netip.Addr{}
}
