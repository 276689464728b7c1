package nodestate

import (
	"encoding/json"
	"net/netip"
	"strconv"
	"strings"
)

// evalStmt applies one expression to an alternative; why is set when it cannot be evaluated.
func (nw *nftWalker) evalStmt(t *NftTable, raw json.RawMessage, a nalt) ([]nalt, string) {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil || len(m) != 1 {
		return nil, "expression " + trunc(string(raw), 40)
	}
	for k, v := range m {
		switch k {
		case "counter", "log", "limit", "notrack", "quota":
			if k == "limit" || k == "quota" {
				return nil, k
			}
			return []nalt{a}, ""
		case "match":
			var mt struct {
				Op          string
				Left, Right json.RawMessage
			}
			if json.Unmarshal(v, &mt) != nil {
				return nil, "match"
			}
			if ng, ok := numgenOf(mt.Left); ok {
				hits := 0
				for i := 0; i < ng; i++ {
					if ok, _ := nw.matches(t, nval{num: uint64(i), isNum: true}, mt.Right); ok {
						hits++
					}
				}
				p := float64(hits) / float64(ng)
				if mt.Op == "!=" {
					p = 1 - p
				}
				return splitProb(a, p), ""
			}
			lv, why := nw.value(mt.Left, a.st)
			if why != "" {
				return nil, why
			}
			ok, why := nw.matches(t, lv, mt.Right)
			if why != "" {
				return nil, why
			}
			if mt.Op == "!=" {
				ok = !ok
			} else if mt.Op != "==" && mt.Op != "in" {
				return nil, "operator " + mt.Op
			}
			if !ok {
				a.verdict, a.done = "nomatch", true
			}
			return []nalt{a}, ""
		case "jump", "goto":
			var tg struct{ Target string }
			_ = json.Unmarshal(v, &tg)
			a.verdict, a.target, a.done = k, tg.Target, true
			return []nalt{a}, ""
		case "return", "accept", "drop", "continue":
			a.verdict, a.done = k, true
			return []nalt{a}, ""
		case "reject":
			a.verdict, a.done = "reject", true
			return []nalt{a}, ""
		case "masquerade", "snat":
			a.verdict, a.done = "masq", true
			return []nalt{a}, ""
		case "dnat":
			var d struct {
				Addr json.RawMessage
				Port json.RawMessage
			}
			_ = json.Unmarshal(v, &d)
			var addr string
			if json.Unmarshal(d.Addr, &addr) != nil {
				return nil, "dnat to " + renderExpr(d.Addr)
			}
			ip, err := netip.ParseAddr(addr)
			if err != nil {
				return nil, "dnat to " + addr
			}
			port := a.st.pkt.DstPort
			if len(d.Port) > 0 {
				var pn int
				if json.Unmarshal(d.Port, &pn) != nil {
					return nil, "dnat port " + renderExpr(d.Port)
				}
				port = uint16(pn)
			}
			a.verdict, a.dnat, a.done = "dnat", netip.AddrPortFrom(ip, port), true
			return []nalt{a}, ""
		case "mangle":
			var mg struct{ Key, Value json.RawMessage }
			_ = json.Unmarshal(v, &mg)
			if renderExpr(mg.Key) != "meta mark" {
				return []nalt{a}, "" // other mangles (ct mark, dscp) do not change the NAT decision here
			}
			val, why := nw.value(mg.Value, a.st)
			if why != "" || !val.isNum {
				return nil, "mark set " + renderExpr(mg.Value)
			}
			a.st.mark = uint32(val.num)
			return []nalt{a}, ""
		case "vmap":
			var vm struct{ Key, Data json.RawMessage }
			_ = json.Unmarshal(v, &vm)
			return nw.evalVmap(t, vm.Key, vm.Data, a)
		}
		return nil, k
	}
	return nil, "expression"
}

func splitProb(a nalt, p float64) []nalt {
	yes, no := a, a
	yes.st.prob *= p
	no.st.prob *= 1 - p
	no.verdict, no.done = "nomatch", true
	var out []nalt
	if p > 0 {
		out = append(out, yes)
	}
	if p < 1 {
		out = append(out, no)
	}
	return out
}

