package drops

import (
	"strings"

	"github.com/netdoctor/netdoctor/internal/diag"
)

// meaning is what a drop reason tells a person: the failure kind it points at, whether it is the
// fault itself (critical) or a symptom of load (warning), and the cause and fix in words.
type meaning struct {
	kind  diag.Kind // "" = the symptom's own kind
	sev   diag.Severity
	cause string
	fix   string
}

// explain maps a kernel drop reason (enum skb_drop_reason without its prefix) to its meaning.
func explain(reason string) meaning {
	crit := diag.SeverityCritical
	switch {
	case reason == "NETFILTER_DROP":
		return meaning{sev: diag.SeverityInfo,
			cause: "A netfilter rule (iptables or nftables) dropped the packets; the firewall check names the rule by its counters.",
			fix:   "See the firewall finding for the rule to remove or narrow."}
	case reason == "NO_SOCKET" || reason == "SOCKET_FILTER":
		return meaning{kind: diag.KindPortUnreachable, sev: crit,
			cause: "The packets reached the host, but no socket listens on the destination port (or the listener is bound to another address).",
			fix:   "Start the server, or make it listen on the port and address the Service's targetPort points at (0.0.0.0, not 127.0.0.1)."}
	case reason == "IP_RPFILTER":
		return meaning{kind: diag.KindNetworkUnreachable, sev: crit,
			cause: "Reverse-path filtering (rp_filter) dropped the packets: the route back to their source does not leave through the interface they came in on.",
			fix:   "Fix the route back to the source (asymmetric routing, a missing pod-CIDR route), or set net.ipv4.conf.<if>.rp_filter=2 (loose) on that interface."}
	case reason == "IP_INNOROUTES" || reason == "IP_OUTNOROUTES" || reason == "IP_INADDRERRORS":
		return meaning{kind: diag.KindNetworkUnreachable, sev: crit,
			cause: "The kernel has no route for the packets' destination in this namespace.",
			fix:   "Add the missing route (the pod CIDR of the destination node, or a default route), or fix the CNI that should install it."}
	case strings.HasPrefix(reason, "NEIGH_"):
		return meaning{kind: diag.KindNetworkUnreachable, sev: crit,
			cause: "Neighbour resolution failed: the next hop did not answer ARP/NDP, so the packets queued for it were dropped.",
			fix:   "Check that the next hop exists and is up on that link (its address, the link, a stale static neighbour entry)."}
	case reason == "PKT_TOO_BIG" || strings.HasPrefix(reason, "FRAG") || reason == "IP_FRAGFAILS":
		return meaning{kind: diag.KindLargePacketLoss, sev: crit,
			cause: "The packets are larger than the MTU of the next link and carry don't-fragment, so the kernel dropped them (and sent frag-needed, if ICMP is allowed back).",
			fix:   "Make the MTUs agree: lower the pod/client MTU to the tunnel's, raise the underlay MTU, or clamp the TCP MSS; and let ICMP frag-needed through."}
	case strings.HasPrefix(reason, "VXLAN_") || strings.HasPrefix(reason, "TUNNEL_") || reason == "MAC_INVALID_SOURCE" || reason == "VXLAN_VNI_NOT_FOUND":
		return meaning{kind: diag.KindCNIKubeProxy, sev: crit,
			cause: "The VXLAN overlay dropped the packets (" + reason + "): a VNI, source or forwarding entry the tunnel does not know.",
			fix:   "Check the VXLAN device of both nodes (VNI, local address, port) and its FDB/neighbour entries; restart the CNI agent so it rewrites them."}
	case reason == "OTHERHOST" || reason == "UNICAST_IN_L2_MULTICAST" || reason == "IP_INVALID_DEST" || reason == "INVALID_PROTO":
		return meaning{kind: diag.KindNetworkUnreachable, sev: crit,
			cause: "The packets reached a host that is not their destination at layer 2 or 3 (" + reason + "): a wrong MAC or address on the path.",
			fix:   "Check the neighbour entries and addresses on the path (a duplicate IP, a stale ARP entry)."}
	case strings.HasPrefix(reason, "TCP_"):
		return meaning{sev: diag.SeverityWarning,
			cause: "TCP itself discarded the segments (" + reason + "), usually a connection out of sync or reset.",
			fix:   "Look at the connection's state on both ends (conntrack, a half-closed socket, a middlebox rewriting sequence numbers)."}
	case strings.Contains(reason, "QDISC") || strings.Contains(reason, "BACKLOG") || strings.Contains(reason, "RCVBUFF") || reason == "FULL_RING" || reason == "NOMEM":
		return meaning{sev: diag.SeverityWarning,
			cause: "A queue or buffer overflowed (" + reason + "): the host could not keep up.",
			fix:   "Reduce the load or raise the queue or buffer size (net.core.netdev_max_backlog, the socket's receive buffer, the qdisc limit)."}
	}
	return meaning{sev: diag.SeverityWarning,
		cause: "The kernel dropped the packets (" + reason + ").",
		fix:   "Look up the reason in the kernel's enum skb_drop_reason (include/net/dropreason-core.h) and at the function that dropped them."}
}
