package analyze

import (
	"fmt"
	"sort"
	"strings"

	"github.com/netdoctor/netdoctor/internal/diag"
)

// Check names of the findings this package makes (stable: they appear in JSON).
const (
	CheckBlackHole   = "pcap-pmtu-blackhole"
	CheckHandshake   = "pcap-tcp-handshake"
	CheckReset       = "pcap-tcp-reset"
	CheckRetransmits = "pcap-tcp-retransmissions"
	CheckICMP        = "pcap-icmp-error"
	CheckDNS         = "pcap-dns"
)

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

// Result computes the verdicts over every packet added so far. It may be called more than once.
func (a *Analyzer) Result() *Result {
	res := a.res
	res.Warnings = append([]string(nil), a.res.Warnings...)
	res.Connections = nil
	for _, cs := range a.order {
		cs.finish()
		res.Connections = append(res.Connections, cs.c)
	}
	for _, q := range res.DNS {
		if !q.Answered {
			q.WaitedMs = float64(res.Last.Sub(q.Time).Microseconds()) / 1000
		}
	}
	if a.overConns > 0 {
		res.Warnings = append(res.Warnings, sprintf("%d TCP packets of connections beyond the first %d were not analysed", a.overConns, a.opts.MaxConns))
	}
	if a.overQueries > 0 {
		res.Warnings = append(res.Warnings, sprintf("%d DNS queries beyond the first %d were not analysed", a.overQueries, a.opts.MaxQueries))
	}
	if a.gsoSeen {
		res.Warnings = append(res.Warnings, "the capture holds TSO/GSO super-segments larger than the MSS (captured on the sending host): they are left out of the largest-ACKed size")
	}
	res.Findings = nil
	res.BlackHole = a.blackHole()
	if bh := res.BlackHole; bh != nil {
		res.Findings = append(res.Findings, diag.Finding{
			Check: CheckBlackHole, Kind: diag.KindLargePacketLoss, Severity: diag.SeverityCritical,
			Hop:      diag.Hop{Where: "path from " + bh.From.Addr().String()},
			Title:    sprintf("likely path-MTU black hole near %d bytes", bh.NearBytes),
			Evidence: bh.Evidence,
			Cause:    sprintf("packets of %d bytes from %s vanish on the path and no ICMP fragmentation-needed tells the sender to shrink them, while smaller packets get through", bh.NearBytes, bh.From.Addr()),
			Fix:      sprintf("make the MTU of the sender's interface (pod/node or outside host) match the smallest MTU on the path (below %d), or clamp the TCP MSS on the path, or let ICMP fragmentation-needed through the firewall that drops it", bh.NearBytes),
		})
	}
	res.Findings = append(res.Findings, a.handshakeFindings(res.Connections)...)
	res.Findings = append(res.Findings, a.connFindings(res.BlackHole)...)
	res.Findings = append(res.Findings, icmpFindings(res.ICMPErrors)...)
	res.Findings = append(res.Findings, dnsFindings(res.DNS)...)
	sort.SliceStable(res.Findings, func(i, j int) bool {
		return res.Findings[i].Severity.Rank() < res.Findings[j].Severity.Rank()
	})
	if res.Findings == nil {
		res.Findings = []diag.Finding{}
	}
	if res.Connections == nil {
		res.Connections = []*Conn{}
	}
	if res.ICMPErrors == nil {
		res.ICMPErrors = []ICMPError{}
	}
	if res.DNS == nil {
		res.DNS = []*DNSQuery{}
	}
	return &res
}

func connName(c *Conn) string {
	s := c.Client.String() + " → " + c.Server.String()
	if c.Tunnel != "" {
		s += " (in VXLAN " + c.Tunnel + ")"
	}
	return s
}

