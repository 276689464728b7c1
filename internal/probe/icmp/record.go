package icmp

import (
	"fmt"
	"strings"

	"github.com/netdoctor/netdoctor/internal/diag"
	"github.com/netdoctor/netdoctor/internal/probe/rtt"
)

// Record summarises the result for a diagnosis report. Outcome is "ok" when every probe got its
// reply; otherwise the first ICMP error's reason (frag-needed, admin-prohibited, time-exceeded, ...),
// "local-error", "timeout" when nothing came back at all, or "loss" when some replies were missing.
func (r *Result) Record(from string) diag.ProbeRecord {
	rec := diag.ProbeRecord{Name: "icmp", From: from, To: r.Addr.String(), OK: r.OK(), Outcome: r.outcome(),
		Summary: r.summary(), Duration: rtt.Ms(r.Duration)}
	if r.Stats.Received > 0 {
		rec.RTTMs = rtt.Ms(r.Stats.Median)
	}
	return rec
}

func (r *Result) outcome() string {
	if r.OK() {
		return "ok"
	}
	for _, p := range r.Probes {
		switch p.Outcome {
		case OutcomeICMPError:
			return string(p.ICMP.Reason)
		case OutcomeLocalError:
			return string(OutcomeLocalError)
		}
	}
	if r.Stats.Received == 0 {
		return string(OutcomeTimeout)
	}
	return "loss"
}

// summary is one line: counts, and the distinct errors with their senders.
func (r *Result) summary() string {
	df := ""
	if r.DF {
		df = " DF"
	}
	s := fmt.Sprintf("%d-byte%s echo: %d sent, %d received, %.4g%% loss", r.Size, df, r.Stats.Sent, r.Stats.Received, r.Stats.LossPct)
	var notes []string
	seen := map[string]int{}
	for _, p := range r.Probes {
		var n string
		switch p.Outcome {
		case OutcomeICMPError:
			n = string(p.ICMP.Reason) + " from " + p.ICMP.From.String()
			if p.ICMP.MTU > 0 {
				n += fmt.Sprintf(" (mtu %d)", p.ICMP.MTU)
			}
		case OutcomeLocalError:
			n = "local error: " + p.Local
		case OutcomeTimeout:
			n = "timeout"
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
		s += ": " + strings.Join(notes, ", ")
	}
	if r.Stats.Received > 0 {
		s += fmt.Sprintf("; rtt median %.3f ms", rtt.Ms(r.Stats.Median))
	}
	return s
}
