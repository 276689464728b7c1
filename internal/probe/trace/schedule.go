package trace

import (
	"cmp"
	"slices"
	"time"
)

// pacer decides when the next round may be sent without any responder exceeding its ICMP rate
// limit. It models the Linux limiter (net/ipv4/icmp.c, inet_peer_xrlim_allow): a bucket per
// destination holding up to burst×refill of credit that grows with time; a message costs refill of
// credit and is sent only while the credit exceeds that cost. The bucket starts full (a fresh peer).
type pacer struct {
	burst  int
	refill time.Duration
	margin time.Duration // extra credit required, for jiffy rounding and network jitter
	// sends holds, per key (a TTL), the send times of its probes; denials the send times of probes
	// the responder did not answer for lack of credit (observed, not modelled).
	sends   map[int][]time.Duration
	denials map[int][]time.Duration
}

// pacingMargin is the safety added to every computed send time: a few jiffies at HZ=100..1000 plus
// jitter between our clock and the router's.
const pacingMargin = 25 * time.Millisecond

// jiffy is the longest kernel tick (HZ=100).
const jiffy = 10 * time.Millisecond

func newPacer(burst int, refill time.Duration) *pacer {
	return &pacer{burst: burst, refill: refill, margin: pacingMargin, sends: map[int][]time.Duration{},
		denials: map[int][]time.Duration{}}
}

// sent records a probe sent at t (time since the start) under key (its TTL).
func (p *pacer) sent(key int, t time.Duration) {
	p.sends[key] = append(p.sends[key], t)
}

// denied records that the responder of key skipped the reply to a probe sent at t although the
// model expected one: its bucket was empty then (another prober, an earlier run). The bucket is taken
// as empty at t.
func (p *pacer) denied(key int, t time.Duration) {
	p.denials[key] = append(p.denials[key], t)
}

// event is a send, or an observed denial, in a bucket's history.
type event struct {
	at     time.Duration
	denied bool
}

// credit replays the bucket of one responder and returns its credit just after the last event and
// the time of that event.
func (p *pacer) credit(events []event) (time.Duration, time.Duration) {
	capacity := time.Duration(p.burst) * p.refill
	credit, last := capacity, time.Duration(0)
	for i, e := range events {
		if i > 0 {
			credit = min(capacity, credit+e.at-last)
		}
		last = e.at
		switch {
		case e.denied:
			credit = 0
		case credit > p.refill-jiffy:
			// The kernel counts credit in jiffies: a message a jiffy after the bucket reached one
			// message's worth still passes. Assume it did; over-estimating use only slows us down.
			credit = max(0, credit-p.refill)
		}
	}
	return credit, last
}

// next returns the earliest time, not before now, at which every bucket has credit for one more
// message (plus the margin). Each group lists the keys given to sent whose probes one responder
// answers (one bucket).
func (p *pacer) next(now time.Duration, groups [][]int) time.Duration {
	at := now
	for _, g := range groups {
		var events []event
		for _, k := range g {
			for _, t := range p.sends[k] {
				events = append(events, event{at: t})
			}
			for _, t := range p.denials[k] {
				events = append(events, event{at: t, denied: true})
			}
		}
		if len(events) == 0 {
			continue
		}
		// A denial sorts after the send it is about (same time), so it wins.
		slices.SortStableFunc(events, func(a, b event) int {
			switch {
			case a.at != b.at:
				return cmp.Compare(a.at, b.at)
			case a.denied == b.denied:
				return 0
			case a.denied:
				return 1
			}
			return -1
		})
		credit, last := p.credit(events)
		need := p.refill + p.margin
		if credit >= need {
			continue
		}
		if t := last + need - credit; t > at {
			at = t
		}
	}
	return at
}
