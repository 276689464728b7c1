package rtt

import (
	"testing"
	"time"
)

func TestCompute(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name string
		sent int
		rtts []time.Duration
		want Stats
	}{
		{"nothing sent", 0, nil, Stats{}},
		{"all lost", 4, nil, Stats{Sent: 4, LossPct: 100}},
		{"one", 1, []time.Duration{2 * ms}, Stats{Sent: 1, Received: 1, Min: 2 * ms, Avg: 2 * ms, Max: 2 * ms, Median: 2 * ms}},
		// mean 2.5, population variance (0.25+2.25+0.25+2.25)/4... values 1,2,3,4: var 1.25, sd 1.118034 ms
		{"four, one lost", 5, []time.Duration{4 * ms, 1 * ms, 3 * ms, 2 * ms}, Stats{Sent: 5, Received: 4, LossPct: 20,
			Min: 1 * ms, Avg: 2500 * time.Microsecond, Max: 4 * ms, Median: 2500 * time.Microsecond, Mdev: 1118034 * time.Nanosecond}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Compute(tc.sent, tc.rtts)
			if d := got.Mdev - tc.want.Mdev; d < -time.Microsecond || d > time.Microsecond {
				t.Errorf("Mdev = %v, want %v", got.Mdev, tc.want.Mdev)
			}
			got.Mdev = tc.want.Mdev
			if got != tc.want {
				t.Errorf("Compute(%d, %v) = %+v, want %+v", tc.sent, tc.rtts, got, tc.want)
			}
		})
	}
}
