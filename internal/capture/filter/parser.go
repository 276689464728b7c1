package filter

import (
	"fmt"
	"strings"
)

// Qualifiers, as in libpcap's grammar: protocol, direction and address type.
const (
	qDefault = iota
	qLink
	qIP
	qIP6
	qARP
	qRARP
	qTCP
	qUDP
	qICMP
	qICMP6
	qSCTP
	qIGMP
	qUnsupported
)

const (
	dDefault = iota
	dSrc
	dDst
	dOr
	dAnd
)

const (
	aDefault = iota
	aHost
	aNet
	aPort
	aPortrange
	aProto
	aGateway
	aProtochain
	aUndef // no qualifier to inherit: a bare name after "tcp or" is a syntax error
)

type qual struct{ proto, dir, addr int }

var qerr = qual{addr: aUndef}

var pnames = map[string]int{
	"ether": qLink, "link": qLink, "ip": qIP, "ip6": qIP6, "arp": qARP, "rarp": qRARP, "tcp": qTCP,
	"udp": qUDP, "icmp": qICMP, "icmp6": qICMP6, "sctp": qSCTP, "igmp": qIGMP,
	"igrp": qUnsupported, "pim": qUnsupported, "vrrp": qUnsupported, "carp": qUnsupported,
	"ah": qUnsupported, "esp": qUnsupported, "atalk": qUnsupported, "aarp": qUnsupported,
	"decnet": qUnsupported, "lat": qUnsupported, "sca": qUnsupported, "moprc": qUnsupported,
	"mopdl": qUnsupported, "iso": qUnsupported, "esis": qUnsupported, "isis": qUnsupported,
	"clnp": qUnsupported, "stp": qUnsupported, "ipx": qUnsupported, "netbeui": qUnsupported,
	"fddi": qUnsupported, "tr": qUnsupported, "wlan": qUnsupported, "radio": qUnsupported,
}

var protoNames = map[int]string{qDefault: "", qLink: "link", qIP: "ip", qIP6: "ip6", qARP: "arp",
	qRARP: "rarp", qTCP: "tcp", qUDP: "udp", qICMP: "icmp", qICMP6: "icmp6", qSCTP: "sctp", qIGMP: "igmp"}

type parser struct {
	expr string
	toks []token
	p    int
	lk   link // offsets; vlan shifts them as parsing goes, like libpcap
	nreg int  // scratch registers in use
}

// fail is the panic value the parser uses internally; parse turns it into a *SyntaxError.
type fail struct{ err *SyntaxError }

func (ps *parser) errAt(t token, format string, args ...any) {
	text := ""
	if t.kind != tEOF {
		text = ps.expr[t.pos:t.end]
	}
	panic(fail{&SyntaxError{Expr: ps.expr, Pos: t.pos, Token: text, Msg: fmt.Sprintf(format, args...)}})
}

func (ps *parser) peek() token { return ps.toks[ps.p] }
func (ps *parser) peekN(n int) token {
	if ps.p+n < len(ps.toks) {
		return ps.toks[ps.p+n]
	}
	return ps.toks[len(ps.toks)-1]
}
func (ps *parser) next() token {
	t := ps.toks[ps.p]
	if t.kind != tEOF {
		ps.p++
	}
	return t
}
func (t token) is(s string) bool { return (t.kind == tKW || t.kind == tOp) && t.s == s }

func (ps *parser) expect(s string) token {
	t := ps.next()
	if !t.is(s) {
		ps.errAt(t, "syntax error, expected %q", s)
	}
	return t
}

// parse compiles expr into a boolean tree for link type lk.
func parse(expr string, lk link) (root node, err error) {
	toks, err := lex(expr)
	if err != nil {
		return nil, err
	}
	ps := &parser{expr: expr, toks: toks, lk: lk}
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(fail)
			if !ok {
				panic(r)
			}
			root, err = nil, f.err
		}
	}()
	if ps.peek().kind == tEOF {
		return constNode(true), nil
	}
	n, _ := ps.parseExpr(qerr)
	if t := ps.peek(); t.kind != tEOF {
		ps.errAt(t, "syntax error")
	}
	return n, nil
}

func isAnd(t token) bool { return t.is("and") || t.is("&&") }
func isOr(t token) bool  { return t.is("or") || t.is("||") }
func isNot(t token) bool { return t.is("not") || t.is("!") }

// parseExpr: term { (and|or) (term|id) }, and/or with equal precedence, left to right.
func (ps *parser) parseExpr(inherit qual) (node, qual) {
	n, q := ps.parseTerm(inherit)
	for {
		t := ps.peek()
		if !isAnd(t) && !isOr(t) {
			return n, q
		}
		ps.next()
		r, rq, ok := ps.tryID(q)
		if !ok {
			r, rq = ps.parseTerm(q)
		}
		if isAnd(t) {
			n = and(n, r)
		} else {
			n = or(n, r)
		}
		q = rq
	}
}

