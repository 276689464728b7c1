package nodestate

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// ParseNftJSON parses `nft -j list ruleset`. Tables keep nft's order; chains and rules theirs.
func ParseNftJSON(b []byte) (*NftRuleset, error) {
	rs := &NftRuleset{}
	if len(strings.TrimSpace(string(b))) == 0 {
		return rs, nil
	}
	var doc struct {
		Nftables []map[string]json.RawMessage `json:"nftables"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("nodestate: parse nft json: %w", err)
	}
	tables := map[string]*NftTable{}
	key := func(fam, name string) string { return fam + " " + name }
	table := func(fam, name string) *NftTable {
		t := tables[key(fam, name)]
		if t == nil {
			t = &NftTable{Family: fam, Name: name, Sets: map[string]*NftSet{}}
			tables[key(fam, name)] = t
			rs.Tables = append(rs.Tables, t)
		}
		return t
	}
	for _, obj := range doc.Nftables {
		for kind, raw := range obj {
			switch kind {
			case "table":
				var t struct{ Family, Name string }
				if err := json.Unmarshal(raw, &t); err != nil {
					return nil, fmt.Errorf("nodestate: nft table: %w", err)
				}
				tt := table(t.Family, t.Name)
				tt.KubeProxy = t.Name == "kube-proxy"
			case "chain":
				var c struct {
					Family, Table, Name, Type, Hook, Policy string
					Prio                                    json.RawMessage `json:"prio"`
				}
				if err := json.Unmarshal(raw, &c); err != nil {
					return nil, fmt.Errorf("nodestate: nft chain: %w", err)
				}
				ch := &NftChain{Name: c.Name, Type: c.Type, Hook: c.Hook, Policy: c.Policy}
				_ = json.Unmarshal(c.Prio, &ch.Priority)
				t := table(c.Family, c.Table)
				t.Chains = append(t.Chains, ch)
			case "rule":
				var r struct {
					Family, Table, Chain, Comment string
					Handle                        int
					Expr                          []json.RawMessage
				}
				if err := json.Unmarshal(raw, &r); err != nil {
					return nil, fmt.Errorf("nodestate: nft rule: %w", err)
				}
				t := table(r.Family, r.Table)
				ch := t.Chain(r.Chain)
				if ch == nil {
					ch = &NftChain{Name: r.Chain}
					t.Chains = append(t.Chains, ch)
				}
				rule := &NftRule{Handle: r.Handle, Comment: r.Comment, Expr: r.Expr}
				rule.Text = renderRule(r.Expr, r.Comment)
				ch.Rules = append(ch.Rules, rule)
			case "set", "map":
				var s struct {
					Family, Table, Name string
					Type                json.RawMessage
					Map                 string
					Flags               []string
					Elem                []json.RawMessage
				}
				if err := json.Unmarshal(raw, &s); err != nil {
					return nil, fmt.Errorf("nodestate: nft set: %w", err)
				}
				set := &NftSet{Name: s.Name, Map: s.Map, Flags: s.Flags, raw: s.Elem}
				var one string
				if json.Unmarshal(s.Type, &one) == nil {
					set.Type = []string{one}
				} else {
					_ = json.Unmarshal(s.Type, &set.Type)
				}
				for _, e := range s.Elem {
					if s.Map != "" {
						var kv []json.RawMessage
						if json.Unmarshal(e, &kv) == nil && len(kv) == 2 {
							set.Elements = append(set.Elements, renderExpr(kv[0]))
							set.Verdicts = append(set.Verdicts, renderExpr(kv[1]))
							continue
						}
					}
					set.Elements = append(set.Elements, renderExpr(e))
				}
				table(s.Family, s.Table).Sets[s.Name] = set
			}
		}
	}
	return rs, nil
}

// renderRule renders a rule's expressions roughly as `nft list ruleset` prints them.
func renderRule(exprs []json.RawMessage, comment string) string {
	parts := make([]string, 0, len(exprs)+1)
	for _, e := range exprs {
		parts = append(parts, renderStmt(e))
	}
	if comment != "" {
		parts = append(parts, fmt.Sprintf("comment %q", comment))
	}
	return strings.Join(parts, " ")
}

func renderStmt(raw json.RawMessage) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil || len(m) != 1 {
		return string(raw)
	}
	for k, v := range m {
		switch k {
		case "match":
			var mt struct {
				Op          string
				Left, Right json.RawMessage
			}
			_ = json.Unmarshal(v, &mt)
			op := mt.Op
			if op == "==" || op == "in" {
				return renderExpr(mt.Left) + " " + renderExpr(mt.Right)
			}
			return renderExpr(mt.Left) + " " + op + " " + renderExpr(mt.Right)
		case "jump", "goto":
			var t struct{ Target string }
			_ = json.Unmarshal(v, &t)
			return k + " " + t.Target
		case "return", "accept", "drop", "continue":
			return k
		case "counter":
			return "counter"
		case "vmap":
			var vm struct{ Key, Data json.RawMessage }
			_ = json.Unmarshal(v, &vm)
			return renderExpr(vm.Key) + " vmap " + renderExpr(vm.Data)
		case "dnat", "snat":
			var d struct {
				Addr json.RawMessage
				Port json.RawMessage
			}
			_ = json.Unmarshal(v, &d)
			s := k + " to " + renderExpr(d.Addr)
			if len(d.Port) > 0 {
				s += ":" + renderExpr(d.Port)
			}
			return s
		case "masquerade":
			return "masquerade"
		case "redirect":
			return "redirect"
		case "reject":
			return "reject"
		case "mangle":
			var mg struct{ Key, Value json.RawMessage }
			_ = json.Unmarshal(v, &mg)
			return renderExpr(mg.Key) + " set " + renderExpr(mg.Value)
		case "xt":
			var x struct{ Type, Name string }
			_ = json.Unmarshal(v, &x)
			return "xt " + x.Type + " " + x.Name
		}
		return k + " " + renderExpr(v)
	}
	return string(raw)
}

func renderExpr(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	var arr []json.RawMessage
	if json.Unmarshal(raw, &arr) == nil {
		parts := make([]string, len(arr))
		for i, a := range arr {
			parts[i] = renderExpr(a)
		}
		return strings.Join(parts, ", ")
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return string(raw)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := m[k]
		switch k {
		case "payload":
			var p struct{ Protocol, Field string }
			_ = json.Unmarshal(v, &p)
			return p.Protocol + " " + p.Field
		case "meta":
			var p struct{ Key string }
			_ = json.Unmarshal(v, &p)
			return "meta " + p.Key
		case "ct":
			var p struct{ Key string }
			_ = json.Unmarshal(v, &p)
			return "ct " + p.Key
		case "fib":
			var p struct {
				Result string
				Flags  json.RawMessage
			}
			_ = json.Unmarshal(v, &p)
			return "fib " + strings.ReplaceAll(renderExpr(p.Flags), ", ", " . ") + " " + p.Result
		case "concat":
			var a []json.RawMessage
			_ = json.Unmarshal(v, &a)
			parts := make([]string, len(a))
			for i, x := range a {
				parts[i] = renderExpr(x)
			}
			return strings.Join(parts, " . ")
		case "prefix":
			var p struct {
				Addr json.RawMessage
				Len  int
			}
			_ = json.Unmarshal(v, &p)
			return fmt.Sprintf("%s/%d", renderExpr(p.Addr), p.Len)
		case "range":
			var a []json.RawMessage
			_ = json.Unmarshal(v, &a)
			if len(a) == 2 {
				return renderExpr(a[0]) + "-" + renderExpr(a[1])
			}
		case "set":
			var a []json.RawMessage
			if json.Unmarshal(v, &a) != nil {
				return "{ " + renderExpr(v) + " }"
			}
			parts := make([]string, len(a))
			for i, x := range a {
				var kv []json.RawMessage
				if json.Unmarshal(x, &kv) == nil && len(kv) == 2 {
					parts[i] = renderExpr(kv[0]) + " : " + renderStmt(kv[1])
				} else {
					parts[i] = renderExpr(x)
				}
			}
			return "{ " + strings.Join(parts, ", ") + " }"
		case "elem":
			var e struct{ Val json.RawMessage }
			_ = json.Unmarshal(v, &e)
			return renderExpr(e.Val)
		case "numgen":
			var g struct {
				Mode string
				Mod  int
			}
			_ = json.Unmarshal(v, &g)
			return fmt.Sprintf("numgen %s mod %d", g.Mode, g.Mod)
		case "jump", "goto":
			return renderStmt(raw)
		case "&", "|", "^":
			var a []json.RawMessage
			_ = json.Unmarshal(v, &a)
			if len(a) == 2 {
				op := map[string]string{"&": "and", "|": "or", "^": "xor"}[k]
				return renderExpr(a[0]) + " " + op + " " + renderExpr(a[1])
			}
		}
		return k + " " + renderExpr(v)
	}
	return string(raw)
}
