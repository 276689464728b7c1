package nodestate

import "net/netip"

// Packet is the first packet of a connection, as WalkNAT follows it.
type Packet struct {
	// Src is the source address; invalid means "some address not local to the node" (a pod
	// elsewhere) for a forwarded packet, or the node's primary address for a local one.
	Src netip.Addr `json:"src,omitempty"`
	Dst netip.Addr `json:"dst"`
	// Proto is "tcp", "udp" or "sctp".
	Proto   string `json:"proto"`
	DstPort uint16 `json:"dstPort"`
	// SrcPort is the source port; 0 means an ephemeral port that no port match depends on.
	SrcPort uint16 `json:"srcPort,omitempty"`
	// InIface is the interface the packet arrives on (cni0, eth0) for PREROUTING; "" with Local.
	InIface string `json:"inIface,omitempty"`
	// Local marks a packet generated on this host (a hostNetwork process): it takes OUTPUT instead
	// of PREROUTING.
	Local bool `json:"local,omitempty"`
	// Mark is the packet mark on entry (0 normally).
	Mark uint32 `json:"mark,omitempty"`
}

// NATWalk is what the NAT table does to a Packet, step by step.
type NATWalk struct {
	Packet Packet `json:"packet"`
	// Backend is the ruleset walked: "iptables-nft", "iptables-legacy", "nftables" (kube-proxy's
	// nftables mode table or another nat base chain), or "" when there are no NAT rules at all.
	Backend string `json:"backend"`
	// Steps are the rules that matched (or could not be evaluated), in the order the kernel meets them.
	Steps []NATStep `json:"steps"`
	// Endpoints are the DNAT destinations the packet can get, each with its probability (they sum
	// to 1 when every branch ends in a DNAT).
	Endpoints []Endpoint `json:"endpoints,omitempty"`
	// Matched is set when some DNAT (or REDIRECT) rule applies to the packet.
	Matched bool `json:"matched"`
	// Masquerade is set when POSTROUTING would SNAT/MASQUERADE the packet (after DNAT, with the
	// marks the walk set) on at least one branch.
	Masquerade bool `json:"masquerade"`
	// Service is the kube-proxy service the packet hit ("default/web:http"), from rule comments or
	// nftables chain names; "" when none.
	Service string `json:"service,omitempty"`
	// Rejected is set when kube-proxy rejects or drops the packet (a service without endpoints):
	// the rule that does it, "" otherwise.
	Rejected string `json:"rejected,omitempty"`
	// Unevaluable lists rules whose matches the walker cannot evaluate ("cannot evaluate rule 3 of
	// nat/cali-PREROUTING: -m rpfilter"). The walk follows both outcomes of such a rule and marks
	// what it finds behind it Uncertain.
	Unevaluable []string `json:"unevaluable,omitempty"`
	// Notes are other facts worth showing (both iptables backends in use, step budget reached…).
	Notes []string `json:"notes,omitempty"`
}

// NATStep is one rule the packet meets.
type NATStep struct {
	// Table is the iptables table (nat, filter) or the nft "family table".
	Table string `json:"table"`
	Chain string `json:"chain"`
	// RuleNum is the rule's position in the chain (1-based) or its nft handle.
	RuleNum int    `json:"ruleNum"`
	Rule    string `json:"rule"`
	// Verdict says what the rule does to this packet: "jump KUBE-SVC-…", "DNAT 10.244.1.3:80",
	// "MARK 0x4000", "MASQUERADE", "probability 0.33333 → jump KUBE-SEP-…", "cannot evaluate".
	Verdict string `json:"verdict"`
	// Probability is the probability that the packet reaches this step (1 on the main path).
	Probability float64 `json:"probability"`
	// Depth is the call depth (0 for the base chain), for indentation.
	Depth int `json:"depth"`
	// Uncertain is set on steps behind a rule the walker could not evaluate (assumed to match).
	Uncertain bool `json:"uncertain,omitempty"`
}

// Endpoint is one DNAT destination.
type Endpoint struct {
	Addr        netip.AddrPort `json:"addr"`
	Probability float64        `json:"probability"`
	// Chain is the chain holding the DNAT rule (KUBE-SEP-…, endpoint-…).
	Chain string `json:"chain"`
	// Uncertain is set when the path to it crosses a rule the walker could not evaluate.
	Uncertain bool `json:"uncertain,omitempty"`
}
