//go:build linux

package drops

import (
	"context"
)

func startTracefs(ctx context.Context, opts Options) (*Tracer, error) {
	return nil, ErrNotSupported
}
