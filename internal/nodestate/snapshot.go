package nodestate

import (
	"net/netip"
	"time"
)

// Options selects what Take reads and where host files live.
type Options struct {
	// Root is the directory host files are read under ("" means "/"): etc/cni/net.d,
	// var/lib/cni/networks, run/flannel/subnet.env, var/lib/kubelet/config.yaml.
	Root string
	// SkipIptables skips iptables-save (both backends); Snapshot.Iptables stays nil.
	SkipIptables bool
	// SkipNft skips `nft list ruleset`; Snapshot.Nft stays nil.
	SkipNft bool
	// SkipSockets skips the listening-socket dump; Snapshot.Sockets stays nil.
	SkipSockets bool
	// SkipHostFiles skips everything read under Root (CNI, IPAM, flannel, kubelet): use it for a
	// pod's namespace, whose host files are the node's.
	SkipHostFiles bool
	// CommandTimeout bounds each external command (iptables-save, nft, ipset); 0 means 10 s.
	CommandTimeout time.Duration
}

// Snapshot is the network state of one namespace at one moment. Slices are sorted (links by index,
// routes by table then destination) so two snapshots of the same state compare equal. A part that
// could not be read is nil/empty and has a line in Errors.
type Snapshot struct {
	// Netns names the namespace the snapshot was taken in ("current netns", "netns NAME", "process PID").
	Netns string `json:"netns"`
	// Taken is when Take started.
	Taken time.Time `json:"taken"`
	// Links are all interfaces with their addresses, sorted by index.
	Links []Link `json:"links"`
	// Routes are the IPv4 and IPv6 routes of every table (main 254, local 255, policy tables).
	Routes []Route `json:"routes"`
	// Rules are the policy routing rules (ip rule), IPv4 then IPv6, by priority.
	Rules []Rule `json:"rules"`
	// Neighbors are the ARP / NDP entries of every interface (all states).
	Neighbors []Neighbor `json:"neighbors"`
	// FDB are the bridge forwarding database entries (bridge fdb), including VXLAN remote entries.
	FDB []FDBEntry `json:"fdb"`
	// Sysctls are the forwarding, rp_filter, bridge-netfilter and conntrack settings of this netns.
	Sysctls Sysctls `json:"sysctls"`
	// Iptables is the IPv4 iptables ruleset of the backend in use; nil when skipped or unavailable.
	Iptables *Iptables `json:"iptables,omitempty"`
	// Nft is the nftables ruleset (every table, including iptables-nft's and kube-proxy's); nil when
	// skipped or nft is unavailable.
	Nft *NftRuleset `json:"nft,omitempty"`
	// IPSets are the ipset sets by name (used by `-m set --match-set`); nil when ipset is absent.
	IPSets map[string]*IPSet `json:"ipsets,omitempty"`
	// CNI is the CNI configuration and host-local IPAM state under Root; nil when skipped.
	CNI *CNIState `json:"cni,omitempty"`
	// Flannel is run/flannel/subnet.env under Root, nil when absent.
	Flannel *FlannelSubnet `json:"flannel,omitempty"`
	// Kubelet holds the few kubelet config fields the checks use, nil when the file is absent.
	Kubelet *KubeletConfig `json:"kubelet,omitempty"`
	// Sockets are the listening TCP sockets and bound UDP sockets (IPv4 and IPv6).
	Sockets []Socket `json:"sockets,omitempty"`
	// Errors are the parts that could not be read, one line each ("iptables-save: ...").
	Errors []string `json:"errors,omitempty"`
}

