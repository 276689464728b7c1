//go:build linux

package nodestate

import (
	"context"
	"errors"

	"github.com/netdoctor/netdoctor/internal/netns"
)

func take(ctx context.Context, ns *netns.NS, opt Options) (*Snapshot, error) {
	return nil, errors.New("nodestate: not implemented yet")
}

func routeLookup(ctx context.Context, ns *netns.NS, q RouteQuery) (*RouteResult, error) {
	return nil, errors.New("nodestate: not implemented yet")
}