// tryID parses an "id" that inherits qualifier q (`host a or b`, `port 80 or 443`), backtracking
// when what follows is not an id followed by and/or/')'/end.
func (ps *parser) tryID(q qual) (n node, rq qual, ok bool) {
	t := ps.peek()
	switch t.kind {
	case tNum, tHID, tHID6, tEID, tID:
	case tKW, tOp:
		if !isNot(t) && !t.is("(") {
			return nil, q, false
		}
	default:
		return nil, q, false
	}
	save, saveReg, saveLk := ps.p, ps.nreg, ps.lk
	defer func() {
		if r := recover(); r != nil {
			if _, isFail := r.(fail); !isFail {
				panic(r)
			}
			if !ok && ps.p > save && ps.looksLikeID(save) {
				panic(r) // a real error inside an id, such as a bad mask: report it
			}
			ps.p, ps.nreg, ps.lk = save, saveReg, saveLk
			n, rq, ok = nil, q, false
		}
	}()
	n = ps.parseID(q)
	nt := ps.peek()
	if nt.kind == tEOF || isAnd(nt) || isOr(nt) || nt.is(")") {
		return n, q, true
	}
	ps.p, ps.nreg, ps.lk = save, saveReg, saveLk
	return nil, q, false
}

// looksLikeID reports whether the tokens from i form an id that ends the operand.
func (ps *parser) looksLikeID(i int) bool {
	t := ps.toks[i]
	if t.kind != tHID && t.kind != tHID6 && t.kind != tEID && t.kind != tID {
		return false
	}
	for j := i + 1; j < len(ps.toks); j++ {
		u := ps.toks[j]
		if u.kind == tEOF || isAnd(u) || isOr(u) || u.is(")") {
			return true
		}
		if !(u.is("/") || u.is("mask") || u.kind == tNum || u.kind == tHID) {
			return false
		}
	}
	return true
}

// parseID: not id | ( id {and|or id} ) | NUM | HID[/NUM | mask HID] | HID6[/NUM] | EID | name.
func (ps *parser) parseID(q qual) node {
	t := ps.next()
	if q.addr == aUndef {
		ps.errAt(t, "syntax error")
	}
	switch {
	case isNot(t):
		return not(ps.parseID(q))
	case t.is("("):
		n := ps.parseID(q)
		for {
			u := ps.peek()
			if u.is(")") {
				ps.next()
				return n
			}
			ps.next()
			switch {
			case isAnd(u):
				n = and(n, ps.parseID(q))
			case isOr(u):
				n = or(n, ps.parseID(q))
			default:
				ps.errAt(u, "syntax error")
			}
		}
	case t.kind == tNum:
		return ps.genNcode(t, "", t.n, q)
	case t.kind == tHID:
		if u := ps.peek(); u.is("/") {
			ps.next()
			l := ps.next()
			if l.kind != tNum {
				ps.errAt(l, "syntax error, expected a prefix length")
			}
			return ps.genMcode(t, l.n, "", q)
		} else if u.is("mask") {
			ps.next()
			m := ps.next()
			if m.kind != tHID {
				ps.errAt(m, "syntax error, expected a netmask")
			}
			return ps.genMcode(t, 0, m.s, q)
		}
		switch q.addr {
		case aPort:
			ps.errAt(t, "'port' modifier applied to ip host")
		case aPortrange:
			ps.errAt(t, "'portrange' modifier applied to ip host")
		case aProto:
			ps.errAt(t, "'proto' modifier applied to ip host")
		case aProtochain:
			ps.errAt(t, "'protochain' modifier applied to ip host")
		}
		return ps.genNcode(t, t.s, 0, q)
	case t.kind == tHID6:
		bits := uint32(128)
		if u := ps.peek(); u.is("/") {
			ps.next()
			l := ps.next()
			if l.kind != tNum {
				ps.errAt(l, "syntax error, expected a prefix length")
			}
			bits = l.n
		}
		return ps.genMcode6(t, bits, q)
	case t.kind == tEID:
		return ps.genEcode(t, q)
	case t.kind == tID:
		return ps.genScode(t, q)
	}
	ps.errAt(t, "syntax error")
	return nil
}

// parseTerm: not term | rterm.
func (ps *parser) parseTerm(inherit qual) (node, qual) {
	t := ps.peek()
	if isNot(t) {
		ps.next()
		n, q := ps.parseTerm(inherit)
		return not(n), q
	}
	return ps.parseRterm(inherit)
}

