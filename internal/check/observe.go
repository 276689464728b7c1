package check

import (
	"net/netip"
	"time"
)

// Observations are the symptom probes' results, in the plain form checks reason on. The engine fills
// them from the probe packages; checks never run the symptom probes again.
type Observations struct {
	DNS   *DNSObs   // the name resolved as the client would (nil when the target was no name)
	ICMP  *ICMPObs  // small echo to the target IP (nil for ClusterIPs, which do not answer ICMP)
	TCP   *TCPObs   // connects to IP:port (nil without a port)
	UDP   *UDPObs   // a UDP exchange (DNS over UDP to a :53 target)
	Large *LargeObs // a large transfer or DF echo (nil when not run)
	PMTU  *PMTUObs  // path-MTU discovery (nil when not run)
}

// ICMPObs summarises pings.
type ICMPObs struct {
	Target   netip.Addr
	Size     int  // payload bytes
	DF       bool // don't-fragment set
	Sent     int
	Received int
	// Outcome: ok, partial (some lost), timeout (all lost silently), unreachable, frag-needed,
	// prohibited, time-exceeded.
	Outcome   string
	ErrorFrom netip.Addr // who sent the ICMP error, if any
	MTU       int        // MTU announced by frag-needed
	Detail    string
	RTT       time.Duration
}

// TCPObs summarises TCP connects.
type TCPObs struct {
	Addr      netip.AddrPort
	Sent      int
	Connected int
	Refused   int
	Timeout   int
	Unreach   int
	// Outcome is the dominant result: connected, refused, timeout, unreachable, partial.
	Outcome string
	Reason  string     // e.g. "admin-prohibited from 10.0.0.1"
	From    netip.Addr // sender of an ICMP error
	RTT     time.Duration
}

// UDPObs summarises a UDP request/response exchange.
type UDPObs struct {
	Addr     netip.AddrPort
	Sent     int
	Answered int
	Outcome  string // answered, timeout, unreachable (ICMP port unreachable), refused
	Detail   string
}

// DNSQuery is a query a check wants sent.
type DNSQuery struct {
	Name   string
	Type   string         // A (default), AAAA, SRV…
	Server netip.AddrPort // invalid: the vantage point's resolv.conf
	TCP    bool
}

// DNSObs summarises a resolution.
type DNSObs struct {
	Name     string
	Resolved bool
	Addrs    []netip.Addr
	// Outcome: ok, nxdomain, servfail, timeout, refused, unreachable, nodata.
	Outcome string
	// Server is the server that gave the final answer (or the last one tried).
	Server string
	// Queries are the queries sent, one line each ("web.default.svc.cluster.local A @10.96.0.10 udp → timeout").
	Queries []string
	// ResolvConf is the client's resolver configuration as read.
	Nameservers []netip.Addr
	Search      []string
	Ndots       int
	ResolvPath  string
	TCPTried    bool
	Truncated   bool
}

// LargeObs summarises a large transfer: handshake, a small request, then a large one.
type LargeObs struct {
	Addr        netip.AddrPort
	Handshake   bool
	SmallOK     bool
	Bytes       int    // bytes written in the large request
	Acked       int    // bytes the peer acknowledged within the wait
	Retransmits int    // retransmitted segments seen by the kernel (TCP_INFO)
	MSS         int    // the connection's send MSS
	PMTU        int    // the kernel's path MTU for the connection
	Outcome     string // ok, stalled, failed
	Detail      string
}

// PMTUObs summarises path-MTU discovery.
type PMTUObs struct {
	Target       netip.Addr
	LocalMTU     int
	PathMTU      int
	FragNeeded   bool
	FragFrom     netip.Addr
	FragMTU      int
	BlackHole    bool
	LargestOK    int // largest packet size that passed (IP bytes)
	SmallestLost int // smallest size that vanished (IP bytes)
	Probes       int
	Detail       string
}
