package ping

import (
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/netdoctor/netdoctor/internal/probe/icmp"
	"github.com/netdoctor/netdoctor/internal/probe/rtt"
)

// printer writes the text output: a header, one line per probe as it resolves, a summary.
type printer struct {
	w      io.Writer
	target string
	addr   netip.Addr
}

func (p *printer) header(r *icmp.Result) {
	p.target, p.addr = r.Target, r.Addr
	ipHdr := 20
	if r.Addr.Is6() {
		ipHdr = 40
	}
	df := ""
	if r.DF {
		df = ", don't fragment"
	}
	fmt.Fprintf(p.w, "PING %s (%s) %d(%d) bytes of data (%s socket%s).\n", r.Target, r.Addr, r.Size, r.Size+8+ipHdr, r.Mode, df)
}

func (p *printer) probe(pr icmp.Probe) {
	switch pr.Outcome {
	case icmp.OutcomeReply:
		dup := ""
		if pr.Duplicates > 0 {
			dup = " (DUP!)"
		}
		fmt.Fprintf(p.w, "%d bytes from %s: icmp_seq=%d ttl=%d time=%s ms%s\n", pr.Bytes, pr.From, pr.Seq, pr.TTL, ms(pr.RTT), dup)
	case icmp.OutcomeICMPError:
		fmt.Fprintf(p.w, "From %s icmp_seq=%d %s (%s)\n", pr.From, pr.Seq, pr.ICMP.Text(), pr.ICMP.Reason)
	case icmp.OutcomeLocalError:
		fmt.Fprintf(p.w, "icmp_seq=%d local error: %s\n", pr.Seq, pr.Local)
	case icmp.OutcomeTimeout:
		fmt.Fprintf(p.w, "icmp_seq=%d timeout: no answer\n", pr.Seq)
	}
}

func (p *printer) summary(r *icmp.Result) {
	if p.target == "" { // OnStart never ran (JSON mode does not print text)
		p.header(r)
	}
	fmt.Fprintf(p.w, "\n--- %s ping statistics ---\n", r.Target)
	st := r.Stats
	line := fmt.Sprintf("%d packets transmitted, %d received", st.Sent, st.Received)
	if r.Duplicates > 0 {
		line += fmt.Sprintf(", +%d duplicates", r.Duplicates)
	}
	if r.Errors > 0 {
		line += fmt.Sprintf(", +%d errors", r.Errors)
	}
	line += fmt.Sprintf(", %s%% packet loss, time %dms", pct(st.LossPct), r.Duration.Milliseconds())
	fmt.Fprintln(p.w, line)
	if st.Received > 0 {
		fmt.Fprintf(p.w, "rtt min/avg/max/mdev = %s/%s/%s/%s ms\n", ms(st.Min), ms(st.Avg), ms(st.Max), ms(st.Mdev))
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f", rtt.Ms(d)) }

func pct(f float64) string { return fmt.Sprintf("%.4g", f) }

// jsonResult is the -o json document. Field names are a contract.
type jsonResult struct {
	Target      string      `json:"target"`
	Address     string      `json:"address"`
	Mode        icmp.Mode   `json:"mode"`
	Size        int         `json:"size"`
	DF          bool        `json:"df"`
	ID          int         `json:"id"`
	Probes      []jsonProbe `json:"probes"`
	Omitted     int         `json:"omitted,omitempty"` // oldest entries dropped from the list in a long run (still counted)
	Sent        int         `json:"sent"`
	Received    int         `json:"received"`
	Errors      int         `json:"errors"`
	Duplicates  int         `json:"duplicates"`
	LossPct     float64     `json:"lossPct"`
	RTT         *jsonRTT    `json:"rtt,omitempty"`
	DurationMs  float64     `json:"durationMs"`
	TimedOut    bool        `json:"timedOut,omitempty"`
	Interrupted bool        `json:"interrupted,omitempty"`
}

type jsonProbe struct {
	Seq        int          `json:"seq"`
	Outcome    icmp.Outcome `json:"outcome"`
	RTTMs      float64      `json:"rttMs,omitempty"`
	From       string       `json:"from,omitempty"`
	TTL        int          `json:"ttl,omitempty"`
	Bytes      int          `json:"bytes,omitempty"`
	ICMP       *jsonICMP    `json:"icmp,omitempty"`
	LocalError string       `json:"localError,omitempty"`
	LocalMTU   int          `json:"localMtu,omitempty"`
	Duplicates int          `json:"duplicates,omitempty"`
}

type jsonICMP struct {
	Type   int         `json:"type"`
	Code   int         `json:"code"`
	Reason icmp.Reason `json:"reason"`
	From   string      `json:"from"`
	MTU    int         `json:"mtu,omitempty"`
	Text   string      `json:"text"`
}

type jsonRTT struct {
	MinMs    float64 `json:"minMs"`
	AvgMs    float64 `json:"avgMs"`
	MaxMs    float64 `json:"maxMs"`
	MdevMs   float64 `json:"mdevMs"`
	MedianMs float64 `json:"medianMs"`
}

func toJSON(r *icmp.Result, timedOut, interrupted bool) jsonResult {
	j := jsonResult{Target: r.Target, Address: r.Addr.String(), Mode: r.Mode, Size: r.Size, DF: r.DF, ID: r.ID,
		Probes: []jsonProbe{}, Omitted: r.Omitted, Sent: r.Stats.Sent, Received: r.Stats.Received, Errors: r.Errors, Duplicates: r.Duplicates,
		LossPct: r.Stats.LossPct, DurationMs: rtt.Ms(r.Duration), TimedOut: timedOut, Interrupted: interrupted}
	for _, p := range r.Probes {
		jp := jsonProbe{Seq: p.Seq, Outcome: p.Outcome, TTL: p.TTL, Bytes: p.Bytes, LocalError: p.Local, LocalMTU: p.LocalMTU, Duplicates: p.Duplicates}
		if p.Outcome == icmp.OutcomeReply || p.Outcome == icmp.OutcomeICMPError {
			jp.RTTMs = rtt.Ms(p.RTT)
		}
		if p.From.IsValid() {
			jp.From = p.From.String()
		}
		if e := p.ICMP; e != nil {
			jp.ICMP = &jsonICMP{Type: e.Type, Code: e.Code, Reason: e.Reason, From: e.From.String(), MTU: e.MTU, Text: e.Text()}
		}
		j.Probes = append(j.Probes, jp)
	}
	if st := r.Stats; st.Received > 0 {
		j.RTT = &jsonRTT{MinMs: rtt.Ms(st.Min), AvgMs: rtt.Ms(st.Avg), MaxMs: rtt.Ms(st.Max), MdevMs: rtt.Ms(st.Mdev), MedianMs: rtt.Ms(st.Median)}
	}
	return j
}
