// Package rtt summarises round-trip times the way ping does: sent, received, loss, and
// min/avg/max/mdev, plus the median the benchmarks compare on. It is pure arithmetic, shared by the
// icmp and tcp probes so both report identical statistics.
package rtt

import (
	"math"
	"slices"
	"time"
)

// Stats summarises one run of probes.
type Stats struct {
	// Sent is the number of probes that were sent and reached a final outcome.
	Sent int
	// Received is the number of probes that got the answer a healthy path gives (echo reply,
	// completed handshake). Received <= Sent.
	Received int
	// LossPct is 100*(Sent-Received)/Sent, 0 when nothing was sent.
	LossPct float64
	// Min, Avg, Max, Median and Mdev are computed over the answered probes only; all zero when
	// Received is 0. Mdev is the population standard deviation, as iputils ping prints it.
	Min, Avg, Max, Median, Mdev time.Duration
}

// Compute returns the statistics of sent probes of which len(rtts) were answered with the given
// round-trip times. rtts is not modified.
func Compute(sent int, rtts []time.Duration) Stats {
	s := Stats{Sent: sent, Received: len(rtts)}
	if sent > 0 {
		s.LossPct = 100 * float64(sent-len(rtts)) / float64(sent)
	}
	if len(rtts) == 0 {
		return s
	}
	sorted := slices.Clone(rtts)
	slices.Sort(sorted)
	s.Min, s.Max = sorted[0], sorted[len(sorted)-1]
	n := len(sorted)
	if n%2 == 1 {
		s.Median = sorted[n/2]
	} else {
		s.Median = (sorted[n/2-1] + sorted[n/2]) / 2
	}
	var sum, sum2 float64
	for _, r := range sorted {
		f := float64(r)
		sum += f
		sum2 += f * f
	}
	mean := sum / float64(n)
	s.Avg = time.Duration(math.Round(mean))
	if v := sum2/float64(n) - mean*mean; v > 0 {
		s.Mdev = time.Duration(math.Round(math.Sqrt(v)))
	}
	return s
}

// Ms is d in milliseconds as a float, the unit every netdoctor report uses for round trips.
func Ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
