package trace

import (
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
	// sends holds, per key (a TTL), the send times of its probes.
	sends map[int][]time.Duration
}

// pacingMargin is the safety added to every computed send time: a few jiffies at HZ=100..1000 plus
// jitter between our clock and the router's.
const pacingMargin = 25 * time.Millisecond

func newPacer(burst int, refill time.Duration) *pacer {
	return &pacer{burst: burst, refill: refill, margin: pacingMargin, sends: map[int][]time.Duration{}}
}

// sent records a probe sent at t (time since the start) under key (its TTL).
func (p *pacer) sent(key int, t time.Duration) {
	p.sends[key] = append(p.sends[key], t)
}

// credit replays the bucket of one responder and returns its credit just after the last send and
// the time of that send.
func (p *pacer) credit(times []time.Duration) (time.Duration, time.Duration) {
	capacity := time.Duration(p.burst) * p.refill
	credit, last := capacity, time.Duration(0)
	for i, t := range times {
		if i > 0 {
			credit = min(capacity, credit+t-last)
		}
		last = t
		if credit > p.refill {
			credit -= p.refill
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
		var times []time.Duration
		for _, k := range g {
			times = append(times, p.sends[k]...)
		}
		if len(times) == 0 {
			continue
		}
		slices.Sort(times)
		credit, last := p.credit(times)
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
