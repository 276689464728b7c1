package lab

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Outcome is what a flow got, in the diagnoser's probe vocabulary.
type Outcome string

// Flow outcomes. OutcomeFail is only used as a wanted outcome: any outcome but OutcomeOK matches it.
const (
	OutcomeOK          Outcome = "ok"
	OutcomeTimeout     Outcome = "timeout"
	OutcomeRefused     Outcome = "refused"     // TCP RST or ICMP port unreachable
	OutcomeUnreachable Outcome = "unreachable" // ICMP host/net unreachable or prohibited
	OutcomeNXDomain    Outcome = "nxdomain"
	OutcomeServFail    Outcome = "servfail"
	OutcomePartialLoss Outcome = "partial-loss" // some packets of a series lost, some answered
	OutcomeNoSandbox   Outcome = "no-sandbox"   // the source pod has no network namespace (stuck creating)
	OutcomeError       Outcome = "error"        // anything else that went wrong on the wire
	OutcomeFail        Outcome = "fail"
)

// Flow is one real exchange run from a lab namespace.
type Flow struct {
	Name  string  `json:"name"`           // what it shows, for messages
	From  string  `json:"from"`           // as Request.From
	To    string  `json:"to"`             // as Request.To
	Proto string  `json:"proto"`          // tcp (connect), http (GET, or POST of Size bytes), dns, dns-tcp, icmp
	Size  int     `json:"size,omitempty"` // POST body bytes (http) or ICMP payload bytes (icmp, sent with DF)
	Want  Outcome `json:"want"`           // the outcome under the fault
	// Retrans asks for TCP retransmissions on the flow's socket when it times out (the black hole).
	Retrans bool `json:"retrans,omitempty"`
}

// FlowResult is what a flow got.
type FlowResult struct {
	Flow     Flow          `json:"flow"`
	Got      Outcome       `json:"got"`
	Detail   string        `json:"detail"`
	Retrans  uint32        `json:"retrans,omitempty"` // TCP retransmissions seen on the socket
	Duration time.Duration `json:"duration"`
}

// Matches reports whether got satisfies want.
func (o Outcome) Matches(want Outcome) bool {
	if want == OutcomeFail {
		return o != OutcomeOK
	}
	return o == want
}

// String is one line for a person.
func (r FlowResult) String() string {
	s := fmt.Sprintf("%s: %s %s -> %s", r.Flow.Name, r.Flow.Proto, r.Flow.From, r.Flow.To)
	if r.Flow.Size > 0 {
		s += fmt.Sprintf(" (%d bytes)", r.Flow.Size)
	}
	s += fmt.Sprintf(": %s", r.Got)
	if r.Detail != "" {
		s += " (" + r.Detail + ")"
	}
	if r.Retrans > 0 {
		s += fmt.Sprintf(", %d retransmissions", r.Retrans)
	}
	return s
}

// RunFlows runs flows concurrently and returns their results in order.
func (l *Lab) RunFlows(ctx context.Context, flows []Flow) []FlowResult {
	out := make([]FlowResult, len(flows))
	done := make(chan struct{}, len(flows))
	for i, f := range flows {
		go func() {
			out[i] = l.RunFlow(ctx, f)
			done <- struct{}{}
		}()
	}
	for range flows {
		<-done
	}
	return out
}

// CheckFlows runs flows and returns an error listing every flow whose outcome differs from its
// Want, or from OutcomeOK when healthy is true.
func (l *Lab) CheckFlows(ctx context.Context, flows []Flow, healthy bool) error {
	var bad []string
	for _, r := range l.RunFlows(ctx, flows) {
		want := r.Flow.Want
		if healthy {
			want = OutcomeOK
		}
		ok := r.Got.Matches(want)
		if ok && !healthy && r.Flow.Retrans && r.Retrans == 0 {
			ok = false
		}
		if !ok {
			bad = append(bad, fmt.Sprintf("%s; want %s", r, want))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("lab: %w: %s", ErrSymptom, strings.Join(bad, "; "))
	}
	return nil
}

// ErrSymptom is wrapped by verification errors: a flow did not behave as the fault says it should.
var ErrSymptom = errors.New("symptom not as expected")
