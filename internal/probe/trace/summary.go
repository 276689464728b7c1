package trace

import (
	"math"
	"net/netip"
	"time"
)

// probe is one packet sent and what became of it.
type probe struct {
	round, ttl int
	sentAt     time.Duration // since the start of the trace
	sentWall   time.Time     // wall clock at sending (no monotonic reading), for kernel receive stamps
	replied    bool
	final      bool       // the answer came from the destination itself
	from       netip.Addr // who answered
	rtt        time.Duration
	unreach    string // an ICMP destination-unreachable that is not the expected final answer
	denied     bool   // already reported to the pacer as a skipped reply
}

// destTTL is the smallest TTL the destination answered, 0 if it never did.
func destTTL(probes []*probe) int {
	d := 0
	for _, p := range probes {
		if p.replied && p.final && (d == 0 || p.ttl < d) {
			d = p.ttl
		}
	}
	return d
}

// summarize turns the probes into per-hop statistics, mtr-style: hops 1 up to the destination, or
// when it never answered up to the first router that said it is unreachable, else one past the
// last TTL that answered. A missing reply while a
// deeper TTL of the same round answered counts as rate-limited, not lost; a hop that never answered
// at all is shown as lost on every probe, like mtr's "???".
func summarize(probes []*probe) (hops []Hop, reached bool, destLoss float64) {
	dest := destTTL(probes)
	last, maxSent := dest, 0
	deep := map[int]int{} // round → deepest TTL that answered
	for _, p := range probes {
		maxSent = max(maxSent, p.ttl)
		if p.replied {
			deep[p.round] = max(deep[p.round], p.ttl)
		}
	}
	if dest == 0 {
		answered, unreach := 0, 0
		for _, p := range probes {
			if p.replied {
				answered = max(answered, p.ttl)
				if p.unreach != "" && (unreach == 0 || p.ttl < unreach) {
					unreach = p.ttl
				}
			}
		}
		switch {
		case unreach > 0:
			last = unreach // the router that says "unreachable" ends the path
		default:
			last = min(answered+1, maxSent)
		}
	}
	hops = make([]Hop, last)
	rtts := make([][]time.Duration, last)
	lastRound := make([]int, last)
	for i := range hops {
		hops[i].TTL = i + 1
		hops[i].Addrs = []netip.Addr{}
		lastRound[i] = -1
	}
	for _, p := range probes {
		if p.ttl > last {
			continue
		}
		h := &hops[p.ttl-1]
		h.Sent++
		switch {
		case p.replied:
			h.Received++
			if !containsAddr(h.Addrs, p.from) {
				h.Addrs = append(h.Addrs, p.from)
			}
			rtts[p.ttl-1] = append(rtts[p.ttl-1], p.rtt)
			if p.round > lastRound[p.ttl-1] {
				lastRound[p.ttl-1] = p.round
				h.LastMs = ms(p.rtt)
			}
			if p.unreach != "" {
				h.Unreachable = p.unreach
			}
		case deep[p.round] > p.ttl:
			h.RateLimited++
		default:
			h.Lost++
		}
	}
	for i := range hops {
		h := &hops[i]
		if h.Received == 0 {
			h.Lost, h.RateLimited = h.Sent, 0
		}
		if h.Sent > 0 {
			h.LossPct = 100 * float64(h.Lost) / float64(h.Sent)
		}
		h.AvgMs, h.BestMs, h.WorstMs, h.StdevMs = rttStats(rtts[i])
	}
	if dest == 0 {
		return hops, false, 100
	}
	return hops, true, hops[dest-1].LossPct
}

func containsAddr(as []netip.Addr, a netip.Addr) bool {
	for _, x := range as {
		if x == a {
			return true
		}
	}
	return false
}

// ms converts to milliseconds, rounded to the microsecond.
func ms(d time.Duration) float64 { return math.Round(float64(d)/float64(time.Microsecond)) / 1000 }

// rttStats returns average, best, worst and population standard deviation in milliseconds.
func rttStats(rtts []time.Duration) (avg, best, worst, stdev float64) {
	if len(rtts) == 0 {
		return 0, 0, 0, 0
	}
	best, worst = math.Inf(1), math.Inf(-1)
	var sum float64
	for _, r := range rtts {
		v := ms(r)
		sum += v
		best, worst = math.Min(best, v), math.Max(worst, v)
	}
	avg = sum / float64(len(rtts))
	var ss float64
	for _, r := range rtts {
		d := ms(r) - avg
		ss += d * d
	}
	r3 := func(x float64) float64 { return math.Round(x*1000) / 1000 }
	return r3(avg), r3(best), r3(worst), r3(math.Sqrt(ss / float64(len(rtts))))
}
