package trace

import (
	"net/netip"
	"testing"
	"time"
)

// TestPacer: with the Linux defaults (6 messages, then one per second), ten rounds are scheduled as
// six in a burst and four more one second apart, so ten rounds take about four seconds.
func TestPacer(t *testing.T) {
	p := newPacer(DefaultBurst, DefaultRefill)
	groups := [][]int{{1}, {2}}
	var at []time.Duration
	now := time.Duration(0)
	for r := 0; r < 10; r++ {
		now = p.next(now, groups)
		at = append(at, now)
		p.sent(1, now)
		p.sent(2, now)
	}
	for r, got := range at {
		var want time.Duration
		switch {
		case r < 5:
			want = 0
		case r == 5:
			want = pacingMargin
		default:
			want = time.Duration(r-5)*time.Second + pacingMargin
		}
		if got != want {
			t.Errorf("round %d at %v, want %v", r, got, want)
		}
	}
	if last := at[9]; last > 4100*time.Millisecond {
		t.Errorf("10 rounds need %v, want about 4 s", last)
	}
}

// TestPacerMergesGroup: the probes of one group (UDP: every TTL reaching the destination) share
// one bucket.
func TestPacerMergesGroup(t *testing.T) {
	p := newPacer(DefaultBurst, DefaultRefill)
	for ttl := 3; ttl <= 30; ttl++ {
		p.sent(ttl, 0)
	}
	var all []int
	for ttl := 3; ttl <= 30; ttl++ {
		all = append(all, ttl)
	}
	// 28 probes at once empty the bucket (5 answers, a sixth if a jiffy passed: assume it did);
	// then one more per second.
	got := p.next(time.Millisecond, [][]int{all})
	if got != time.Second+pacingMargin {
		t.Errorf("next round at %v after 28 probes to one host, want %v", got, time.Second+pacingMargin)
	}
	p.sent(3, got)
	if got2 := p.next(got, [][]int{all}); got2 != got+time.Second {
		t.Errorf("next round at %v, want %v", got2, got+time.Second)
	}
	if got := p.next(time.Millisecond, [][]int{{3}}); got != time.Millisecond {
		t.Errorf("next round at %v for a bucket with one answer, want now", got)
	}
}

func TestSummarize(t *testing.T) {
	a := netip.MustParseAddr
	r1, r2, d := a("10.0.0.1"), a("10.0.1.1"), a("10.0.2.2")
	ms := time.Millisecond
	probes := []*probe{
		// round 0: all answer, TTL 4 past the destination too
		{round: 0, ttl: 1, replied: true, from: r1, rtt: 1 * ms},
		{round: 0, ttl: 2, replied: true, from: r2, rtt: 2 * ms},
		{round: 0, ttl: 3, replied: true, final: true, from: d, rtt: 3 * ms},
		{round: 0, ttl: 4, replied: true, final: true, from: d, rtt: 3 * ms},
		// round 1: hop 2 silent while the destination answers: rate-limited
		{round: 1, ttl: 1, replied: true, from: r1, rtt: 3 * ms},
		{round: 1, ttl: 2},
		{round: 1, ttl: 3, replied: true, final: true, from: d, rtt: 5 * ms},
		// round 2: nothing beyond hop 1 answers: lost at 2 and 3
		{round: 2, ttl: 1, replied: true, from: a("10.0.0.9"), rtt: 2 * ms},
		{round: 2, ttl: 2},
		{round: 2, ttl: 3},
	}
	hops, reached, destLoss := summarize(probes)
	if !reached || len(hops) != 3 {
		t.Fatalf("reached %v with %d hops, want true, 3", reached, len(hops))
	}
	h1, h2, h3 := hops[0], hops[1], hops[2]
	if h1.Sent != 3 || h1.Received != 3 || len(h1.Addrs) != 2 || h1.AvgMs != 2 || h1.BestMs != 1 || h1.WorstMs != 3 || h1.LastMs != 2 {
		t.Errorf("hop 1 = %+v", h1)
	}
	if h2.Received != 1 || h2.RateLimited != 1 || h2.Lost != 1 || h2.LossPct < 33 || h2.LossPct > 34 {
		t.Errorf("hop 2 = %+v, want 1 received, 1 rate-limited, 1 lost", h2)
	}
	if h3.Sent != 3 || h3.Received != 2 || h3.Lost != 1 || destLoss != h3.LossPct {
		t.Errorf("hop 3 = %+v destLoss %v", h3, destLoss)
	}
}