// Link is one interface.
type Link struct {
	Index int `json:"index"`
	// Name is the interface name; Alias its ifalias when set.
	Name  string `json:"name"`
	Alias string `json:"alias,omitempty"`
	// Type is the netlink kind: "veth", "bridge", "vxlan", "device", "dummy", "ipip", …
	Type string `json:"type"`
	// State is the operational state: "up", "down", "unknown", "lowerlayerdown", …
	State string `json:"state"`
	// Up is the administrative flag (ip link set X up).
	Up  bool `json:"up"`
	MTU int  `json:"mtu"`
	// Master is the name of the bridge / bond / VRF this link is enslaved to, "" if none.
	Master string `json:"master,omitempty"`
	MAC    string `json:"mac,omitempty"`
	// Addrs are the link's IPv4 and IPv6 addresses in kernel order (primary before secondary).
	Addrs []Addr `json:"addrs,omitempty"`
	// PeerIndex is the ifindex of the other end of a veth (in PeerNetnsID's namespace); 0 if not a veth.
	PeerIndex int `json:"peerIndex,omitempty"`
	// PeerNetnsID is the netns id (ip netns list-id) the veth peer lives in, as seen from this
	// namespace; -1 when the peer is in the same namespace or unknown.
	PeerNetnsID int `json:"peerNetnsId,omitempty"`
	// VXLAN holds the VXLAN parameters when Type is "vxlan".
	VXLAN *VXLAN `json:"vxlan,omitempty"`
}

// Addr is an interface address with its flags.
type Addr struct {
	// IP is the address; Prefix the address with its prefix length (10.0.0.5/24, not masked).
	IP     netip.Addr   `json:"ip"`
	Prefix netip.Prefix `json:"prefix"`
	// Secondary is set for every address after the first in the same subnet on the same link.
	Secondary bool `json:"secondary,omitempty"`
	// Dynamic is set for addresses with a finite lifetime (DHCP, SLAAC, valid_lft != forever).
	Dynamic bool `json:"dynamic,omitempty"`
	// Permanent is IFA_F_PERMANENT (configured, not learned).
	Permanent bool `json:"permanent,omitempty"`
	// ValidLft/PreferredLft are the remaining lifetimes; 0 means forever.
	ValidLft     time.Duration `json:"validLft,omitempty"`
	PreferredLft time.Duration `json:"preferredLft,omitempty"`
	// Label is the address label (eth0:1), "" when it equals the link name.
	Label string `json:"label,omitempty"`
}

// VXLAN are a VXLAN device's parameters.
type VXLAN struct {
	VNI int `json:"vni"`
	// Local is the source address of encapsulated packets; invalid when unset (kernel picks by route).
	Local netip.Addr `json:"local,omitempty"`
	// Group is the remote / multicast group for unknown destinations, invalid when unset.
	Group netip.Addr `json:"group,omitempty"`
	// Dev is the underlay device packets leave through, "" when unset.
	Dev string `json:"dev,omitempty"`
	// Port is the UDP destination port (4789 IANA, 8472 flannel / Linux default).
	Port     int  `json:"port"`
	Learning bool `json:"learning"`
}

// Route is one route of any table.
type Route struct {
	// Table is the routing table id (254 main, 255 local).
	Table int `json:"table"`
	// Dst is the destination prefix; 0.0.0.0/0 or ::/0 for the default route.
	Dst netip.Prefix `json:"dst"`
	// Gw is the next hop, invalid for on-link routes. For multipath routes, the first path's.
	Gw  netip.Addr `json:"gw,omitempty"`
	Dev string     `json:"dev,omitempty"`
	// Src is the preferred source address, invalid when unset.
	Src netip.Addr `json:"src,omitempty"`
	// Type is unicast, local, broadcast, blackhole, unreachable, prohibit, throw, multicast, anycast.
	Type string `json:"type"`
	// Proto is who installed it: kernel, boot, static, dhcp, bird, …
	Proto  string `json:"proto,omitempty"`
	Scope  string `json:"scope,omitempty"`
	Onlink bool   `json:"onlink,omitempty"`
	// MTU is the route's mtu metric, 0 when unset.
	MTU    int `json:"mtu,omitempty"`
	Metric int `json:"metric,omitempty"`
	// Multipath lists the next hops of an ECMP route ("via GW dev DEV").
	Multipath []string `json:"multipath,omitempty"`
}

// Rule is one policy-routing rule (ip rule).
type Rule struct {
	Family   int `json:"family"` // 4 or 6
	Priority int `json:"priority"`
	// Table is the table looked up; 0 for rules whose action is not a look-up.
	Table int `json:"table"`
	// Action is "lookup" (Table set), "goto", or "other" (blackhole, unreachable, prohibit or
	// nop: the netlink library does not tell these apart).
	Action string       `json:"action"`
	Src    netip.Prefix `json:"src,omitempty"`
	Dst    netip.Prefix `json:"dst,omitempty"`
	Iif    string       `json:"iif,omitempty"`
	Oif    string       `json:"oif,omitempty"`
	// Mark/Mask select fwmark; Mask 0 means no fwmark match.
	Mark   uint32 `json:"mark,omitempty"`
	Mask   uint32 `json:"mask,omitempty"`
	Invert bool   `json:"invert,omitempty"`
	// SuppressPrefixlen is -1 when unset.
	SuppressPrefixlen int `json:"suppressPrefixlen,omitempty"`
}

