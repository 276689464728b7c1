//go:build !linux

package icmp

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/netdoctor/netdoctor/internal/netns"
)

func ping(context.Context, *netns.NS, Options, netip.Addr) (*Result, error) {
	return nil, fmt.Errorf("probe/icmp: %w", ErrNotSupported)
}
