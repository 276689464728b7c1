package nodestate

import "encoding/json"

// NftRuleset is the nftables ruleset of a namespace (`nft -j list ruleset`), every family.
type NftRuleset struct {
	Tables []*NftTable `json:"tables"`
}

// NftTable is one nftables table.
type NftTable struct {
	// Family is ip, ip6, inet, arp, bridge or netdev.
	Family string      `json:"family"`
	Name   string      `json:"name"`
	Chains []*NftChain `json:"chains"`
	// Sets holds the named sets and maps of the table by name (kube-proxy's service-ips map…).
	Sets map[string]*NftSet `json:"sets,omitempty"`
	// KubeProxy is set for the table kube-proxy's nftables mode writes ("ip kube-proxy").
	KubeProxy bool `json:"kubeProxy,omitempty"`
	// IptablesNft is set for the tables iptables-nft owns (ip/ip6 filter, nat, mangle, raw,
	// security while the nft backend holds rules): their rules are in Snapshot.Iptables, so they
	// are listed here without chains (nft needs seconds to print a kube-proxy-sized one).
	IptablesNft bool `json:"iptablesNft,omitempty"`
}

// NftChain is one chain; a base chain has a Hook.
type NftChain struct {
	Name string `json:"name"`
	// Type is filter, nat or route for base chains, "" for regular chains.
	Type     string     `json:"type,omitempty"`
	Hook     string     `json:"hook,omitempty"`
	Priority int        `json:"priority,omitempty"`
	Policy   string     `json:"policy,omitempty"`
	Rules    []*NftRule `json:"rules"`
}

// NftRule is one rule: its handle, its text as nft prints it (rendered from JSON) and its
// expressions in nft's JSON form, which WalkNAT evaluates.
type NftRule struct {
	Handle  int               `json:"handle"`
	Text    string            `json:"text"`
	Comment string            `json:"comment,omitempty"`
	Expr    []json.RawMessage `json:"expr,omitempty"`
}

// NftSet is a named set or map. Elements are rendered as nft prints them ("10.96.0.10 . tcp . 53");
// for a verdict map Verdicts[i] is the verdict of Elements[i] ("goto service-…").
type NftSet struct {
	Name     string   `json:"name"`
	Type     []string `json:"type"`
	Map      string   `json:"map,omitempty"`
	Flags    []string `json:"flags,omitempty"`
	Elements []string `json:"elements,omitempty"`
	Verdicts []string `json:"verdicts,omitempty"`
	// raw keeps the JSON elements for evaluation.
	raw []json.RawMessage
}

// Table returns the table family/name, or nil.
func (n *NftRuleset) Table(family, name string) *NftTable {
	if n == nil {
		return nil
	}
	for _, t := range n.Tables {
		if t.Family == family && t.Name == name {
			return t
		}
	}
	return nil
}

// Chain returns the named chain of the table, or nil.
func (t *NftTable) Chain(name string) *NftChain {
	if t == nil {
		return nil
	}
	for _, c := range t.Chains {
		if c.Name == name {
			return c
		}
	}
	return nil
}