// Neighbor is one ARP / NDP entry.
type Neighbor struct {
	Dev string     `json:"dev"`
	IP  netip.Addr `json:"ip"`
	// MAC is "" for INCOMPLETE / FAILED entries.
	MAC string `json:"mac,omitempty"`
	// State is the NUD state: PERMANENT, REACHABLE, STALE, DELAY, PROBE, FAILED, INCOMPLETE, NOARP.
	State string `json:"state"`
}

// FDBEntry is one bridge forwarding database entry.
type FDBEntry struct {
	// Dev is the port (a bridge port or a VXLAN device).
	Dev string `json:"dev"`
	// Master is the bridge the entry belongs to, "" for entries in the device's own table (self).
	Master string `json:"master,omitempty"`
	MAC    string `json:"mac"`
	// Dst is the remote VTEP of a VXLAN entry, invalid otherwise.
	Dst       netip.Addr `json:"dst,omitempty"`
	Self      bool       `json:"self,omitempty"`
	Permanent bool       `json:"permanent,omitempty"`
	// VNI is the entry's VNI when set explicitly (0 = the device's).
	VNI  int `json:"vni,omitempty"`
	Vlan int `json:"vlan,omitempty"`
}

// Sysctls are the kernel settings of the namespace that decide forwarding and filtering.
type Sysctls struct {
	// IPForward is net.ipv4.ip_forward.
	IPForward bool `json:"ipForward"`
	// Forwarding and RPFilter are net.ipv4.conf.<dev>.forwarding / rp_filter for "all", "default"
	// and every link. rp_filter: 0 off, 1 strict, 2 loose (the kernel uses max(all, dev)).
	Forwarding map[string]int `json:"forwarding"`
	RPFilter   map[string]int `json:"rpFilter"`
	// BridgeNFCallIptables is net.bridge.bridge-nf-call-iptables; nil when br_netfilter is not loaded.
	BridgeNFCallIptables *bool `json:"bridgeNfCallIptables,omitempty"`
	// ConntrackCount / ConntrackMax are net.netfilter.nf_conntrack_count / _max; -1 when conntrack
	// is not loaded.
	ConntrackCount int `json:"conntrackCount"`
	ConntrackMax   int `json:"conntrackMax"`
}

// Socket is a listening TCP socket or a bound UDP socket.
type Socket struct {
	Proto string         `json:"proto"` // "tcp" or "udp"
	Local netip.AddrPort `json:"local"`
	State string         `json:"state"` // "LISTEN" for tcp, "UNCONN" for udp
	// Inode is the socket inode (to find the owning process), 0 when unknown.
	Inode uint32 `json:"inode,omitempty"`
}

// FlannelSubnet is flannel's run/flannel/subnet.env.
type FlannelSubnet struct {
	File    string       `json:"file"`
	Network netip.Prefix `json:"network"` // FLANNEL_NETWORK
	Subnet  netip.Prefix `json:"subnet"`  // FLANNEL_SUBNET (the node's pod CIDR, gateway address form)
	MTU     int          `json:"mtu"`     // FLANNEL_MTU
	IPMasq  bool         `json:"ipMasq"`  // FLANNEL_IPMASQ
}

// KubeletConfig is the part of var/lib/kubelet/config.yaml the checks use.
type KubeletConfig struct {
	File          string   `json:"file"`
	ClusterDNS    []string `json:"clusterDNS,omitempty"`
	ClusterDomain string   `json:"clusterDomain,omitempty"`
	ResolvConf    string   `json:"resolvConf,omitempty"`
}

// IPSet is one ipset set (from `ipset save`).
type IPSet struct {
	Name string `json:"name"`
	// Type is hash:ip, hash:net, hash:ip,port, …
	Type    string   `json:"type"`
	Members []string `json:"members"`
}