// blackHole picks the direction with the clearest black-hole pattern.
func (a *Analyzer) blackHole() *BlackHole {
	var best *BlackHole
	for _, cs := range a.order {
		c := cs.c
		if c.Handshake != HandshakeCompleted && c.Handshake != HandshakeNotSeen {
			continue
		}
		for _, d := range cs.d {
			f := d.f
			if len(f.NeverAcked) == 0 {
				continue
			}
			lost := f.NeverAcked[0] // smallest size retransmitted and never ACKed
			retrans := 0
			for _, st := range f.NeverAcked {
				retrans += st.Retrans
			}
			if retrans < 2 || lost.Payload <= f.LargestAcked || lost.Packet <= 576 {
				continue
			}
			if !d.peerAfterLoss && f.LargestAcked == 0 {
				continue // the peer fell silent and nothing ever got through: an outage, not a size
			}
			bh := &BlackHole{
				Conn: connName(c), From: d.from, NearBytes: lost.Packet, LargestAcked: f.LargestAckedPacket,
				SmallestLost: lost.Payload, Retransmissions: retrans, ICMPFragNeeded: len(cs.fragNeeded),
			}
			ev := []string{sprintf("%s: segments of %d bytes payload (%d-byte packets) from %s retransmitted %d× and never ACKed",
				bh.Conn, lost.Payload, lost.Packet, d.from, lost.Retrans)}
			for _, st := range f.NeverAcked[1:] {
				ev = append(ev, sprintf("also never ACKed: %d bytes payload (%d-byte packets), retransmitted %d×", st.Payload, st.Packet, st.Retrans))
			}
			if f.LargestAcked > 0 {
				ev = append(ev, sprintf("largest ACKed segment %d bytes payload (%d-byte packet) → path MTU between %d and %d bytes",
					f.LargestAcked, f.LargestAckedPacket, f.LargestAckedPacket, lost.Packet-1))
			} else {
				ev = append(ev, sprintf("no data segment was ever ACKed, only the handshake → path MTU below %d bytes", lost.Packet))
			}
			if d.lateDelivered > 0 {
				ev = append(ev, sprintf("segments of up to %d bytes sent after the loss were still ACKed: small packets pass, large ones vanish", d.lateDelivered))
			} else if d.peerAfterLoss {
				ev = append(ev, "the peer kept sending after the loss (the path is alive for small packets)")
			}
			mss := sprintf("MSS in SYNs: client %s, server %s", mssText(c.ClientMSS), mssText(c.ServerMSS))
			ev = append(ev, mss)
			if len(cs.fragNeeded) == 0 {
				ev = append(ev, "no ICMP fragmentation-needed / packet-too-big seen for this connection")
			} else {
				ev = append(ev, sprintf("%d ICMP fragmentation-needed (MTU %d) reached this capture point, yet the sender kept sending %d-byte packets: ICMP is dropped before the sender's stack (host firewall?)",
					len(cs.fragNeeded), cs.fragNeeded[0], lost.Packet))
			}
			bh.Evidence = ev
			if best == nil || bh.Retransmissions > best.Retransmissions {
				best = bh
			}
		}
	}
	return best
}

func mssText(m int) string {
	if m == 0 {
		return "not seen"
	}
	return itoa(m)
}