func (ps *parser) parseRterm(inherit qual) (node, qual) {
	t := ps.peek()
	switch {
	case t.is("("):
		// Either "( expr )" or an arithmetic relation starting with a parenthesis.
		if n, ok := ps.tryRelation(); ok {
			return n, qerr
		}
		ps.next()
		n, _ := ps.parseExpr(inherit)
		ps.expect(")")
		return n, inherit
	case t.kind == tNum || t.is("len") || t.is("-"):
		return ps.parseRelation(), qerr
	case t.kind == tKW:
		if pq, isP := pnames[t.s]; isP && ps.peekN(1).is("[") {
			_ = pq
			return ps.parseRelation(), qerr
		}
		return ps.parsePrimitive()
	}
	ps.errAt(t, "syntax error")
	return nil, qerr
}

// tryRelation parses "arth relop arth" if the tokens form one, else leaves the position alone.
func (ps *parser) tryRelation() (n node, ok bool) {
	save, saveReg, saveLk := ps.p, ps.nreg, ps.lk
	defer func() {
		if r := recover(); r != nil {
			if _, isFail := r.(fail); !isFail {
				panic(r)
			}
			ps.p, ps.nreg, ps.lk = save, saveReg, saveLk
			n, ok = nil, false
		}
	}()
	return ps.parseRelation(), true
}

var dirWords = map[string]bool{"src": true, "dst": true}
var addrWords = map[string]int{"host": aHost, "net": aNet, "port": aPort, "portrange": aPortrange,
	"gateway": aGateway}

// parsePrimitive: [pname] [dqual] [aqual|proto|protochain] id, a bare pname, or "other".
func (ps *parser) parsePrimitive() (node, qual) {
	start := ps.peek()
	q := qual{}
	hasPname, hasQual := false, false
	if pq, ok := pnames[start.s]; ok {
		ps.next()
		q.proto = pq
		hasPname = true
	}
	t := ps.peek()
	switch {
	case t.is("broadcast"):
		ps.next()
		return ps.genBroadcast(t, q.proto), qerr
	case t.is("multicast"):
		ps.next()
		return ps.genMulticast(t, q.proto), qerr
	}
	if t.kind == tKW && dirWords[t.s] {
		ps.next()
		q.dir = map[string]int{"src": dSrc, "dst": dDst}[t.s]
		hasQual = true
		if c := ps.peek(); (isOr(c) || isAnd(c)) && ps.peekN(1).kind == tKW && dirWords[ps.peekN(1).s] && ps.peekN(1).s != t.s {
			ps.next()
			ps.next()
			if isOr(c) {
				q.dir = dOr
			} else {
				q.dir = dAnd
			}
		}
	}
	t = ps.peek()
	if a, ok := addrWords[t.s]; ok && t.kind == tKW {
		ps.next()
		q.addr = a
		hasQual = true
	} else if t.is("proto") || t.is("protochain") {
		if q.dir != dDefault {
			ps.errAt(t, "syntax error")
		}
		ps.next()
		q.addr = aProto
		if t.s == "protochain" {
			q.addr = aProtochain
		}
		hasQual = true
	}
	if hasQual {
		if q.proto == qUnsupported {
			ps.errAt(start, "%q is not supported", start.s)
		}
		return ps.parseID(q), q
	}
	if hasPname {
		return ps.genProtoAbbrev(start, q.proto), qerr
	}
	switch {
	case t.is("vlan"):
		ps.next()
		if n := ps.peek(); n.kind == tNum {
			ps.next()
			return ps.genVLAN(t, n.n, true), qerr
		}
		return ps.genVLAN(t, 0, false), qerr
	case t.is("greater"), t.is("less"):
		ps.next()
		n := ps.next()
		if n.kind != tNum {
			ps.errAt(n, "syntax error, expected a number")
		}
		if t.s == "greater" {
			return &testNode{stmts: []insn{ldLen()}, op: jmpJGE, k: n.n}, qerr
		}
		return not(&testNode{stmts: []insn{ldLen()}, op: jmpJGT, k: n.n}), qerr
	case t.kind == tKW && (t.s == "mpls" || t.s == "pppoed" || t.s == "pppoes" || t.s == "geneve" ||
		t.s == "inbound" || t.s == "outbound" || t.s == "ifindex" || t.s == "llc" || t.s == "byte"):
		ps.errAt(t, "%q is not supported", t.s)
	}
	ps.errAt(t, "syntax error")
	return nil, qerr
}

func (ps *parser) unsupportedProto(t token, proto int) {
	if proto == qUnsupported {
		ps.errAt(t, "%q is not supported", strings.TrimSpace(t.s))
	}
}