func (nw *nftWalker) evalVmap(t *NftTable, key, data json.RawMessage, a nalt) ([]nalt, string) {
	elems, why := nw.mapElems(t, data)
	if why != "" {
		return nil, why
	}
	verdictOf := func(raw json.RawMessage) nalt {
		b := a
		var m map[string]json.RawMessage
		_ = json.Unmarshal(raw, &m)
		for k, v := range m {
			var tg struct{ Target string }
			_ = json.Unmarshal(v, &tg)
			b.verdict, b.target, b.done = k, tg.Target, true
		}
		if b.verdict == "continue" {
			b.verdict, b.done = "", false
		}
		return b
	}
	if n, ok := numgenOf(key); ok {
		var out []nalt
		hit := 0
		for _, e := range elems {
			for i := 0; i < n; i++ {
				if ok, _ := nw.matches(t, nval{num: uint64(i), isNum: true}, e[0]); ok {
					b := verdictOf(e[1])
					b.st.prob = a.st.prob / float64(n)
					out = append(out, b)
					hit++
				}
			}
		}
		if hit < n {
			no := a
			no.st.prob = a.st.prob * float64(n-hit) / float64(n)
			no.verdict, no.done = "nomatch", true
			out = append(out, no)
		}
		return out, ""
	}
	kv, why := nw.value(key, a.st)
	if why != "" {
		return nil, why
	}
	for _, e := range elems {
		ok, why := nw.matchElem(t, kv, e[0])
		if why != "" {
			return nil, why
		}
		if ok {
			return []nalt{verdictOf(e[1])}, ""
		}
	}
	a.verdict, a.done = "nomatch", true
	return []nalt{a}, ""
}

// mapElems returns the [key, verdict] pairs of a named map ("@name") or an anonymous one.
func (nw *nftWalker) mapElems(t *NftTable, data json.RawMessage) ([][2]json.RawMessage, string) {
	var raw []json.RawMessage
	var name string
	if json.Unmarshal(data, &name) == nil && strings.HasPrefix(name, "@") {
		set := t.Sets[name[1:]]
		if set == nil {
			return nil, "map " + name + " not in the ruleset"
		}
		raw = set.raw
	} else {
		var s struct {
			Set []json.RawMessage `json:"set"`
		}
		if json.Unmarshal(data, &s) != nil {
			return nil, "map " + renderExpr(data)
		}
		raw = s.Set
	}
	out := make([][2]json.RawMessage, 0, len(raw))
	for _, e := range raw {
		var kv []json.RawMessage
		if json.Unmarshal(e, &kv) != nil || len(kv) != 2 {
			return nil, "map element " + trunc(string(e), 40)
		}
		out = append(out, [2]json.RawMessage{kv[0], kv[1]})
	}
	return out, ""
}

func numgenOf(raw json.RawMessage) (int, bool) {
	var m struct {
		Numgen *struct {
			Mode string
			Mod  int
		} `json:"numgen"`
	}
	if json.Unmarshal(raw, &m) != nil || m.Numgen == nil || m.Numgen.Mode != "random" || m.Numgen.Mod <= 0 {
		return 0, false
	}
	return m.Numgen.Mod, true
}

// nval is an evaluated nft expression: an address, a number, a string, or a concatenation.
type nval struct {
	addr   netip.Addr
	num    uint64
	str    string
	isNum  bool
	concat []nval
}

