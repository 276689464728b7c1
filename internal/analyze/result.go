package analyze

import (
	"net/netip"
	"time"

	"github.com/netdoctor/netdoctor/internal/diag"
)

// Result is everything one analysis found. Slices are in the order things first appeared in the
// capture; a nil pointer field means "not seen". Findings is what a diagnoser consumes; the rest is
// the evidence behind it.
type Result struct {
	// Packets is the number of complete packets read (including ones that did not decode).
	Packets int `json:"packets"`
	// Undecoded counts packets that carried no IPv4/IPv6 header netdoctor could parse.
	Undecoded int `json:"undecoded"`
	// Truncated is true when the file ended inside a packet record (a killed capture): the complete
	// packets before it were analysed.
	Truncated bool `json:"truncated,omitempty"`
	// Warnings are things the reader wants a person to know (truncated file, limits hit).
	Warnings []string `json:"warnings,omitempty"`
	// First and Last are the timestamps of the first and last packet.
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
	// Connections holds one entry per TCP connection (a new SYN on a closed 4-tuple starts a new one).
	Connections []*Conn `json:"connections"`
	// BlackHole is set when some connection shows the path-MTU black-hole pattern; it summarises the
	// strongest evidence across connections.
	BlackHole *BlackHole `json:"blackHole,omitempty"`
	// ICMPErrors are ICMP/ICMPv6 error messages with the packet they quote.
	ICMPErrors []ICMPError `json:"icmpErrors"`
	// DNS holds one entry per DNS query (client, server, id, name and type).
	DNS []*DNSQuery `json:"dns"`
	// Tunnels lists VXLAN tunnels whose inner packets were decoded and analysed.
	Tunnels []*Tunnel `json:"tunnels,omitempty"`
	// Findings are the verdicts, most severe first. No critical or warning finding means healthy.
	Findings []diag.Finding `json:"findings"`
}

// Problem reports whether the analysis found something abnormal: a critical or warning finding.
// The CLI exits 1 exactly when this is true.
func (r *Result) Problem() bool {
	for _, f := range r.Findings {
		if f.Severity == diag.SeverityCritical || f.Severity == diag.SeverityWarning {
			return true
		}
	}
	return false
}

// Handshake is the outcome of a TCP connection's opening, as seen in the capture.
type Handshake string

// Handshake outcomes. The values are stable (they appear in JSON).
const (
	HandshakeCompleted   Handshake = "completed"      // SYN, SYN/ACK and the client's ACK (or data) seen
	HandshakeUnanswered  Handshake = "syn-unanswered" // SYNs with no reply at all
	HandshakeRefused     Handshake = "refused"        // SYN answered by RST
	HandshakeUnreachable Handshake = "icmp-error"     // SYN answered by an ICMP error quoting it
	HandshakeSYNACKLost  Handshake = "synack-lost"    // SYN/ACK seen but the client kept sending SYNs (or the server re-sent SYN/ACK) and never ACKed
	HandshakeIncomplete  Handshake = "incomplete"     // SYN/ACK seen, no final ACK, no retries (capture ended?)
	HandshakeNotSeen     Handshake = "not-seen"       // the capture started after the handshake
)

// Endpoint is an address and port as text-friendly JSON ("10.0.0.1:80").
type Endpoint = netip.AddrPort

// Conn is one TCP connection. Client is the side that sent the first SYN; without a SYN, the side
// with the higher port.
type Conn struct {
	Client Endpoint `json:"client"`
	Server Endpoint `json:"server"`
	// Tunnel is "outer-src→outer-dst vni N" when the connection was seen inside VXLAN.
	Tunnel    string    `json:"tunnel,omitempty"`
	Handshake Handshake `json:"handshake"`
	// SYNs, SYNACKs count the opening segments (more than one means retries).
	SYNs    int `json:"syns"`
	SYNACKs int `json:"synAcks"`
	// ClientMSS and ServerMSS are the MSS options of the SYN and SYN/ACK (0: not seen).
	ClientMSS int `json:"clientMss,omitempty"`
	ServerMSS int `json:"serverMss,omitempty"`
	// Resets lists who sent RSTs.
	Resets []Reset `json:"resets,omitempty"`
	// ToServer and ToClient are the two directions of data.
	ToServer Flow `json:"toServer"`
	ToClient Flow `json:"toClient"`
	// First and Last are the times of its first and last packet.
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
	// ICMPError is the first ICMP error that quoted a packet of this connection.
	ICMPError *ICMPError `json:"icmpError,omitempty"`
}

// Reset is one RST segment.
type Reset struct {
	From Endpoint  `json:"from"`
	Time time.Time `json:"time"`
	// State is what the connection was doing: "syn" (answering a SYN), "open", "closing" (after FIN).
	State string `json:"state"`
	// Packet is the 1-based packet number in the file.
	Packet int `json:"packet"`
}