// handshakeFindings groups failed handshakes by server and outcome.
func (a *Analyzer) handshakeFindings(conns []*Conn) []diag.Finding {
	type group struct {
		server  Endpoint
		hs      Handshake
		conns   []*Conn
		syns    int
		icmpErr *ICMPError
	}
	var order []*group
	groups := map[string]*group{}
	for _, c := range conns {
		switch c.Handshake {
		case HandshakeUnanswered, HandshakeRefused, HandshakeUnreachable, HandshakeSYNACKLost:
		default:
			continue
		}
		k := c.Server.String() + "|" + string(c.Handshake) + "|" + c.Tunnel
		g := groups[k]
		if g == nil {
			g = &group{server: c.Server, hs: c.Handshake}
			groups[k] = g
			order = append(order, g)
		}
		g.conns = append(g.conns, c)
		g.syns += c.SYNs
		if g.icmpErr == nil {
			g.icmpErr = c.ICMPError
		}
	}
	var out []diag.Finding
	for _, g := range order {
		f := diag.Finding{Check: CheckHandshake, Severity: diag.SeverityCritical, Hop: diag.Hop{Where: g.server.String()}}
		var clients []string
		for i, c := range g.conns {
			if i == 5 {
				clients = append(clients, sprintf("and %d more", len(g.conns)-5))
				break
			}
			clients = append(clients, c.Client.String())
		}
		from := sprintf("%d connection(s) from %s", len(g.conns), strings.Join(clients, ", "))
		switch g.hs {
		case HandshakeUnanswered:
			f.Kind = diag.KindNetworkUnreachable
			f.Title = sprintf("TCP SYN to %s unanswered", g.server)
			f.Evidence = []string{from, sprintf("%d SYN(s) sent, no SYN/ACK, RST or ICMP error came back", g.syns)}
			f.Cause = "the SYNs (or their answers) are dropped silently on the path: a DROP rule, a missing route, or a dead host"
			f.Fix = "trace the path (netdoctor trace) and look for DROP rules and routes towards " + g.server.Addr().String()
		case HandshakeRefused:
			f.Kind = diag.KindPortUnreachable
			f.Title = sprintf("TCP connection to %s refused (RST answered the SYN)", g.server)
			f.Evidence = []string{from, sprintf("RST sent by %s in answer to the SYN", g.conns[0].Resets[0].From)}
			f.Cause = "nothing listens on the port, or a firewall REJECTs with tcp-reset"
			f.Fix = "check that the server listens on " + g.server.String() + " and that no REJECT rule matches"
		case HandshakeUnreachable:
			f.Kind = diag.KindNetworkUnreachable
			e := g.icmpErr
			if e.Kind == "port-unreachable" {
				f.Kind = diag.KindPortUnreachable
			}
			f.Title = sprintf("TCP SYN to %s answered by ICMP %s from %s", g.server, e.Kind, e.From)
			f.Evidence = []string{from, sprintf("ICMP type %d code %d (%s) from %s quoting %s", e.Type, e.Code, e.Kind, e.From, e.Quoted)}
			f.Cause = "a router or firewall on the path rejects the connection"
			f.Fix = "look at the routes and REJECT rules of " + e.From.String()
		case HandshakeSYNACKLost:
			f.Kind = diag.KindNetworkUnreachable
			f.Title = sprintf("SYN/ACK from %s lost on the way back", g.server)
			f.Evidence = []string{from, "the server answered with SYN/ACK but the client kept re-sending SYN (or the server re-sent SYN/ACK) and never ACKed"}
			f.Cause = "the return path drops the server's answers: asymmetric routing, reverse-path filtering, or a NAT/conntrack problem"
			f.Fix = "check the return route, rp_filter and NAT (conntrack) between " + g.server.Addr().String() + " and the client"
		}
		out = append(out, f)
	}
	return out
}

// connFindings reports resets on open connections and retransmissions not explained by a black hole.
func (a *Analyzer) connFindings(bh *BlackHole) []diag.Finding {
	var out []diag.Finding
	for _, cs := range a.order {
		c := cs.c
		for _, r := range c.Resets {
			if r.State == "syn" {
				continue
			}
			sev := diag.SeverityWarning
			if r.State == "closing" {
				sev = diag.SeverityInfo
			}
			out = append(out, diag.Finding{
				Check: CheckReset, Kind: diag.KindPortUnreachable, Severity: sev, Hop: diag.Hop{Where: r.From.String()},
				Title:    sprintf("RST from %s on %s connection %s", r.From, r.State, connName(c)),
				Evidence: []string{sprintf("packet %d at %s: RST sent by %s while the connection was %s", r.Packet, r.Time.Format("15:04:05.000000"), r.From, r.State)},
				Cause:    "the sender aborted the connection (application closed with unread data, a firewall REJECT with tcp-reset, or lost conntrack state)",
				Fix:      "look at the application and firewall on " + r.From.Addr().String(),
			})
		}
		for _, d := range cs.d {
			f := d.f
			if f.Retransmissions == 0 || f.DataSegments == 0 {
				continue
			}
			if bh != nil && bh.Conn == connName(c) && bh.From == d.from {
				continue
			}
			ratio := float64(f.Retransmissions) / float64(f.DataSegments)
			fd := diag.Finding{Check: CheckRetransmits, Kind: diag.KindNetworkUnreachable, Hop: diag.Hop{Where: "path from " + d.from.Addr().String()}}
			ev := []string{sprintf("%s: %d of %d data segments from %s were retransmissions (%.1f%%)", connName(c), f.Retransmissions, f.DataSegments, d.from, 100*ratio)}
			for _, st := range f.BySize {
				if st.Retrans > 0 {
					ev = append(ev, sprintf("%d bytes payload (%d-byte packets): sent %d, retransmitted %d, ACKed %d", st.Payload, st.Packet, st.Sent, st.Retrans, st.Acked))
				}
			}
			switch {
			case len(f.NeverAcked) > 0:
				fd.Severity = diag.SeverityCritical
				fd.Title = sprintf("connection %s stalled: data retransmitted and never ACKed", connName(c))
				ev = append(ev, sprintf("%d bytes never ACKed by the end of the capture", f.Unacked))
				fd.Cause = "packets from " + d.from.Addr().String() + " stopped reaching the peer (or its ACKs stopped coming back)"
				fd.Fix = "trace the path between the two ends while the problem happens"
			case ratio > 0.01 && f.Retransmissions >= 3:
				fd.Severity = diag.SeverityWarning
				fd.Title = sprintf("packet loss on %s: %.1f%% of segments retransmitted", connName(c), 100*ratio)
				fd.Cause = "packets are lost on the path (congestion, a lossy link or a rate limit)"
				fd.Fix = "find the lossy hop (netdoctor trace) and its drop counters"
			default:
				fd.Severity = diag.SeverityInfo
				fd.Title = sprintf("%d retransmission(s) on %s, all recovered", f.Retransmissions, connName(c))
				fd.Cause = "occasional loss, recovered by TCP"
				fd.Fix = "nothing to do unless it grows"
			}
			fd.Evidence = ev
			out = append(out, fd)
		}
	}
	return out
}