func (nw *nftWalker) value(raw json.RawMessage, st pstate) (nval, string) {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		var n uint64
		if json.Unmarshal(raw, &n) == nil {
			return nval{num: n, isNum: true}, ""
		}
		return nval{}, "value " + trunc(string(raw), 40)
	}
	p := &st.pkt
	for k, v := range m {
		switch k {
		case "payload":
			var pl struct{ Protocol, Field string }
			_ = json.Unmarshal(v, &pl)
			switch {
			case pl.Protocol == "ip" && pl.Field == "daddr":
				return nval{addr: p.Dst}, ""
			case pl.Protocol == "ip" && pl.Field == "saddr":
				src := nw.s.srcOf(st)
				if !src.IsValid() {
					return nval{}, "source address unknown: give --src"
				}
				return nval{addr: src}, ""
			case pl.Protocol == "ip" && pl.Field == "protocol":
				return nval{str: p.Proto}, ""
			case pl.Field == "dport" && (pl.Protocol == "th" || pl.Protocol == p.Proto):
				return nval{num: uint64(p.DstPort), isNum: true}, ""
			case pl.Field == "dport" && (pl.Protocol == "tcp" || pl.Protocol == "udp" || pl.Protocol == "sctp"):
				// "tcp dport 80" on a udp packet implies "meta l4proto tcp": it cannot match.
				return nval{str: "\x00protocol mismatch"}, ""
			case pl.Field == "sport" && (pl.Protocol == "th" || pl.Protocol == p.Proto):
				if p.SrcPort == 0 {
					return nval{}, "source port unknown"
				}
				return nval{num: uint64(p.SrcPort), isNum: true}, ""
			}
			return nval{}, pl.Protocol + " " + pl.Field
		case "meta":
			var mk struct{ Key string }
			_ = json.Unmarshal(v, &mk)
			switch mk.Key {
			case "l4proto":
				return nval{str: p.Proto}, ""
			case "nfproto":
				return nval{str: "ipv4"}, ""
			case "mark":
				return nval{num: uint64(st.mark), isNum: true}, ""
			case "iifname":
				if p.Local || st.hook == "OUTPUT" {
					return nval{str: ""}, ""
				}
				if p.InIface == "" {
					return nval{}, "input interface unknown: give --from-iface"
				}
				return nval{str: p.InIface}, ""
			case "oifname":
				out := st.outIface
				if out == "" {
					out = nw.s.outIface(p.Dst)
				}
				if out == "" || st.hook == "PREROUTING" {
					return nval{}, "output interface unknown"
				}
				return nval{str: out}, ""
			}
			return nval{}, "meta " + mk.Key
		case "ct":
			var ck struct{ Key string }
			_ = json.Unmarshal(v, &ck)
			if ck.Key == "state" {
				return nval{str: "new"}, ""
			}
			return nval{}, "ct " + ck.Key
		case "fib":
			var f struct {
				Result string
				Flags  []string
			}
			_ = json.Unmarshal(v, &f)
			if f.Result == "type" && len(f.Flags) == 1 && f.Flags[0] == "daddr" {
				t := "unicast"
				if nw.s.IsLocal(p.Dst) {
					t = "local"
				} else if p.Dst.IsMulticast() {
					t = "multicast"
				}
				return nval{str: t}, ""
			}
			return nval{}, "fib " + f.Result
		case "concat":
			var parts []json.RawMessage
			_ = json.Unmarshal(v, &parts)
			var out nval
			for _, part := range parts {
				pv, why := nw.value(part, st)
				if why != "" {
					return nval{}, why
				}
				out.concat = append(out.concat, pv)
			}
			return out, ""
		case "&", "|", "^":
			var ops []json.RawMessage
			_ = json.Unmarshal(v, &ops)
			if len(ops) != 2 {
				return nval{}, k
			}
			x, why := nw.value(ops[0], st)
			if why != "" {
				return nval{}, why
			}
			y, why := nw.value(ops[1], st)
			if why != "" || !x.isNum || !y.isNum {
				return nval{}, "bitwise " + k
			}
			switch k {
			case "&":
				return nval{num: x.num & y.num, isNum: true}, ""
			case "|":
				return nval{num: x.num | y.num, isNum: true}, ""
			}
			return nval{num: x.num ^ y.num, isNum: true}, ""
		}
		return nval{}, k
	}
	return nval{}, "value"
}

