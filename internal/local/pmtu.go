package local

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/netdoctor/netdoctor/internal/check"
)

// PMTU discovers the path MTU from a vantage point.
func (a *Access) PMTU(ctx context.Context, from check.Vantage, to netip.Addr) (*check.PMTUObs, error) {
	return nil, fmt.Errorf("pmtu probe: not available")
}
