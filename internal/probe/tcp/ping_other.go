//go:build !linux

package tcp

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/netdoctor/netdoctor/internal/netns"
)

func ping(context.Context, *netns.NS, Options, netip.AddrPort) (*Result, error) {
	return nil, fmt.Errorf("probe/tcp: %w", ErrNotSupported)
}
