package analyze

import (
	"fmt"
	"io"
	"strings"
)

// maxTextRows bounds the per-connection and per-query rows of the text report.
const maxTextRows = 50

// WriteText writes the report a person reads: the verdict, the findings with their evidence and fix,
// then the TCP connections, ICMP errors and DNS queries (at most 50 rows each; -o json has them all).
func (r *Result) WriteText(w io.Writer) error {
	var b strings.Builder
	dur := r.Last.Sub(r.First).Seconds()
	fmt.Fprintf(&b, "capture: %d packets over %.3f s, %d TCP connection(s), %d DNS quer(ies), %d ICMP error(s)",
		r.Packets, dur, len(r.Connections), len(r.DNS), len(r.ICMPErrors))
	if len(r.Tunnels) > 0 {
		fmt.Fprintf(&b, ", %d VXLAN tunnel(s) decoded", len(r.Tunnels))
	}
	b.WriteString("\n")
	if r.Problem() {
		fmt.Fprintf(&b, "verdict: problem: %s\n", r.Findings[0].Title)
	} else {
		b.WriteString("verdict: nothing abnormal found\n")
	}
	if len(r.Findings) > 0 {
		b.WriteString("\nfindings:\n")
	}
	for _, f := range r.Findings {
		fmt.Fprintf(&b, "  [%s] %s: %s\n", f.Severity, f.Kind, f.Title)
		for _, e := range f.Evidence {
			fmt.Fprintf(&b, "      - %s\n", e)
		}
		if f.Severity != "info" {
			fmt.Fprintf(&b, "      cause: %s\n      fix: %s\n", f.Cause, f.Fix)
		}
	}
	if len(r.Tunnels) > 0 {
		b.WriteString("\nvxlan tunnels:\n")
		for _, t := range r.Tunnels {
			fmt.Fprintf(&b, "  %s (udp %d): %d packets\n", t, t.Port, t.Packets)
		}
	}
	if len(r.Connections) > 0 {
		b.WriteString("\ntcp connections:\n")
	}
	for i, c := range r.Connections {
		if i == maxTextRows {
			fmt.Fprintf(&b, "  ... and %d more\n", len(r.Connections)-i)
			break
		}
		fmt.Fprintf(&b, "  %s  %s  mss %s/%s", connName(c), c.Handshake, mssText(c.ClientMSS), mssText(c.ServerMSS))
		for _, rs := range c.Resets {
			fmt.Fprintf(&b, "  RST from %s (%s)", rs.From, rs.State)
		}
		b.WriteString("\n")
		for _, x := range []struct {
			dir string
			f   *Flow
		}{{"→", &c.ToServer}, {"←", &c.ToClient}} {
			f := x.f
			if f.Packets == 0 {
				continue
			}
			fmt.Fprintf(&b, "    %s %d packets, %d bytes, %d data segments, %d retransmissions, largest ACKed %d",
				x.dir, f.Packets, f.Bytes, f.DataSegments, f.Retransmissions, f.LargestAcked)
			if f.Unacked > 0 {
				fmt.Fprintf(&b, ", %d bytes never ACKed", f.Unacked)
			}
			b.WriteString("\n")
			for _, st := range f.BySize {
				if st.Retrans > 0 {
					fmt.Fprintf(&b, "      %d B payload (%d-byte packets): sent %d, retransmitted %d, ACKed %d\n",
						st.Payload, st.Packet, st.Sent, st.Retrans, st.Acked)
				}
			}
		}
	}
	if len(r.ICMPErrors) > 0 {
		b.WriteString("\nicmp errors:\n")
	}
	for i, e := range r.ICMPErrors {
		if i == maxTextRows {
			fmt.Fprintf(&b, "  ... and %d more\n", len(r.ICMPErrors)-i)
			break
		}
		fmt.Fprintf(&b, "  #%d %s from %s", e.Packet, e.Kind, e.From)
		if e.MTU > 0 {
			fmt.Fprintf(&b, " mtu %d", e.MTU)
		}
		fmt.Fprintf(&b, " quoting %s\n", e.Quoted)
	}
	if len(r.DNS) > 0 {
		b.WriteString("\ndns queries:\n")
	}
	for i, q := range r.DNS {
		if i == maxTextRows {
			fmt.Fprintf(&b, "  ... and %d more\n", len(r.DNS)-i)
			break
		}
		proto := "udp"
		if q.TCP {
			proto = "tcp"
		}
		fmt.Fprintf(&b, "  %s %s %s → %s id %d sent %d: ", q.Name, q.Type, proto, q.Server, q.ID, q.Sent)
		if !q.Answered {
			b.WriteString("no answer\n")
			continue
		}
		fmt.Fprintf(&b, "%s, %d answer(s), %.3f ms", q.RCode, q.Answers, q.LatencyMs)
		if q.Truncated {
			b.WriteString(", truncated")
			if q.TCPRetry {
				b.WriteString(" (retried over TCP)")
			}
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
