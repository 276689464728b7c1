package dns

import (
	"fmt"
	"strings"

	"github.com/netdoctor/netdoctor/internal/diag"
)

// ProbeRecord summarises r as a report line: name "dns", To the name and type asked, OK when it
// resolved, Outcome the Outcome word, RTTMs the latency of the answering query, Duration the whole
// resolution.
func (r *Result) ProbeRecord(from string) diag.ProbeRecord {
	p := diag.ProbeRecord{Name: "dns", From: from, To: r.Name + " " + r.Type, OK: r.OK(), Outcome: string(r.Outcome),
		Duration: ms(r.Duration)}
	n := len(r.Queries)
	queries := fmt.Sprintf("%d %s", n, map[bool]string{true: "query", false: "queries"}[n == 1])
	switch {
	case r.OK():
		p.Summary = fmt.Sprintf("%s %s %s from %s over %s after %s", r.Final.Name, r.Final.Type,
			strings.Join(r.Final.Values, ", "), r.Final.Server, r.Final.Proto, queries)
		for i := len(r.Queries) - 1; i >= 0; i-- {
			if q := r.Queries[i]; q.Rcode != "" {
				p.RTTMs = ms(q.Latency)
				break
			}
		}
	case r.Outcome == OutcomeNXDomain:
		p.Summary = fmt.Sprintf("NXDOMAIN for %s (%s)", strings.Join(r.Candidates, " "), queries)
	default:
		p.Summary = fmt.Sprintf("%s from %s (%s)", r.Outcome, strings.Join(r.Servers, " "), queries)
	}
	if r.Stopped != "" {
		p.Summary += "; stopped: " + r.Stopped
	}
	return p
}
