package pmtu

// smallSizes are tried, in order, before the full size: the first that passes proves the target
// answers at all and gives the round-trip time the waits are derived from.
var smallSizes = []int{576, MinSize}

// search decides the next probe size from what the previous probes showed. It is pure: Discover
// feeds it outcomes and it never touches the network.
type search struct {
	max    int
	probes []Probe
	budget int
}

// largestOK is the largest size that passed (0 if none).
func (s *search) largestOK() int {
	ok := 0
	for _, p := range s.probes {
		if p.Outcome == OutcomeOK {
			ok = max(ok, p.Size)
		}
	}
	return ok
}

// upper is the smallest size known not to pass above ok, and how it failed. A frag-needed that
// announced MTU m means every size above m fails, so it counts as a failure at m+1.
func (s *search) upper(ok int) (int, Outcome) {
	up, how := s.max+1, Outcome("")
	for _, p := range s.probes {
		size := p.Size
		switch p.Outcome {
		case OutcomeFragNeeded:
			if p.MTU >= MinSize && p.MTU < p.Size {
				size = p.MTU + 1
			}
		case OutcomeLost, OutcomeTooBig:
		default:
			continue
		}
		if size > ok && (size < up || size == up && p.Outcome == OutcomeFragNeeded) {
			up, how = size, p.Outcome
		}
	}
	return up, how
}

func (s *search) tried(size int) int {
	n := 0
	for _, p := range s.probes {
		if p.Size == size {
			n++
		}
	}
	return n
}

// next returns the next size to probe, or 0 when the search is over.
func (s *search) next() int {
	if len(s.probes) >= s.budget {
		return 0
	}
	for _, p := range s.probes {
		if p.Outcome == OutcomeUnreachable {
			return 0
		}
	}
	ok := s.largestOK()
	up, how := s.upper(ok)
	// A frag-needed announcing an MTU not yet tried: jump there.
	for i := len(s.probes) - 1; i >= 0; i-- {
		p := s.probes[i]
		if p.Outcome == OutcomeFragNeeded && p.MTU > ok && p.MTU < up && s.tried(p.MTU) == 0 {
			return p.MTU
		}
	}
	if ok == 0 {
		for _, sz := range smallSizes {
			if sz < up && s.tried(sz) == 0 {
				if sz >= s.max {
					return s.max
				}
				return sz
			}
		}
		if s.tried(s.max) == 0 {
			return s.max
		}
		return 0 // nothing passes: the target does not answer
	}
	if s.tried(s.max) == 0 && s.max > ok {
		return s.max
	}
	if up-ok <= 1 {
		// Converged. A silent loss at the boundary is tried once more, budget permitting, so a single
		// random loss cannot fake a black hole.
		if how == OutcomeLost && s.tried(up) == 1 && len(s.probes) < min(s.budget, 12) {
			return up
		}
		return 0
	}
	return (ok + up) / 2
}

// lateAnswers turns the latest lost probe of each size into a pass: its answer came after the wait.
// The search heals itself: a lost size below the largest that passed no longer bounds it.
func (s *search) lateAnswers(sizes []int) {
	for _, size := range sizes {
		for i := len(s.probes) - 1; i >= 0; i-- {
			if p := &s.probes[i]; p.Size == size && p.Outcome == OutcomeLost {
				p.Outcome, p.Detail = OutcomeOK, "late answer"
				break
			}
		}
	}
}

// result fills in the verdict fields of r from the probes.
func (s *search) result(r *Result) {
	r.Probes = s.probes
	ok := s.largestOK()
	up, how := s.upper(ok)
	r.LargestOK, r.Reached = ok, ok > 0
	r.Exact = ok > 0 && (up-ok <= 1 || ok == s.max)
	if r.Exact {
		r.PathMTU = ok
	}
	for _, p := range s.probes {
		if p.Outcome == OutcomeFragNeeded && (r.FragNeeded == nil || p.MTU < r.FragNeeded.MTU) {
			r.FragNeeded = &FragNeeded{From: p.From, MTU: p.MTU}
		}
	}
	if ok > 0 && how == OutcomeLost {
		r.BlackHole, r.SmallestLost = true, up
	}
}
