package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"sync"
	"time"

	"github.com/netdoctor/netdoctor/internal/diag"
)

//go:embed report.html.tmpl
var htmlSource string

// htmlTmpl is parsed on first use, so commands that never write HTML pay nothing at start-up.
var htmlTmpl = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("report").Parse(htmlSource))
})

// HTML writes r as one self-contained HTML page: inline CSS, no scripts, no external references. The
// path is drawn hop by hop with the failing hop in red, followed by the verdict, the findings
// (cause, fix, evidence), the checks that could not run, the probes and the timings. Every piece of
// report data is HTML-escaped (html/template).
func HTML(w io.Writer, r *diag.Report) error {
	if r == nil {
		return errNil
	}
	if err := htmlTmpl().Execute(w, newHTMLView(r)); err != nil {
		return fmt.Errorf("report: html: %w", err)
	}
	return nil
}

// htmlView is what the template sees: everything already ordered and formatted.
type htmlView struct {
	R        *diag.Report
	Kind     string
	Healthy  bool
	Failing  string
	Critical []diag.Finding
	Other    []diag.Finding
	Path     []htmlHop
	Probes   []htmlProbe
	Timings  []htmlTiming
	Duration string
	Started  string
}

type htmlHop struct {
	Name, Address, Note, Status, Class string
	MTU                                int
}

type htmlProbe struct {
	diag.ProbeRecord
	RTT, Took string
}

type htmlTiming struct{ Step, Took string }

func newHTMLView(r *diag.Report) htmlView {
	critical, other := splitFindings(r.Findings)
	v := htmlView{R: r, Kind: string(r.Verdict.Kind), Healthy: r.Verdict.Kind == diag.KindHealthy,
		Critical: critical, Other: other, Duration: fmtMs(r.DurationMs)}
	if h, ok := failingHop(r, critical); ok {
		v.Failing = hopName(h)
	}
	for _, h := range r.Path {
		class := "unknown"
		switch h.Status {
		case "ok", "failing", "not-reached":
			class = h.Status
		}
		name := hopName(h.Hop)
		if h.Where != "" && h.Interface != "" {
			name = h.Where
		}
		v.Path = append(v.Path, htmlHop{Name: name, Address: h.Address, Note: h.Note, Status: h.Status,
			Class: class, MTU: h.MTU})
	}
	for _, p := range r.Probes {
		hp := htmlProbe{ProbeRecord: p, RTT: "-", Took: fmtMs(p.Duration)}
		if p.RTTMs > 0 {
			hp.RTT = fmtMs(p.RTTMs)
		}
		v.Probes = append(v.Probes, hp)
	}
	for _, t := range r.Timings {
		v.Timings = append(v.Timings, htmlTiming{Step: t.Step, Took: fmtMs(t.Ms)})
	}
	if !r.Started.IsZero() {
		v.Started = r.Started.UTC().Format(time.RFC3339)
	}
	return v
}
