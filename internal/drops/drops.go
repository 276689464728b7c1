// Package drops traces kernel packet drops: every skb the kernel frees as dropped, with the drop
// reason (enum skb_drop_reason), the kernel location that dropped it (symbolised with
// /proc/kallsyms), the network namespace and device, and the packet's addresses, ports and
// protocol.
//
// Two modes, and the tracer says which one ran:
//   - ModeEBPF: a BTF tracepoint program (tp_btf/kfree_skb, built with bpf2go from bpf/drops.c and
//     committed) attached only while the Tracer is open. It reads the skb and never changes
//     anything; namespaces are filtered in the kernel, the tcpdump filter in user space.
//   - ModeTracefs: when eBPF is not allowed, the skb:kfree_skb trace event through a private
//     tracefs mount and a private ftrace instance: reason and location only, no packet, no netns.
//
// Events are aggregated per (netns, flow, reason, location) by Aggregate.
package drops

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Mode is how drops are traced; it appears in text and JSON output.
type Mode string

// Modes.
const (
	// ModeAuto tries eBPF first and falls back to tracefs (only as an Options value).
	ModeAuto Mode = ""
	// ModeEBPF is the BTF tracepoint program: reason, location, netns, device and packet.
	ModeEBPF Mode = "ebpf"
	// ModeTracefs is the skb:kfree_skb trace event: reason and location only.
	ModeTracefs Mode = "tracefs"
)

// Errors callers branch on.
var (
	// ErrNotSupported is returned on systems without the kernel tracing drops needs (or not Linux).
	ErrNotSupported = errors.New("drops: kernel drop tracing is not supported here")
	// ErrPermission is returned when neither eBPF nor tracefs may be used (needs CAP_BPF and
	// CAP_PERFMON, or CAP_SYS_ADMIN for tracefs).
	ErrPermission = errors.New("drops: tracing kernel drops needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN): run as root or through the node agent")
	// ErrNeedsPacket is returned when a packet filter or a namespace selection is asked of the
	// tracefs mode, which sees neither packets nor namespaces.
	ErrNeedsPacket = errors.New("drops: the tracefs fallback sees no packet and no namespace, so a filter or a namespace selection cannot be applied")
)

// Options select what a Tracer reports.
type Options struct {
	// Netns lists the namespace inode numbers whose drops are reported; empty means every
	// namespace. Filtered in the kernel (eBPF mode only).
	Netns []uint64
	// Filter is a tcpdump (pcap-filter) expression matched against the dropped packet; "" matches
	// every drop (eBPF mode only).
	Filter string
	// Mode forces a mode; ModeAuto tries eBPF, then tracefs.
	Mode Mode
	// Names maps namespace inodes to names ("node2", "pod default/web-1"); namespaces not in it are
	// named by Namer (named netns, process, "host").
	Names map[uint64]string
	// Buffer is the channel capacity for events (default 4096). Events that do not fit are counted
	// as lost, never block the kernel.
	Buffer int
}

// Event is one dropped packet.
type Event struct {
	Time time.Time `json:"time"`
	// NetnsInode is the namespace's inode number (0: unknown, always in tracefs mode); Netns its
	// name when known ("node2", "lab-a", "pid 1234 (nginx)", "host"), else "netns:[INODE]".
	NetnsInode uint64 `json:"netns_inode,omitempty"`
	Netns      string `json:"netns,omitempty"`
	// Device is the skb's device at the time of the drop ("" when it had none).
	Device  string `json:"device,omitempty"`
	Ifindex int    `json:"ifindex,omitempty"`
	// Reason is the drop reason without its SKB_DROP_REASON_ prefix (NETFILTER_DROP, NO_SOCKET);
	// ReasonCode its kernel value.
	Reason     string `json:"reason"`
	ReasonCode uint32 `json:"reason_code"`
	// Location is the kernel function and offset that dropped the skb ("nft_do_chain+0x2f4");
	// Function is the function alone.
	Location string `json:"location"`
	Function string `json:"function"`
	// Len is the skb length in bytes (0 in tracefs mode).
	Len int `json:"len,omitempty"`
	// Flow is what the packet headers say (zero in tracefs mode).
	Flow Flow `json:"flow"`
	// Packet holds the first bytes of the packet from its network header (eBPF mode).
	Packet []byte `json:"-"`
}

// Flow is a dropped packet's addresses, ports and protocol.
type Flow struct {
	// Family is "ipv4", "ipv6", "arp", or the EtherType in hex ("0x88cc"); "" when unknown.
	Family string `json:"family,omitempty"`
	// Proto is tcp, udp, icmp, icmpv6, or the IP protocol number; "" for non-IP.
	Proto   string     `json:"proto,omitempty"`
	Src     netip.Addr `json:"src,omitzero"`
	Dst     netip.Addr `json:"dst,omitzero"`
	SrcPort uint16     `json:"sport,omitempty"`
	DstPort uint16     `json:"dport,omitempty"`
	// Info holds protocol details: TCP flags ("S", "S.", "R"), ICMP type/code ("echo request",
	// "unreachable 3/4"), "DF" for IPv4 packets with don't-fragment, and the IP total length.
	Info string `json:"info,omitempty"`
}

// String is the flow in tcpdump's style: "10.0.0.1.40000 > 10.0.0.2.80 tcp S".
func (f Flow) String() string {
	if !f.Src.IsValid() {
		if f.Family == "" {
			return "(no packet)"
		}
		return f.Family
	}
	ep := func(a netip.Addr, p uint16) string {
		if p == 0 || f.Proto != "tcp" && f.Proto != "udp" {
			return a.String()
		}
		return a.String() + "." + strconv.Itoa(int(p))
	}
	s := ep(f.Src, f.SrcPort) + " > " + ep(f.Dst, f.DstPort) + " " + f.Proto
	if f.Info != "" {
		s += " " + f.Info
	}
	return s
}

// flowKey is the flow without per-packet details (TCP flags, lengths), for aggregation.
type flowKey struct {
	family, proto    string
	src, dst         netip.Addr
	srcPort, dstPort uint16
}

func (f Flow) key() flowKey {
	return flowKey{f.Family, f.Proto, f.Src, f.Dst, f.SrcPort, f.DstPort}
}

// ReasonName strips the SKB_DROP_REASON_ prefix of an enum name.
func ReasonName(enum string) string { return strings.TrimPrefix(enum, "SKB_DROP_REASON_") }