// Flow is one direction of a TCP connection's data.
type Flow struct {
	// Packets and Bytes count every segment and its payload (retransmissions included).
	Packets int   `json:"packets"`
	Bytes   int64 `json:"bytes"`
	// DataSegments counts segments carrying payload; Retransmissions those that re-sent data already
	// sent (Wireshark's tcp.analysis.retransmission, fast and RTO alike).
	DataSegments    int `json:"dataSegments"`
	Retransmissions int `json:"retransmissions"`
	// BySize groups data segments by payload size, largest first.
	BySize []SizeStat `json:"bySize,omitempty"`
	// LargestAcked is the largest payload of a segment the peer acknowledged (not re-sent in other
	// pieces); LargestAckedPacket is that segment's IP packet length.
	LargestAcked       int `json:"largestAcked"`
	LargestAckedPacket int `json:"largestAckedPacket"`
	// Unacked is payload bytes sent and never acknowledged by the end of the capture.
	Unacked int64 `json:"unackedBytes"`
	// NeverAcked are the payload sizes of segments that were retransmitted and never acknowledged.
	NeverAcked []SizeStat `json:"neverAcked,omitempty"`
	// FIN is true when this side sent a FIN.
	FIN bool `json:"fin"`
}

// SizeStat counts segments of one payload size.
type SizeStat struct {
	Payload int `json:"payload"` // TCP payload bytes
	Packet  int `json:"packet"`  // IP packet length of such a segment
	Sent    int `json:"sent"`    // transmissions, first ones and retransmissions
	Retrans int `json:"retrans"` // retransmissions
	Acked   int `json:"acked"`   // segments of this size the peer acknowledged
}

// BlackHole is the path-MTU black-hole verdict: full-size segments retransmitted and never
// acknowledged while smaller ones got through, and no ICMP "fragmentation needed" seen for them.
type BlackHole struct {
	// Conn is the connection that shows it most clearly (most retransmissions).
	Conn string `json:"conn"`
	// From is the sender of the lost segments.
	From Endpoint `json:"from"`
	// NearBytes is the smallest IP packet size that never got through: the path MTU is below it.
	NearBytes int `json:"nearBytes"`
	// LargestAcked is the largest IP packet (bytes) that got through: the path MTU is at least this.
	// 0 when no data segment was acknowledged (only the handshake passed).
	LargestAcked int `json:"largestAcked"`
	// SmallestLost is the payload of the smallest segment size retransmitted and never acknowledged.
	SmallestLost int `json:"smallestLost"`
	// Retransmissions is how often segments of the lost sizes were re-sent.
	Retransmissions int `json:"retransmissions"`
	// ICMPFragNeeded counts ICMP "fragmentation needed"/"packet too big" messages seen for it.
	ICMPFragNeeded int `json:"icmpFragNeeded"`
	// Evidence are the sentences a person reads.
	Evidence []string `json:"evidence"`
}

// ICMPError is one ICMP or ICMPv6 error message.
type ICMPError struct {
	Time   time.Time  `json:"time"`
	Packet int        `json:"packet"` // 1-based packet number
	From   netip.Addr `json:"from"`   // who sent the error
	To     netip.Addr `json:"to"`
	// Type and Code are the raw values; Kind is a short name: "frag-needed", "packet-too-big",
	// "port-unreachable", "host-unreachable", "net-unreachable", "admin-prohibited",
	// "time-exceeded", "unreachable" (other codes), "param-problem".
	Type uint8  `json:"type"`
	Code uint8  `json:"code"`
	Kind string `json:"kind"`
	// MTU is the next-hop MTU announced by frag-needed / packet-too-big (0 otherwise).
	MTU int `json:"mtu,omitempty"`
	// Quoted is the 5-tuple of the packet the error quotes ("tcp 10.0.0.1:4000 → 10.0.1.1:80").
	Quoted      string   `json:"quoted"`
	QuotedProto string   `json:"quotedProto"`
	QuotedSrc   Endpoint `json:"quotedSrc"`
	QuotedDst   Endpoint `json:"quotedDst"`
	// QuotedLen is the total length field of the quoted IP packet (its size when it was dropped).
	QuotedLen int `json:"quotedLen,omitempty"`
	// Tunnel is set when the error travelled inside VXLAN.
	Tunnel string `json:"tunnel,omitempty"`
}

// DNSQuery is one DNS question and what became of it.
type DNSQuery struct {
	Client Endpoint  `json:"client"`
	Server Endpoint  `json:"server"`
	ID     uint16    `json:"id"`
	Name   string    `json:"name"`
	Type   string    `json:"type"`
	TCP    bool      `json:"tcp,omitempty"`
	Time   time.Time `json:"time"`
	// Sent counts transmissions of this query (same id, name, type); more than one means retries.
	Sent int `json:"sent"`
	// Answered is true when a response came; then RCode, Answers, Truncated and LatencyMs are set.
	Answered  bool    `json:"answered"`
	RCode     string  `json:"rcode,omitempty"`
	Answers   int     `json:"answers"`
	Truncated bool    `json:"truncated,omitempty"`
	LatencyMs float64 `json:"latencyMs,omitempty"`
	// TCPRetry is true for a truncated answer when the client then asked the same name over TCP.
	TCPRetry bool `json:"tcpRetry,omitempty"`
	// WaitedMs is how long the capture went on after an unanswered query (short waits are not
	// conclusive).
	WaitedMs float64 `json:"waitedMs,omitempty"`
}

// Tunnel is one VXLAN tunnel (outer source, destination and VNI) whose inner packets were analysed.
type Tunnel struct {
	OuterSrc netip.Addr `json:"outerSrc"`
	OuterDst netip.Addr `json:"outerDst"`
	Port     uint16     `json:"port"`
	VNI      uint32     `json:"vni"`
	Packets  int        `json:"packets"`
}

func (t *Tunnel) String() string {
	return t.OuterSrc.String() + "→" + t.OuterDst.String() + " vni " + itoa(int(t.VNI))
}
