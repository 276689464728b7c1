package engine

import (
	"fmt"

	"github.com/netdoctor/netdoctor/internal/check"
	"github.com/netdoctor/netdoctor/internal/diag"
)

// Classify turns the symptom probes into one of the five kinds (or healthy) and a one-line summary.
// It is pure: the same observations always give the same answer.
func Classify(target *check.Endpoint, proto string, o *check.Observations) (diag.Kind, string) {
	if o == nil {
		return diag.KindHealthy, "nothing was measured"
	}
	if d := o.DNS; d != nil && !d.Resolved {
		return diag.KindDNSFailure, fmt.Sprintf("%s does not resolve (%s)", d.Name, d.Outcome)
	}
	if u := o.UDP; u != nil && u.Outcome != "answered" {
		if proto == "dns" {
			return diag.KindDNSFailure, fmt.Sprintf("DNS server %s does not answer over UDP (%s)", u.Addr, u.Outcome)
		}
		if u.Outcome == "unreachable" || u.Outcome == "refused" {
			return diag.KindPortUnreachable, fmt.Sprintf("UDP %s: %s", u.Addr, u.Outcome)
		}
		return diag.KindNetworkUnreachable, fmt.Sprintf("UDP %s: %s", u.Addr, u.Outcome)
	}
	icmpOK := o.ICMP != nil && o.ICMP.Received > 0
	if t := o.TCP; t != nil {
		switch {
		case t.Connected == t.Sent && t.Sent > 0:
			if l := o.Large; l != nil && l.Outcome == "stalled" {
				return diag.KindLargePacketLoss, fmt.Sprintf("TCP to %s connects, but a %d-byte transfer stalls (%d bytes acknowledged, %d retransmissions)", t.Addr, l.Bytes, l.Acked, l.Retransmits)
			}
			if p := o.PMTU; p != nil && p.BlackHole {
				return diag.KindLargePacketLoss, fmt.Sprintf("path-MTU black hole towards %s: %d bytes pass, %d vanish", p.Target, p.LargestOK, p.SmallestLost)
			}
			return diag.KindHealthy, fmt.Sprintf("TCP to %s connects in %.2f ms", t.Addr, float64(t.RTT.Microseconds())/1000)
		case t.Connected > 0:
			return diag.KindNetworkUnreachable, fmt.Sprintf("TCP to %s: intermittent loss, %d of %d connects failed", t.Addr, t.Sent-t.Connected, t.Sent)
		case t.Refused > 0:
			return diag.KindPortUnreachable, fmt.Sprintf("TCP to %s is refused", t.Addr)
		case t.Unreach > 0 && icmpOK:
			return diag.KindPortUnreachable, fmt.Sprintf("TCP to %s is rejected (%s) while the host answers ping", t.Addr, t.Reason)
		case t.Timeout > 0 && icmpOK:
			return diag.KindPortUnreachable, fmt.Sprintf("TCP to %s times out while the host answers ping", t.Addr)
		default:
			why := t.Outcome
			if t.Reason != "" {
				why += ", " + t.Reason
			}
			return diag.KindNetworkUnreachable, fmt.Sprintf("TCP to %s fails (%s)", t.Addr, why)
		}
	}
	if i := o.ICMP; i != nil {
		switch {
		case i.Received == 0:
			return diag.KindNetworkUnreachable, fmt.Sprintf("%s does not answer ping (%s)", i.Target, i.Outcome)
		case i.Received < i.Sent:
			return diag.KindNetworkUnreachable, fmt.Sprintf("%s: %d of %d pings lost", i.Target, i.Sent-i.Received, i.Sent)
		}
		if l := o.Large; l != nil && l.Outcome != "ok" {
			return diag.KindLargePacketLoss, fmt.Sprintf("small pings to %s pass, %d-byte packets do not (%s)", i.Target, l.Bytes, l.Detail)
		}
		if p := o.PMTU; p != nil && p.BlackHole {
			return diag.KindLargePacketLoss, fmt.Sprintf("path-MTU black hole towards %s: %d bytes pass, %d vanish", p.Target, p.LargestOK, p.SmallestLost)
		}
		return diag.KindHealthy, fmt.Sprintf("%s answers ping", i.Target)
	}
	if d := o.DNS; d != nil {
		return diag.KindHealthy, fmt.Sprintf("%s resolves to %v", d.Name, d.Addrs)
	}
	return diag.KindHealthy, "nothing failed"
}
