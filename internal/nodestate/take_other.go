//go:build !linux

package nodestate

import (
	"context"

	"github.com/netdoctor/netdoctor/internal/netns"
)

func take(context.Context, *netns.NS, Options) (*Snapshot, error) { return nil, ErrNotSupported }

func routeLookup(context.Context, *netns.NS, RouteQuery) (*RouteResult, error) {
	return nil, ErrNotSupported
}
