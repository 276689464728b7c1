package nodestate

import "sync"

// Iptables is the IPv4 iptables ruleset of one backend, parsed from iptables-save -c.
type Iptables struct {
	// Backend is the backend these rules come from: "nft" (iptables-nft) or "legacy".
	Backend string `json:"backend"`
	// Tables by name: "nat", "filter", "mangle", "raw", "security".
	Tables map[string]*Table `json:"tables"`
	// Other holds the other backend's rules when it has rules too: both run in the kernel, which is
	// almost always a mistake (kube-proxy and the CNI write to different backends). nil otherwise.
	Other *Iptables `json:"other,omitempty"`
	// Rules counts the rules of every table.
	Rules int `json:"rules"`

	idx *iptIndex // compiled chains for WalkNAT, built on first use
}

var idxMu sync.Mutex

// index returns the compiled form of ip, building it on first use.
func (ip *Iptables) index() *iptIndex {
	idxMu.Lock()
	defer idxMu.Unlock()
	if ip.idx == nil {
		ip.idx = &iptIndex{chains: map[*Chain]*cchain{}}
	}
	return ip.idx
}

// Table is one iptables table.
type Table struct {
	Name string `json:"name"`
	// Chains by name; Order lists the names in the order iptables-save printed them.
	Chains map[string]*Chain `json:"chains"`
	Order  []string          `json:"order"`
}

// Chain is one chain with its rules in evaluation order.
type Chain struct {
	Name string `json:"name"`
	// Policy is ACCEPT/DROP for built-in chains, "" for user chains.
	Policy string    `json:"policy,omitempty"`
	Rules  []IptRule `json:"rules"`
}

// IptRule is one rule of a chain.
type IptRule struct {
	// Num is the 1-based position in the chain (iptables -L --line-numbers).
	Num int `json:"num"`
	// Raw is the rule as iptables-save printed it, from "-A CHAIN" on, counters removed.
	Raw string `json:"raw"`
	// Target is the -j or -g target ("" when the rule has none: it only counts).
	Target string `json:"target,omitempty"`
	// Goto is set for -g (return goes to the caller's caller).
	Goto bool `json:"goto,omitempty"`
	// TargetArgs are the target's options as given ("--to-destination", "10.244.1.3:80").
	TargetArgs []string `json:"targetArgs,omitempty"`
	// Comment is the -m comment text, "" when none.
	Comment string `json:"comment,omitempty"`
	// Packets and Bytes are the rule counters from iptables-save -c.
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
	// Matches are the rule's conditions in order (comment included).
	Matches []Match `json:"matches,omitempty"`
}

// Match is one condition of a rule: a built-in option (Module "") such as -s, -d, -p, -i, -o, or
// an option of a match module (-m tcp --dport 80 is Module "tcp", Option "--dport", Args ["80"]).
type Match struct {
	Module string   `json:"module,omitempty"`
	Option string   `json:"option"`
	Args   []string `json:"args,omitempty"`
	// Negate is set when the option was preceded by "!".
	Negate bool `json:"negate,omitempty"`
}

// Chain returns the named chain of the named table, or nil.
func (ip *Iptables) Chain(table, chain string) *Chain {
	if ip == nil {
		return nil
	}
	t := ip.Tables[table]
	if t == nil {
		return nil
	}
	return t.Chains[chain]
}

// TargetArg returns the value of a target option (--to-destination), "" when absent.
func (r *IptRule) TargetArg(opt string) string {
	for i, a := range r.TargetArgs {
		if a == opt && i+1 < len(r.TargetArgs) {
			return r.TargetArgs[i+1]
		}
	}
	return ""
}
