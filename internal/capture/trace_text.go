package capture

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// WriteText renders the trace for people: the points with their counts, then each packet with
// its sightings (time since first sighting, point, direction, addresses, TTL, size), the last
// point and the anomalies.
func (t *Trace) WriteText(out io.Writer) error {
	w := bufio.NewWriter(out)
	width := 0
	for _, p := range t.Points {
		width = max(width, len(p.Label))
	}
	fmt.Fprintf(w, "%d capture points, %d packets followed", len(t.Points), len(t.Packets))
	if t.Unidentified > 0 {
		fmt.Fprintf(w, " (%d non-IP frames not followed)", t.Unidentified)
	}
	fmt.Fprintln(w)
	for _, p := range t.Points {
		fmt.Fprintf(w, "  %-*s  %d packets (kernel: %s)", width, p.Label, p.Captured, p.Stats)
		if len(p.OuterSources) > 0 {
			fmt.Fprintf(w, ", VXLAN outer sources %s", strings.Join(p.OuterSources, ", "))
		}
		if p.Overflow > 0 {
			fmt.Fprintf(w, ", %d more not kept", p.Overflow)
		}
		if p.Error != "" {
			fmt.Fprintf(w, ", stopped early: %s", p.Error)
		}
		fmt.Fprintln(w)
	}
	if t.ProbeError != "" {
		fmt.Fprintf(w, "probe: %s\n", t.ProbeError)
	}
	for _, pk := range t.Packets {
		fmt.Fprintf(w, "packet %d: %s\n", pk.ID, pk.Summary)
		for _, s := range pk.Seen {
			fmt.Fprintf(w, "  +%.3fms  %-*s  %-3s  ", float64(s.Offset.Microseconds())/1000, width, s.Point, s.Dir)
			if s.Encap != nil {
				fmt.Fprintf(w, "vxlan %s > %s vni %d | ", s.Encap.OuterSrc, s.Encap.OuterDst, s.Encap.VNI)
			}
			fmt.Fprintf(w, "%s > %s ttl %d size %d\n", endpoint(s.IP.Src, s.IP.Sport, s.IP.Proto),
				endpoint(s.IP.Dst, s.IP.Dport, s.IP.Proto), s.IP.TTL, s.Size)
		}
		fmt.Fprintf(w, "  last seen at %s\n", pk.LastPoint)
		for _, a := range pk.Anomalies {
			fmt.Fprintf(w, "  ! %s: %s\n", a.Kind, a.Detail)
		}
	}
	return w.Flush()
}
