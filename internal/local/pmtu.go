package local

import (
	"context"
	"net/netip"
	"time"

	"github.com/netdoctor/netdoctor/internal/check"
	"github.com/netdoctor/netdoctor/internal/probe/pmtu"
)

// PMTU discovers the path MTU from a vantage point with DF ICMP probes.
func (a *Access) PMTU(ctx context.Context, from check.Vantage, to netip.Addr) (*check.PMTUObs, error) {
	ns, _, err := a.vantage(ctx, from)
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	r, err := pmtu.Discover(ctx, ns, pmtu.Options{Target: to, Wait: 600 * time.Millisecond, MinWait: 200 * time.Millisecond})
	if err != nil {
		return nil, err
	}
	o := &check.PMTUObs{Target: to, LocalMTU: r.LocalMTU, PathMTU: r.PathMTU, BlackHole: r.BlackHole,
		LargestOK: r.LargestOK, SmallestLost: r.SmallestLost, Probes: len(r.Probes), Detail: r.Stopped}
	if f := r.FragNeeded; f != nil {
		o.FragNeeded, o.FragFrom, o.FragMTU = true, f.From, f.MTU
	}
	return o, nil
}
