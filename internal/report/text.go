package report

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/netdoctor/netdoctor/internal/diag"
)

// Text writes r for a person at a terminal, in the order they need it: the verdict (kind and
// summary), the failing hop, the cause and fix of each critical finding, their evidence, the other
// findings by severity, the checks that could not run, the path hop by hop (failing hop marked, MTUs
// and NAT notes), the probes run, and the timings.
func Text(w io.Writer, r *diag.Report) error {
	if r == nil {
		return errNil
	}
	p := &printer{w: w}
	critical, other := splitFindings(r.Findings)

	p.f("VERDICT: %s: %s\n", r.Verdict.Kind, oneLine(r.Verdict.Summary))
	if r.From != "" || r.To != "" {
		p.f("from %s to %s\n", orDash(r.From), orDash(r.To))
	}
	if h, ok := failingHop(r, critical); ok {
		p.f("FAILING HOP: %s\n", oneLine(hopName(h)))
	}

	if len(critical) > 0 {
		p.f("\nCAUSE AND FIX\n")
		for i, f := range critical {
			p.f("%d. %s  [%s at %s]\n", i+1, oneLine(title(f)), f.Check, oneLine(hopName(f.Hop)))
			p.f("   cause: %s\n", oneLine(orDash(f.Cause)))
			p.f("   fix:   %s\n", oneLine(orDash(f.Fix)))
		}
		p.f("\nEVIDENCE\n")
		for i, f := range critical {
			p.f("%d. %s\n", i+1, f.Check)
			evidence(p, "   ", f.Evidence)
		}
	}

	if len(other) > 0 {
		p.f("\nOTHER FINDINGS\n")
		for _, f := range other {
			p.f("- %-8s %s  [%s at %s]\n", f.Severity, oneLine(title(f)), f.Check, oneLine(hopName(f.Hop)))
			if f.Cause != "" {
				p.f("  cause: %s\n", oneLine(f.Cause))
			}
			if f.Fix != "" {
				p.f("  fix:   %s\n", oneLine(f.Fix))
			}
			evidence(p, "  ", f.Evidence)
		}
	}

	if len(r.Notes) > 0 {
		p.f("\nNOT CHECKED\n")
		for _, n := range r.Notes {
			p.f("- %s\n", oneLine(n))
		}
	}

	if len(r.Path) > 0 {
		p.f("\nPATH\n")
		for i, h := range r.Path {
			if i > 0 {
				p.f("      |\n      v\n")
			}
			p.f("  %s %s\n", marker(h.Status), oneLine(pathLine(h)))
			if h.Note != "" {
				p.f("         %s\n", oneLine(h.Note))
			}
		}
	}

	if len(r.Probes) > 0 {
		p.f("\nPROBES\n")
		tbl := [][]string{{"", "PROBE", "FROM", "TO", "OUTCOME", "RTT", "TOOK", "SUMMARY"}}
		for _, pr := range r.Probes {
			ok := "ok"
			if !pr.OK {
				ok = "FAIL"
			}
			rtt := "-"
			if pr.RTTMs > 0 {
				rtt = fmtMs(pr.RTTMs)
			}
			sum := pr.Summary
			if pr.Error != "" {
				sum = strings.TrimSpace(sum + " (could not run: " + pr.Error + ")")
			}
			tbl = append(tbl, []string{ok, pr.Name, pr.From, pr.To, pr.Outcome, rtt, fmtMs(pr.Duration), sum})
		}
		table(p, tbl)
	}

	if len(r.Timings) > 0 || r.DurationMs > 0 {
		p.f("\nTIMINGS\n")
		for _, t := range r.Timings {
			p.f("  %-24s %s\n", oneLine(t.Step), fmtMs(t.Ms))
		}
		p.f("  %-24s %s", "total", fmtMs(r.DurationMs))
		if !r.Started.IsZero() {
			p.f(" (started %s)", r.Started.UTC().Format(time.RFC3339))
		}
		p.f("\n")
	}
	return p.err
}

// printer remembers the first write error so the layout code stays readable.
type printer struct {
	w   io.Writer
	err error
}

// f prints like Fprintf, folding control characters in every string argument (user data) so that
// only the layout's own newlines start lines.
func (p *printer) f(format string, args ...any) {
	for i, a := range args {
		switch v := a.(type) {
		case string:
			args[i] = oneLine(v)
		case diag.Kind:
			args[i] = oneLine(string(v))
		case diag.Severity:
			args[i] = oneLine(string(v))
		}
	}
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, args...)
	}
}

func evidence(p *printer, indent string, ev []string) {
	if len(ev) == 0 {
		p.f("%s- (no evidence recorded)\n", indent)
	}
	for _, e := range ev {
		p.f("%s- %s\n", indent, e)
	}
}

// table prints rows in aligned columns (display width counted in runes).
func table(p *printer, rows [][]string) {
	width := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			r[i] = oneLine(c)
			width[i] = max(width[i], len([]rune(r[i])))
		}
	}
	for _, r := range rows {
		var b strings.Builder
		b.WriteString("  ")
		for i, c := range r {
			b.WriteString(c)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", width[i]-len([]rune(c))+2))
			}
		}
		p.f("%s\n", strings.TrimRight(b.String(), " "))
	}
}

func marker(status string) string {
	switch status {
	case "ok":
		return "[ok]  "
	case "failing":
		return "[FAIL]"
	case "not-reached":
		return "[ -- ]"
	}
	return "[ ?? ]"
}

func pathLine(h diag.PathHop) string {
	s := hopName(h.Hop)
	if h.Where != "" && h.Interface != "" && !strings.Contains(h.Where, h.Interface) {
		s += " (" + h.Interface + ")"
	}
	if h.Address != "" {
		s += "  " + h.Address
	}
	if h.MTU > 0 {
		s += fmt.Sprintf("  mtu %d", h.MTU)
	}
	if h.Status == "failing" {
		s += "  <== FAILS HERE"
	}
	if h.Status == "not-reached" {
		s += "  (not reached)"
	}
	return s
}

func title(f diag.Finding) string {
	if f.Title != "" {
		return f.Title
	}
	if f.Cause != "" {
		return f.Cause
	}
	return f.Check
}

// oneLine folds newlines and other control characters so user data cannot break the layout.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
