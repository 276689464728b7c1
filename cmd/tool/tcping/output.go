package tcping

import (
	"fmt"
	"io"
	"time"

	"github.com/netdoctor/netdoctor/internal/probe/icmp"
	"github.com/netdoctor/netdoctor/internal/probe/rtt"
	"github.com/netdoctor/netdoctor/internal/probe/tcp"
)

// printer writes the text output: a header, one line per attempt, a summary.
type printer struct {
	w       io.Writer
	wait    time.Duration
	started bool
}

func (p *printer) header(r *tcp.Result) {
	p.started = true
	fmt.Fprintf(p.w, "TCPING %s (%s)\n", r.Target, r.Addr)
}

// Line is the text of one attempt, after "ADDR seq=N ".
func line(a tcp.Attempt, wait time.Duration) string {
	switch a.Outcome {
	case tcp.OutcomeConnected:
		return fmt.Sprintf("connected in %s ms", ms(a.RTT))
	case tcp.OutcomeRefused:
		return fmt.Sprintf("refused (RST) after %s ms", ms(a.RTT))
	case tcp.OutcomeTimeout:
		return fmt.Sprintf("timeout: no answer within %s ms", ms(wait))
	case tcp.OutcomeUnreachable:
		if a.ICMP != nil {
			return fmt.Sprintf("unreachable: %s from %s (ICMP type %d code %d: %s) after %s ms",
				a.Reason, a.From, a.ICMP.Type, a.ICMP.Code, a.ICMP.Text(), ms(a.RTT))
		}
		return fmt.Sprintf("unreachable: %s (%s)", a.Reason, a.Errno)
	}
	return string(a.Outcome)
}

func (p *printer) attempt(a tcp.Attempt) {
	fmt.Fprintf(p.w, "seq=%d %s\n", a.Seq, line(a, p.wait))
}

func (p *printer) summary(r *tcp.Result) {
	if !p.started {
		p.header(r)
	}
	st := r.Stats
	fmt.Fprintf(p.w, "\n--- %s tcping statistics ---\n", r.Addr)
	fmt.Fprintf(p.w, "%d attempts, %d connected, %s%% loss (%d refused, %d timeout, %d unreachable), time %dms\n",
		st.Sent, st.Received, fmt.Sprintf("%.4g", st.LossPct), r.Refused, r.Timeouts, r.Unreachable, r.Duration.Milliseconds())
	if st.Received > 0 {
		fmt.Fprintf(p.w, "rtt min/avg/max/mdev = %s/%s/%s/%s ms\n", ms(st.Min), ms(st.Avg), ms(st.Max), ms(st.Mdev))
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f", rtt.Ms(d)) }

// jsonResult is the -o json document. Field names are a contract.
type jsonResult struct {
	Target      string        `json:"target"`
	Address     string        `json:"address"`
	Attempts    []jsonAttempt `json:"attempts"`
	Omitted     int           `json:"omitted,omitempty"` // oldest entries dropped from the list in a long run (still counted)
	Sent        int           `json:"sent"`
	Connected   int           `json:"connected"`
	Refused     int           `json:"refused"`
	Timeouts    int           `json:"timeouts"`
	Unreachable int           `json:"unreachable"`
	LossPct     float64       `json:"lossPct"`
	RTT         *jsonRTT      `json:"rtt,omitempty"`
	DurationMs  float64       `json:"durationMs"`
	TimedOut    bool          `json:"timedOut,omitempty"`
	Interrupted bool          `json:"interrupted,omitempty"`
}

type jsonAttempt struct {
	Seq         int         `json:"seq"`
	Outcome     tcp.Outcome `json:"outcome"`
	RTTMs       float64     `json:"rttMs,omitempty"`
	KernelRTTMs float64     `json:"kernelRttMs,omitempty"`
	Local       string      `json:"local,omitempty"`
	Reason      tcp.Reason  `json:"reason,omitempty"`
	From        string      `json:"from,omitempty"`
	ICMP        *jsonICMP   `json:"icmp,omitempty"`
	Errno       string      `json:"errno,omitempty"`
}

type jsonICMP struct {
	Type   int         `json:"type"`
	Code   int         `json:"code"`
	Reason icmp.Reason `json:"reason"`
	Text   string      `json:"text"`
}

type jsonRTT struct {
	MinMs    float64 `json:"minMs"`
	AvgMs    float64 `json:"avgMs"`
	MaxMs    float64 `json:"maxMs"`
	MdevMs   float64 `json:"mdevMs"`
	MedianMs float64 `json:"medianMs"`
}

func toJSON(r *tcp.Result, timedOut, interrupted bool) jsonResult {
	st := r.Stats
	j := jsonResult{Target: r.Target, Address: r.Addr.String(), Attempts: []jsonAttempt{}, Omitted: r.Omitted, Sent: st.Sent, Connected: st.Received,
		Refused: r.Refused, Timeouts: r.Timeouts, Unreachable: r.Unreachable, LossPct: st.LossPct,
		DurationMs: rtt.Ms(r.Duration), TimedOut: timedOut, Interrupted: interrupted}
	for _, a := range r.Attempts {
		ja := jsonAttempt{Seq: a.Seq, Outcome: a.Outcome, Reason: a.Reason, Errno: a.Errno}
		if a.Outcome != tcp.OutcomeTimeout && a.Outcome != tcp.OutcomeCancelled {
			ja.RTTMs = rtt.Ms(a.RTT)
		}
		ja.KernelRTTMs = rtt.Ms(a.KernelRTT)
		if a.Local.IsValid() {
			ja.Local = a.Local.String()
		}
		if a.From.IsValid() {
			ja.From = a.From.String()
		}
		if e := a.ICMP; e != nil {
			ja.ICMP = &jsonICMP{Type: e.Type, Code: e.Code, Reason: e.Reason, Text: e.Text()}
		}
		j.Attempts = append(j.Attempts, ja)
	}
	if st.Received > 0 {
		j.RTT = &jsonRTT{MinMs: rtt.Ms(st.Min), AvgMs: rtt.Ms(st.Avg), MaxMs: rtt.Ms(st.Max), MdevMs: rtt.Ms(st.Mdev), MedianMs: rtt.Ms(st.Median)}
	}
	return j
}
