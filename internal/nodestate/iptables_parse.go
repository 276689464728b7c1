package nodestate

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// ParseIptablesSave parses the output of iptables-save (with or without -c). Backend is left
// empty for the caller to fill. An error means the text is not iptables-save output; a rule it
// cannot tokenise is kept with its Raw text and no Matches.
func ParseIptablesSave(b []byte) (*Iptables, error) {
	ipt := &Iptables{Tables: map[string]*Table{}}
	var cur *Table
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#':
			continue
		case line[0] == '*':
			cur = &Table{Name: line[1:], Chains: map[string]*Chain{}}
			ipt.Tables[cur.Name] = cur
		case line == "COMMIT":
			cur = nil
		case cur == nil:
			return nil, fmt.Errorf("nodestate: iptables-save line %d: %q outside a table", lineNo, trunc(line, 80))
		case line[0] == ':':
			f := strings.Fields(line[1:])
			if len(f) == 0 {
				return nil, fmt.Errorf("nodestate: iptables-save line %d: empty chain declaration", lineNo)
			}
			c := cur.chain(f[0])
			if len(f) > 1 && f[1] != "-" {
				c.Policy = f[1]
			}
		default:
			var pk, by uint64
			if line[0] == '[' {
				end := strings.IndexByte(line, ']')
				if end < 0 {
					return nil, fmt.Errorf("nodestate: iptables-save line %d: unterminated counters", lineNo)
				}
				a, bs, ok := strings.Cut(line[1:end], ":")
				var err1, err2 error
				pk, err1 = strconv.ParseUint(a, 10, 64)
				by, err2 = strconv.ParseUint(bs, 10, 64)
				if !ok || err1 != nil || err2 != nil {
					return nil, fmt.Errorf("nodestate: iptables-save line %d: bad counters %q", lineNo, line[:end+1])
				}
				line = strings.TrimSpace(line[end+1:])
			}
			if !strings.HasPrefix(line, "-A ") {
				return nil, fmt.Errorf("nodestate: iptables-save line %d: expected -A, got %q", lineNo, trunc(line, 80))
			}
			r, chain := parseRule(line)
			r.Packets, r.Bytes = pk, by
			c := cur.chain(chain)
			r.Num = len(c.Rules) + 1
			c.Rules = append(c.Rules, r)
			ipt.Rules++
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("nodestate: read iptables-save: %w", err)
	}
	return ipt, nil
}

func (t *Table) chain(name string) *Chain {
	c := t.Chains[name]
	if c == nil {
		c = &Chain{Name: name}
		t.Chains[name] = c
		t.Order = append(t.Order, name)
	}
	return c
}

// builtinOpts maps iptables' long built-in options to their short form.
var builtinOpts = map[string]string{
	"--source": "-s", "--destination": "-d", "--protocol": "-p", "--in-interface": "-i",
	"--out-interface": "-o", "--jump": "-j", "--goto": "-g", "--match": "-m", "--fragment": "-f",
}

// parseRule splits "-A CHAIN opts…" into a rule and the chain name.
func parseRule(line string) (IptRule, string) {
	r := IptRule{Raw: line}
	toks, ok := tokenize(line)
	if ok {
		r.Matches = make([]Match, 0, len(toks)/3)
	}
	if !ok || len(toks) < 2 {
		return r, strings.Fields(line + " ?")[1]
	}
	chain := toks[1]
	toks = toks[2:]
	module := ""
	negate := false
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		if t == "!" {
			negate = true
			continue
		}
		if s, ok := builtinOpts[t]; ok {
			t = s
		}
		switch t {
		case "-m":
			if i+1 < len(toks) {
				module = toks[i+1]
				i++
			}
			negate = false
			continue
		case "-j", "-g":
			if i+1 < len(toks) {
				r.Target = toks[i+1]
				r.Goto = t == "-g"
				if i+2 < len(toks) {
					r.TargetArgs = toks[i+2 : len(toks) : len(toks)]
				}
			}
			return r, chain
		case "-s", "-d", "-p", "-i", "-o", "-f":
			m := Match{Option: t, Negate: negate}
			if t != "-f" && i+1 < len(toks) {
				m.Args = toks[i+1 : i+2 : i+2]
				i++
			}
			r.Matches = append(r.Matches, m)
			if t == "-p" && len(m.Args) == 1 {
				// "-p tcp" implies the tcp match module for --dport and friends.
				module = m.Args[0]
			}
			negate = false
			continue
		}
		// A module option: collect arguments up to the next option or "!".
		m := Match{Module: module, Option: t, Negate: negate}
		j := i + 1
		for j < len(toks) && !isOption(toks[j]) {
			j++
		}
		if j > i+1 {
			m.Args = toks[i+1 : j : j]
		}
		i = j - 1
		if m.Module == "comment" && m.Option == "--comment" && len(m.Args) > 0 {
			r.Comment = m.Args[0]
		}
		r.Matches = append(r.Matches, m)
		negate = false
	}
	return r, chain
}

func isOption(t string) bool {
	return t == "!" || (len(t) > 1 && t[0] == '-' && (t[1] < '0' || t[1] > '9'))
}

// tokenize splits a rule line like a shell would for iptables-save output: double quotes group,
// backslash escapes the next character inside quotes. Tokens are substrings of s unless they hold
// an escape.
func tokenize(s string) ([]string, bool) {
	if strings.IndexByte(s, '"') < 0 {
		return strings.Fields(s), true // substrings of s: no copy
	}
	toks := make([]string, 0, 32)
	i := 0
	for i < len(s) {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i == len(s) {
			break
		}
		if s[i] != '"' {
			j := i
			for j < len(s) && s[j] != ' ' && s[j] != '\t' && s[j] != '"' {
				j++
			}
			if j < len(s) && s[j] == '"' {
				// A quote inside a word (rare): fall back to the general form.
				return tokenizeSlow(s)
			}
			toks = append(toks, s[i:j])
			i = j
			continue
		}
		j := i + 1
		for j < len(s) && s[j] != '"' {
			if s[j] == '\\' {
				return tokenizeSlow(s)
			}
			j++
		}
		if j == len(s) {
			return nil, false
		}
		if j+1 < len(s) && s[j+1] != ' ' && s[j+1] != '\t' {
			return tokenizeSlow(s)
		}
		toks = append(toks, s[i+1:j])
		i = j + 1
	}
	return toks, true
}

// tokenizeSlow is tokenize for lines with escapes or quotes inside words.
func tokenizeSlow(s string) ([]string, bool) {
	var toks []string
	var cur strings.Builder
	inTok, inQuote := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inQuote && c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
		case c == '"':
			inQuote = !inQuote
			inTok = true
		case !inQuote && (c == ' ' || c == '\t'):
			if inTok {
				toks = append(toks, cur.String())
				cur.Reset()
				inTok = false
			}
		default:
			cur.WriteByte(c)
			inTok = true
		}
	}
	if inQuote {
		return nil, false
	}
	if inTok {
		toks = append(toks, cur.String())
	}
	return toks, true
}

// ParseIPSetSave parses `ipset save` output into sets by name.
func ParseIPSetSave(b []byte) map[string]*IPSet {
	sets := map[string]*IPSet{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		switch f[0] {
		case "create":
			sets[f[1]] = &IPSet{Name: f[1], Type: f[2]}
		case "add":
			if s := sets[f[1]]; s != nil {
				s.Members = append(s.Members, f[2])
			}
		}
	}
	return sets
}

func trunc(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// parseUint parses decimal or 0x hex.
func parseUint(s string) (uint64, error) {
	return strconv.ParseUint(s, 0, 64)
}
