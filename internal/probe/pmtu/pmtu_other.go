//go:build !linux

package pmtu

import (
	"context"

	"github.com/netdoctor/netdoctor/internal/netns"
)

func discover(context.Context, *netns.NS, Options) (*Result, error) { return nil, ErrNotSupported }
