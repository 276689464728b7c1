package tcp

import (
	"fmt"
	"strings"

	"github.com/netdoctor/netdoctor/internal/diag"
	"github.com/netdoctor/netdoctor/internal/probe/rtt"
)

// Record summarises the result for a diagnosis report. Outcome is "ok" when every attempt connected,
// otherwise the outcome of the first attempt that did not: "refused", "timeout" or "unreachable"
// (the reason and sender are in Summary).
func (r *Result) Record(from string) diag.ProbeRecord {
	rec := diag.ProbeRecord{Name: "tcp", From: from, To: r.Addr.String(), OK: r.OK(), Outcome: "ok",
		Summary: r.summary(), Duration: rtt.Ms(r.Duration)}
	if !r.OK() {
		rec.Outcome = string(OutcomeTimeout) // nothing finished
		for _, a := range r.Attempts {
			if a.Outcome != OutcomeConnected && a.Outcome != OutcomeCancelled {
				rec.Outcome = string(a.Outcome)
				break
			}
		}
	}
	if r.Stats.Received > 0 {
		rec.RTTMs = rtt.Ms(r.Stats.Median)
	}
	return rec
}

func (r *Result) summary() string {
	s := fmt.Sprintf("%d attempts, %d connected", r.Stats.Sent, r.Stats.Received)
	var notes []string
	seen := map[string]int{}
	for _, a := range r.Attempts {
		var n string
		switch a.Outcome {
		case OutcomeRefused:
			n = "refused (RST)"
		case OutcomeTimeout:
			n = "timeout"
		case OutcomeUnreachable:
			n = "unreachable: " + string(a.Reason)
			if a.From.IsValid() {
				n += " from " + a.From.String()
			}
		default:
			continue
		}
		if _, ok := seen[n]; !ok {
			notes = append(notes, n)
		}
		seen[n]++
	}
	for i, n := range notes {
		notes[i] = fmt.Sprintf("%d× %s", seen[n], n)
	}
	if len(notes) > 0 {
		s += ", " + strings.Join(notes, ", ")
	}
	if r.Stats.Received > 0 {
		s += fmt.Sprintf("; connect median %.3f ms", rtt.Ms(r.Stats.Median))
	}
	return s
}