// matches compares a value with the right side of a match: a literal, a prefix, a range, an
// anonymous set or a named set ("@name").
func (nw *nftWalker) matches(t *NftTable, v nval, right json.RawMessage) (bool, string) {
	var name string
	if json.Unmarshal(right, &name) == nil && strings.HasPrefix(name, "@") {
		set := t.Sets[name[1:]]
		if set == nil {
			return false, "set " + name + " not in the ruleset"
		}
		for _, e := range set.raw {
			key := e
			if set.Map != "" {
				var kv []json.RawMessage
				if json.Unmarshal(e, &kv) == nil && len(kv) == 2 {
					key = kv[0]
				}
			}
			ok, why := nw.matchElem(t, v, key)
			if why != "" {
				return false, why
			}
			if ok {
				return true, ""
			}
		}
		return false, ""
	}
	var s struct {
		Set []json.RawMessage `json:"set"`
	}
	if json.Unmarshal(right, &s) == nil && s.Set != nil {
		for _, e := range s.Set {
			ok, why := nw.matchElem(t, v, e)
			if why != "" || ok {
				return ok, why
			}
		}
		return false, ""
	}
	var list []json.RawMessage
	if json.Unmarshal(right, &list) == nil {
		for _, e := range list {
			if ok, why := nw.matchElem(t, v, e); why != "" || ok {
				return ok, why
			}
		}
		return false, ""
	}
	return nw.matchElem(t, v, right)
}

// matchElem compares v with one element: literal, {"prefix"}, {"range"}, {"concat"}, {"elem"}.
func (nw *nftWalker) matchElem(t *NftTable, v nval, e json.RawMessage) (bool, string) {
	var m map[string]json.RawMessage
	if json.Unmarshal(e, &m) == nil {
		for k, x := range m {
			switch k {
			case "elem":
				var el struct{ Val json.RawMessage }
				_ = json.Unmarshal(x, &el)
				return nw.matchElem(t, v, el.Val)
			case "prefix":
				var p struct {
					Addr string
					Len  int
				}
				_ = json.Unmarshal(x, &p)
				a, err := netip.ParseAddr(p.Addr)
				if err != nil {
					return false, "prefix " + p.Addr
				}
				return v.addr.IsValid() && netip.PrefixFrom(a, p.Len).Masked().Contains(v.addr), ""
			case "range":
				var r []json.RawMessage
				_ = json.Unmarshal(x, &r)
				if len(r) != 2 {
					return false, "range"
				}
				lo, hi := literal(r[0]), literal(r[1])
				switch {
				case v.addr.IsValid() && lo.addr.IsValid():
					return lo.addr.Compare(v.addr) <= 0 && v.addr.Compare(hi.addr) <= 0, ""
				case v.isNum && lo.isNum:
					return lo.num <= v.num && v.num <= hi.num, ""
				}
				return false, "range " + renderExpr(x)
			case "concat":
				var parts []json.RawMessage
				_ = json.Unmarshal(x, &parts)
				if len(parts) != len(v.concat) {
					return false, ""
				}
				for i, part := range parts {
					ok, why := nw.matchElem(t, v.concat[i], part)
					if why != "" || !ok {
						return false, why
					}
				}
				return true, ""
			case "set":
				return nw.matches(t, v, e)
			}
			return false, k
		}
	}
	l := literal(e)
	switch {
	case v.addr.IsValid():
		return l.addr == v.addr, ""
	case v.isNum:
		if !l.isNum {
			if pn, ok := protoNumbers[l.str]; ok {
				return v.num == pn, ""
			}
			return false, "value " + l.str
		}
		return l.num == v.num, ""
	case v.concat != nil:
		return false, ""
	}
	if strings.HasSuffix(l.str, "*") {
		return strings.HasPrefix(v.str, strings.TrimSuffix(l.str, "*")), ""
	}
	if l.isNum {
		// l4proto given as a number.
		return protoNumbers[v.str] == l.num, ""
	}
	return l.str == v.str, ""
}

var protoNumbers = map[string]uint64{"tcp": 6, "udp": 17, "sctp": 132, "icmp": 1}

func literal(raw json.RawMessage) nval {
	var n uint64
	if json.Unmarshal(raw, &n) == nil {
		return nval{num: n, isNum: true}
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if a, err := netip.ParseAddr(s); err == nil {
			return nval{addr: a}
		}
		if n, err := strconv.ParseUint(s, 0, 64); err == nil {
			return nval{num: n, isNum: true}
		}
		return nval{str: s}
	}
	return nval{str: string(raw)}
}
