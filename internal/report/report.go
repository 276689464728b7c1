// Package report renders a diag.Report for people and machines: text for an SRE at a terminal, JSON
// (exactly the diag.Report schema, version diag.SchemaVersion) for scripts, and one self-contained HTML
// file for sharing.
//
// It imports only internal/diag and the standard library. Rendering is deterministic: the same report
// gives byte-identical output (findings are ordered by severity, then check, hop and title; probes, path
// and timings keep the order the report gives them, which is the order they happened).
package report

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/netdoctor/netdoctor/internal/diag"
)

// Formats are the formats Write accepts.
var Formats = []string{"text", "json", "html"}

// ErrUnknownFormat is returned by Write for a format not in Formats.
var ErrUnknownFormat = errors.New("report: unknown format")

// Write renders r to w in format ("text", "json" or "html"). It fails for a nil report, an unknown
// format (wrapping ErrUnknownFormat) or when w fails.
func Write(w io.Writer, r *diag.Report, format string) error {
	switch format {
	case "text":
		return Text(w, r)
	case "json":
		return JSON(w, r)
	case "html":
		return HTML(w, r)
	}
	return fmt.Errorf("%w %q: use text, json or html", ErrUnknownFormat, format)
}

var errNil = errors.New("report: nil report")

// normalised returns a copy of r in which slices are never nil (JSON has [] instead of null), every
// finding's evidence is never nil, and the schema version is set.
func normalised(r *diag.Report) diag.Report {
	c := *r
	if c.SchemaVersion == 0 {
		c.SchemaVersion = diag.SchemaVersion
	}
	c.Findings = append([]diag.Finding{}, r.Findings...)
	for i := range c.Findings {
		if c.Findings[i].Evidence == nil {
			c.Findings[i].Evidence = []string{}
		}
	}
	c.Probes = append([]diag.ProbeRecord{}, r.Probes...)
	c.Path = append([]diag.PathHop{}, r.Path...)
	return c
}

// sortedFindings orders findings most severe first, data-plane root causes (cni-kube-proxy) before
// the symptoms they explain, then by check name, hop and title, so that the order in which
// concurrent checks finished never shows.
func sortedFindings(fs []diag.Finding) []diag.Finding {
	out := append([]diag.Finding(nil), fs...)
	slices.SortStableFunc(out, func(a, b diag.Finding) int {
		return cmp.Or(
			cmp.Compare(a.Severity.Rank(), b.Severity.Rank()),
			cmp.Compare(rootRank(a.Kind), rootRank(b.Kind)),
			cmp.Compare(a.Check, b.Check),
			cmp.Compare(a.Hop.Where, b.Hop.Where),
			cmp.Compare(a.Title, b.Title),
		)
	})
	return out
}

// splitFindings returns the critical findings and the rest, each sorted.
func splitFindings(fs []diag.Finding) (critical, other []diag.Finding) {
	for _, f := range sortedFindings(fs) {
		if f.Severity == diag.SeverityCritical {
			critical = append(critical, f)
		} else {
			other = append(other, f)
		}
	}
	return critical, other
}

// failingHop is where the report says the packet fails: the first path hop marked failing, else the
// hop of the first critical finding; ok is false when neither names one.
func failingHop(r *diag.Report, critical []diag.Finding) (diag.Hop, bool) {
	for _, h := range r.Path {
		if h.Status == "failing" {
			return h.Hop, true
		}
	}
	for _, f := range critical {
		if f.Hop.Where != "" || f.Hop.Node != "" || f.Hop.Interface != "" {
			return f.Hop, true
		}
	}
	return diag.Hop{}, false
}

// hopName is a hop in words: Where when given, else "node netns interface".
func hopName(h diag.Hop) string {
	if h.Where != "" {
		return h.Where
	}
	var s string
	for _, p := range []string{h.Node, h.Netns, h.Interface} {
		if p == "" {
			continue
		}
		if s != "" {
			s += " "
		}
		s += p
	}
	if s == "" {
		return "(unknown place)"
	}
	return s
}

// fmtMs prints a duration in milliseconds the way people read them: "850 ms", "2.3 s".
func fmtMs(ms float64) string {
	switch {
	case ms >= 100000:
		return fmt.Sprintf("%.0f s", ms/1000)
	case ms >= 1000:
		return fmt.Sprintf("%.1f s", ms/1000)
	case ms >= 10:
		return fmt.Sprintf("%.0f ms", ms)
	case ms >= 1:
		return fmt.Sprintf("%.1f ms", ms)
	}
	return fmt.Sprintf("%.2f ms", ms)
}

func rootRank(k diag.Kind) int {
	if k == diag.KindCNIKubeProxy {
		return 0
	}
	return 1
}
