package analyze

import (
	"net/netip"
	"strconv"

	"github.com/gopacket/gopacket/layers"
)

type dnsKey struct {
	client, server netip.AddrPort
	id             uint16
	name           string
	qtype          layers.DNSType
	tcp            bool
}

func rcodeName(c layers.DNSResponseCode) string {
	switch c {
	case 0:
		return "NOERROR"
	case 1:
		return "FORMERR"
	case 2:
		return "SERVFAIL"
	case 3:
		return "NXDOMAIN"
	case 4:
		return "NOTIMP"
	case 5:
		return "REFUSED"
	}
	return "RCODE" + strconv.Itoa(int(c))
}

func (a *Analyzer) addDNS(p *pkt, m *layers.DNS, tcp bool) {
	var sp, dp uint16
	if tcp {
		sp, dp = uint16(p.tcp.SrcPort), uint16(p.tcp.DstPort)
	} else {
		sp, dp = uint16(p.udp.SrcPort), uint16(p.udp.DstPort)
	}
	src, dst := netip.AddrPortFrom(p.src, sp), netip.AddrPortFrom(p.dst, dp)
	k := dnsKey{id: m.ID, tcp: tcp}
	if len(m.Questions) > 0 {
		k.name, k.qtype = string(m.Questions[0].Name), m.Questions[0].Type
	}
	// A stub's retry may come from a new port with the same id: key UDP queries by client address.
	if !tcp {
		src, dst = noPort(src, !m.QR), noPort(dst, m.QR)
	}
	if !m.QR {
		k.client, k.server = src, dst
		if q := a.queries[k]; q != nil {
			q.Sent++
			return
		}
		if len(a.res.DNS) >= a.opts.MaxQueries {
			a.overQueries++
			return
		}
		q := &DNSQuery{Client: netip.AddrPortFrom(p.src, sp), Server: netip.AddrPortFrom(p.dst, dp), ID: m.ID, Name: k.name, Type: k.qtype.String(), TCP: tcp, Time: p.ts, Sent: 1}
		if q.Name == "" {
			q.Name = "."
		}
		a.queries[k] = q
		a.res.DNS = append(a.res.DNS, q)
		if tcp {
			// A TCP query for a name whose UDP answer was truncated is the retry RFC 7766 asks for.
			for _, o := range a.res.DNS {
				if !o.TCP && o.Truncated && o.Client.Addr() == src.Addr() && o.Server.Addr() == dst.Addr() &&
					o.Name == q.Name && o.Type == q.Type {
					o.TCPRetry = true
				}
			}
		}
		return
	}
	k.client, k.server = dst, src
	q := a.queries[k]
	if q == nil || q.Answered {
		return
	}
	q.Answered = true
	q.RCode = rcodeName(m.ResponseCode)
	q.Answers = len(m.Answers)
	q.Truncated = m.TC
	q.LatencyMs = float64(p.ts.Sub(q.Time).Microseconds()) / 1000
}

func noPort(ap netip.AddrPort, clear bool) netip.AddrPort {
	if clear {
		return netip.AddrPortFrom(ap.Addr(), 0)
	}
	return ap
}
