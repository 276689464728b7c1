package pmtu

import (
	"testing"
)

// simulate runs the search against a path that passes sizes <= pass; beyond, it answers frag-needed
// announcing announce (0: a black hole).
func simulate(max, pass, announce int) *Result {
	s := &search{max: max, budget: DefaultMaxProbes}
	for size := s.next(); size > 0; size = s.next() {
		p := Probe{Size: size}
		switch {
		case size <= pass:
			p.Outcome = OutcomeOK
		case announce > 0:
			p.Outcome, p.MTU = OutcomeFragNeeded, announce
		default:
			p.Outcome = OutcomeLost
		}
		s.probes = append(s.probes, p)
	}
	r := &Result{LocalMTU: max}
	s.result(r)
	return r
}

func TestSearch(t *testing.T) {
	for _, tc := range []struct {
		name                   string
		max, pass, announce    int
		wantPMTU, maxProbes    int
		wantBlackHole, reached bool
	}{
		{"healthy", 1500, 1500, 0, 1500, 2, false, true},
		{"frag-needed", 1500, 1400, 1400, 1400, 3, false, true},
		{"frag-needed jumbo", 9000, 1450, 1450, 1450, 3, false, true},
		{"black hole 1400", 1500, 1400, 0, 1400, 12, true, true},
		{"black hole 1440", 1500, 1440, 0, 1440, 12, true, true},
		{"black hole 577", 1500, 577, 0, 577, 12, true, true},
		{"black hole 1499", 1500, 1499, 0, 1499, 12, true, true},
		{"black hole below 576", 1500, 300, 0, 300, 14, true, true},
		{"nothing passes", 1500, 0, 0, 0, 3, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := simulate(tc.max, tc.pass, tc.announce)
			if r.PathMTU != tc.wantPMTU || r.BlackHole != tc.wantBlackHole || r.Reached != tc.reached {
				t.Errorf("pmtu %d blackHole %v reached %v, want %d %v %v; probes %+v", r.PathMTU, r.BlackHole, r.Reached,
					tc.wantPMTU, tc.wantBlackHole, tc.reached, r.Probes)
			}
			if len(r.Probes) > tc.maxProbes {
				t.Errorf("%d probes, want at most %d: %+v", len(r.Probes), tc.maxProbes, r.Probes)
			}
			if tc.wantBlackHole && (r.LargestOK != tc.pass || r.SmallestLost != tc.pass+1) {
				t.Errorf("largestOK %d smallestLost %d, want %d %d", r.LargestOK, r.SmallestLost, tc.pass, tc.pass+1)
			}
		})
	}
}

// TestSearchConfirmsLoss: a single random loss at the boundary is retried when that fits in 12
// probes, so it cannot fake a black hole.
func TestSearchConfirmsLoss(t *testing.T) {
	s := &search{max: 600, budget: DefaultMaxProbes}
	lostOnce := map[int]bool{}
	for size := s.next(); size > 0; size = s.next() {
		p := Probe{Size: size, Outcome: OutcomeOK}
		if size == 600 && !lostOnce[size] {
			p.Outcome = OutcomeLost
			lostOnce[size] = true
		}
		s.probes = append(s.probes, p)
	}
	r := &Result{}
	s.result(r)
	if r.PathMTU != 600 || r.BlackHole || len(r.Probes) > 12 {
		t.Fatalf("pmtu %d blackHole %v probes %d after one random loss, want 600 false <=12; probes %+v", r.PathMTU, r.BlackHole, len(r.Probes), r.Probes)
	}
}

// TestLateAnswer: a probe counted as lost whose answer arrives later becomes a pass, and the search
// continues above it instead of calling a black hole.
func TestLateAnswer(t *testing.T) {
	s := &search{max: 1500, budget: DefaultMaxProbes}
	late := true
	for size := s.next(); size > 0; size = s.next() {
		p := Probe{Size: size, Outcome: OutcomeOK}
		if size == 1500 && late {
			p.Outcome = OutcomeLost // its answer comes while the next probe waits
		}
		s.probes = append(s.probes, p)
		if size != 1500 && late && len(s.probes) > 2 {
			s.lateAnswers([]int{1500})
			late = false
		}
	}
	r := &Result{}
	s.result(r)
	if r.PathMTU != 1500 || r.BlackHole || !r.Exact {
		t.Fatalf("pmtu %d blackHole %v exact %v, want 1500 false true; probes %+v", r.PathMTU, r.BlackHole, r.Exact, r.Probes)
	}
}
