package filter

import (
	"net/netip"
	"strconv"
	"strings"
)

type tokKind int

const (
	tEOF  tokKind = iota
	tKW           // keyword (text in s)
	tNum          // number (value in n); named constants such as tcp-syn are numbers too
	tHID          // dotted IPv4 host/net: 1 to 4 parts
	tHID6         // IPv6 address
	tEID          // MAC address
	tID           // other name (also \escaped keywords)
	tOp           // punctuation / operator (text in s)
)

type token struct {
	kind tokKind
	s    string // source text (for tID after '\', without the backslash)
	n    uint32
	pos  int
	end  int
}

// keywords are pcap-filter's reserved words (lowercase only, as in libpcap).
var keywords = map[string]bool{
	"host": true, "net": true, "port": true, "portrange": true, "gateway": true, "proto": true,
	"protochain": true, "src": true, "dst": true, "and": true, "or": true, "not": true, "mask": true,
	"ether": true, "link": true, "ip": true, "ip6": true, "arp": true, "rarp": true, "tcp": true,
	"udp": true, "icmp": true, "icmp6": true, "sctp": true, "igmp": true, "vlan": true, "len": true,
	"greater": true, "less": true, "broadcast": true, "multicast": true, "mpls": true, "pppoed": true,
	"pppoes": true, "geneve": true, "inbound": true, "outbound": true, "ifindex": true,
	"igrp": true, "pim": true, "vrrp": true, "carp": true, "ah": true, "esp": true,
	"atalk": true, "aarp": true, "decnet": true, "lat": true, "sca": true, "moprc": true, "mopdl": true,
	"iso": true, "esis": true, "isis": true, "clnp": true, "stp": true, "ipx": true, "netbeui": true,
	"fddi": true, "tr": true, "wlan": true, "radio": true, "llc": true, "byte": true,
}

