//go:build !linux

package bulk

import (
	"context"
	"errors"

	"github.com/netdoctor/netdoctor/internal/netns"
)

func run(context.Context, *netns.NS, Options) (*Result, error) {
	return nil, errors.New("probe/bulk: only supported on Linux")
}