// icmpFindings groups ICMP errors by kind, sender and quoted destination.
func icmpFindings(errs []ICMPError) []diag.Finding {
	type group struct {
		e     ICMPError
		count int
	}
	var order []*group
	groups := map[string]*group{}
	for _, e := range errs {
		k := e.Kind + "|" + e.From.String() + "|" + e.QuotedDst.String() + "|" + e.QuotedProto
		g := groups[k]
		if g == nil {
			g = &group{e: e}
			groups[k] = g
			order = append(order, g)
		}
		g.count++
	}
	var out []diag.Finding
	for _, g := range order {
		e := g.e
		f := diag.Finding{Check: CheckICMP, Hop: diag.Hop{Where: e.From.String()}}
		ev := sprintf("%d× ICMP type %d code %d (%s) from %s to %s, quoting %s", g.count, e.Type, e.Code, e.Kind, e.From, e.To, e.Quoted)
		if e.QuotedLen > 0 {
			ev += sprintf(" (%d-byte packet)", e.QuotedLen)
		}
		if e.Tunnel != "" {
			ev += " inside VXLAN " + e.Tunnel
		}
		f.Evidence = []string{ev}
		switch e.Kind {
		case "frag-needed", "packet-too-big":
			f.Kind, f.Severity = diag.KindLargePacketLoss, diag.SeverityInfo
			f.Title = sprintf("%s announces MTU %d for packets to %s", e.From, e.MTU, e.QuotedDst.Addr())
			f.Evidence = append(f.Evidence, sprintf("next-hop MTU %d; the quoted packet was %d bytes", e.MTU, e.QuotedLen))
			f.Cause = "path-MTU discovery at work: a link on the path has a smaller MTU than the sender's"
			f.Fix = "nothing, if the sender then sends smaller packets; otherwise align the MTUs"
		case "time-exceeded":
			f.Kind, f.Severity = diag.KindNetworkUnreachable, diag.SeverityInfo
			f.Title = sprintf("TTL expired at %s for packets to %s", e.From, e.QuotedDst.Addr())
			f.Cause = "a traceroute, or a routing loop if ordinary traffic triggers it"
			f.Fix = "if this is not a traceroute, look for a routing loop at " + e.From.String()
		case "port-unreachable":
			f.Kind, f.Severity = diag.KindPortUnreachable, diag.SeverityWarning
			f.Title = sprintf("%s port unreachable (%s)", e.QuotedDst, e.QuotedProto)
			f.Cause = "nothing listens on that port, or a firewall REJECTs it"
			f.Fix = "check the server on " + e.QuotedDst.String() + " and REJECT rules on " + e.From.String()
		case "param-problem":
			f.Kind, f.Severity = diag.KindNetworkUnreachable, diag.SeverityWarning
			f.Title = sprintf("parameter problem reported by %s", e.From)
			f.Cause = "a malformed packet (bad header or options)"
			f.Fix = "look at what builds the quoted packet"
		default:
			f.Kind, f.Severity = diag.KindNetworkUnreachable, diag.SeverityCritical
			f.Title = sprintf("%s: %s for %s", e.From, e.Kind, e.QuotedDst.Addr())
			f.Cause = "a router or firewall has no route to the destination, or rejects it"
			f.Fix = "look at the routes and REJECT rules of " + e.From.String()
		}
		out = append(out, f)
	}
	return out
}