// namedConstants are the keywords libpcap's scanner turns into numbers.
var namedConstants = map[string]uint32{
	"icmptype": 0, "icmpcode": 1,
	"icmp-echoreply": 0, "icmp-unreach": 3, "icmp-sourcequench": 4, "icmp-redirect": 5,
	"icmp-echo": 8, "icmp-routeradvert": 9, "icmp-routersolicit": 10, "icmp-timxceed": 11,
	"icmp-paramprob": 12, "icmp-tstamp": 13, "icmp-tstampreply": 14, "icmp-ireq": 15,
	"icmp-ireqreply": 16, "icmp-maskreq": 17, "icmp-maskreply": 18,
	"icmp6type": 0, "icmp6code": 1,
	"icmp6-destinationunreach": 1, "icmp6-packettoobig": 2, "icmp6-timeexceeded": 3,
	"icmp6-parameterproblem": 4, "icmp6-echo": 128, "icmp6-echoreply": 129,
	"icmp6-multicastlistenerquery": 130, "icmp6-multicastlistenerreportv1": 131,
	"icmp6-multicastlistenerdone": 132, "icmp6-routersolicit": 133, "icmp6-routeradvert": 134,
	"icmp6-neighborsolicit": 135, "icmp6-neighboradvert": 136, "icmp6-redirect": 137,
	"icmp6-routerrenum": 138, "icmp6-nodeinformationquery": 139,
	"icmp6-nodeinformationresponse": 140, "icmp6-ineighbordiscoverysolicit": 141,
	"icmp6-ineighbordiscoveryadvert": 142, "icmp6-multicastlistenerreportv2": 143,
	"icmp6-homeagentdiscoveryrequest": 144, "icmp6-homeagentdiscoveryreply": 145,
	"icmp6-mobileprefixsolicit": 146, "icmp6-mobileprefixadvert": 147,
	"icmp6-certpathsolicit": 148, "icmp6-certpathadvert": 149,
	"icmp6-multicastrouteradvert": 151, "icmp6-multicastroutersolicit": 152,
	"icmp6-multicastrouterterm": 153,
	"tcpflags":                  13, "tcp-fin": 0x01, "tcp-syn": 0x02, "tcp-rst": 0x04, "tcp-push": 0x08,
	"tcp-ack": 0x10, "tcp-urg": 0x20, "tcp-ece": 0x40, "tcp-cwr": 0x80,
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// lex splits expr into tokens with libpcap's longest-match rules: "a-b" is one name, "10.1" an
// IPv4 prefix, "::1" an IPv6 address, "0:1:2:3:4:5" a MAC address.
func lex(expr string) ([]token, error) {
	var toks []token
	i := 0
	for {
		for i < len(expr) && strings.IndexByte(" \t\r\n", expr[i]) >= 0 {
			i++
		}
		if i >= len(expr) {
			toks = append(toks, token{kind: tEOF, pos: len(expr), end: len(expr)})
			return toks, nil
		}
		c := expr[i]
		start := i
		if c == '\\' {
			j := i + 1
			for j < len(expr) && strings.IndexByte(" !()\n\t\r", expr[j]) < 0 {
				j++
			}
			if j == i+1 {
				return nil, &SyntaxError{Expr: expr, Pos: i, Token: `\`, Msg: "syntax error"}
			}
			toks = append(toks, token{kind: tID, s: expr[i+1 : j], pos: i, end: j})
			i = j
			continue
		}
		if isAlnum(c) || c == ':' {
			if tok, ok := lexWord(expr, i); ok {
				toks = append(toks, tok)
				i = tok.end
				continue
			}
		}
		for _, op := range []string{"&&", "||", "<<", ">>", ">=", "<=", "==", "!=", "!", "(", ")",
			"[", "]", ":", "+", "-", "*", "/", "%", "&", "|", "^", ">", "<", "="} {
			if strings.HasPrefix(expr[i:], op) {
				toks = append(toks, token{kind: tOp, s: op, pos: i, end: i + len(op)})
				i += len(op)
				break
			}
		}
		if i == start {
			return nil, &SyntaxError{Expr: expr, Pos: i, Token: string(c), Msg: "illegal character"}
		}
	}
}

func lexWord(expr string, i int) (token, bool) {
	// Candidate 1: libpcap's ID pattern [A-Za-z0-9]([-_.A-Za-z0-9]*[.A-Za-z0-9])?
	idEnd := i
	if isAlnum(expr[i]) {
		j := i + 1
		for j < len(expr) && (isAlnum(expr[j]) || strings.IndexByte("-_.", expr[j]) >= 0) {
			j++
		}
		for j > i+1 && (expr[j-1] == '-' || expr[j-1] == '_') {
			j--
		}
		idEnd = j
	}
	// Candidate 2: an IPv6 or MAC address made of [0-9A-Fa-f:.-].
	addrEnd, addrKind := i, tEOF
	j := i
	for j < len(expr) && (isHex(expr[j]) || strings.IndexByte(":.-", expr[j]) >= 0) {
		j++
	}
	for k := j; k > i; k-- {
		s := expr[i:k]
		if isMAC(s) {
			addrEnd, addrKind = k, tEID
			break
		}
		if strings.Contains(s, ":") {
			if _, err := netip.ParseAddr(s); err == nil {
				addrEnd, addrKind = k, tHID6
				break
			}
		}
	}
	if addrKind != tEOF && addrEnd >= idEnd {
		return token{kind: addrKind, s: expr[i:addrEnd], pos: i, end: addrEnd}, true
	}
	if idEnd == i {
		return token{}, false
	}
	s := expr[i:idEnd]
	tok := token{kind: tID, s: s, pos: i, end: idEnd}
	if keywords[s] {
		tok.kind = tKW
	} else if v, ok := namedConstants[s]; ok {
		tok.kind, tok.n = tNum, v
	} else if v, ok := parseNum(s); ok {
		tok.kind, tok.n = tNum, v
	} else if isHID(s) {
		tok.kind = tHID
	}
	return tok, true
}

// parseNum parses libpcap numbers: decimal, 0x hexadecimal, 0-prefixed octal, 32-bit.
func parseNum(s string) (uint32, bool) {
	if s == "" || s[0] < '0' || s[0] > '9' {
		return 0, false
	}
	base := 10
	digits := s
	switch {
	case len(s) > 2 && (s[:2] == "0x" || s[:2] == "0X"):
		base, digits = 16, s[2:]
	case len(s) > 1 && s[0] == '0':
		base, digits = 8, s[1:]
	}
	v, err := strconv.ParseUint(digits, base, 32)
	if err != nil {
		return 0, false
	}
	return uint32(v), true
}

// isHID reports a dotted decimal of 2 to 4 parts ("10.1", "10.1.2.3").
func isHID(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) < 2 || len(parts) > 4 {
		return false
	}
	for _, p := range parts {
		if p == "" || len(p) > 10 {
			return false
		}
		for k := 0; k < len(p); k++ {
			if p[k] < '0' || p[k] > '9' {
				return false
			}
		}
	}
	return true
}

// isMAC accepts xx:xx:xx:xx:xx:xx, xx-xx-..., xx.xx.xx.xx.xx.xx (1 or 2 hex digits each),
// xxxx.xxxx.xxxx, and 12 hex digits... as libpcap's scanner does (the last form is not a MAC there).
func isMAC(s string) bool {
	for _, sep := range []string{":", "-", "."} {
		parts := strings.Split(s, sep)
		if len(parts) == 6 {
			ok := true
			for _, p := range parts {
				if len(p) < 1 || len(p) > 2 || !allHex(p) {
					ok = false
				}
			}
			if ok {
				return true
			}
		}
	}
	parts := strings.Split(s, ".")
	if len(parts) == 3 {
		for _, p := range parts {
			if len(p) != 4 || !allHex(p) {
				return false
			}
		}
		return true
	}
	return false
}

func allHex(s string) bool {
	for k := 0; k < len(s); k++ {
		if !isHex(s[k]) {
			return false
		}
	}
	return true
}

// parseMAC converts a token accepted by isMAC into 6 bytes.
func parseMAC(s string) [6]byte {
	var mac [6]byte
	var hex string
	if parts := strings.Split(s, "."); len(parts) == 3 && len(parts[0]) == 4 {
		hex = strings.Join(parts, "")
	} else {
		for _, p := range strings.FieldsFunc(s, func(r rune) bool { return r == ':' || r == '-' || r == '.' }) {
			if len(p) == 1 {
				p = "0" + p
			}
			hex += p
		}
	}
	for k := 0; k < 6; k++ {
		v, _ := strconv.ParseUint(hex[2*k:2*k+2], 16, 8)
		mac[k] = byte(v)
	}
	return mac
}
