//go:build !linux

package trace

import (
	"context"

	"github.com/netdoctor/netdoctor/internal/netns"
)

func run(context.Context, *netns.NS, Options) (*Result, error) { return nil, ErrNotSupported }