// dnsFindings reports unanswered queries, bad rcodes and truncation, grouped by server.
func dnsFindings(qs []*DNSQuery) []diag.Finding {
	type group struct {
		title, cause, fix string
		sev               diag.Severity
		ev                []string
		n                 int
	}
	var order []*group
	groups := map[string]*group{}
	add := func(k string, mk func() *group, ev string) {
		g := groups[k]
		if g == nil {
			g = mk()
			groups[k] = g
			order = append(order, g)
		}
		g.n++
		if len(g.ev) < 8 {
			g.ev = append(g.ev, ev)
		}
	}
	for _, q := range qs {
		srv := q.Server.String()
		qd := sprintf("%s %s (id %d) from %s", q.Name, q.Type, q.ID, q.Client)
		switch {
		case !q.Answered:
			sev := diag.SeverityCritical
			if q.WaitedMs < 1000 && q.Sent < 2 {
				sev = diag.SeverityWarning
			}
			add("noanswer|"+srv+string(sev), func() *group {
				return &group{sev: sev, title: "DNS queries to " + srv + " unanswered",
					cause: "the DNS server does not answer: it is down, unreachable, or its answers are dropped",
					fix:   "check that " + srv + " is the right server, is up, and is reachable (netdoctor dns)"}
			}, sprintf("%s: sent %d×, no answer (capture went on %.0f ms)", qd, q.Sent, q.WaitedMs))
		case q.RCode == "SERVFAIL" || q.RCode == "REFUSED" || q.RCode == "FORMERR" || q.RCode == "NOTIMP":
			add("rcode|"+srv+q.RCode, func() *group {
				return &group{sev: diag.SeverityWarning, title: "DNS server " + srv + " answered " + q.RCode,
					cause: "the server cannot or will not resolve the name (upstream failure, ACL, or a broken zone)",
					fix:   "look at the logs and upstreams of " + srv}
			}, qd+": "+q.RCode)
		case q.Truncated && !q.TCPRetry:
			add("tc|"+srv, func() *group {
				return &group{sev: diag.SeverityWarning, title: "truncated DNS answers from " + srv + " without a TCP retry",
					cause: "the answer did not fit in UDP and the client did not retry over TCP (or TCP port 53 is blocked)",
					fix:   "allow TCP port 53 to " + srv + ", or use EDNS with a larger buffer"}
			}, qd+": answer truncated (TC), no TCP query followed")
		case q.Truncated:
			add("tcok|"+srv, func() *group {
				return &group{sev: diag.SeverityInfo, title: "truncated DNS answers from " + srv + ", retried over TCP",
					cause: "large answers; the client retried over TCP as it should", fix: "nothing to do"}
			}, qd+": answer truncated (TC), retried over TCP")
		case q.RCode == "NXDOMAIN":
			add("nx|"+srv, func() *group {
				return &group{sev: diag.SeverityInfo, title: "names not found (NXDOMAIN) at " + srv,
					cause: "the names do not exist (search-domain expansion produces many of these)",
					fix:   "nothing, unless the name should exist"}
			}, qd+": NXDOMAIN")
		}
	}
	var out []diag.Finding
	for _, g := range order {
		ev := g.ev
		if g.n > len(ev) {
			ev = append(ev, sprintf("and %d more", g.n-len(ev)))
		}
		out = append(out, diag.Finding{Check: CheckDNS, Kind: diag.KindDNSFailure, Severity: g.sev,
			Hop: diag.Hop{Where: "DNS server"}, Title: sprintf("%s (%d)", g.title, g.n), Evidence: ev, Cause: g.cause, Fix: g.fix})
	}
	return out
}
