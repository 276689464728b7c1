package nodestate

import (
	"context"
	"errors"

	"github.com/netdoctor/netdoctor/internal/netns"
)

// ErrNotSupported is returned by Take and RouteLookup on systems other than Linux.
var ErrNotSupported = errors.New("nodestate: reading network state is only supported on Linux")

// Take snapshots the namespace ns (nil = the caller's own). It returns an error only when the
// namespace is unusable (gone, no permission, netlink unavailable); any part that fails to read is
// left empty and named in Snapshot.Errors. ctx bounds the whole snapshot.
func Take(ctx context.Context, ns *netns.NS, opt Options) (*Snapshot, error) {
	return take(ctx, ns, opt)
}

// RouteLookup asks the kernel of ns for the route q's packet would take (through the per-netns
// netlink handle) and, for a VXLAN output device, which FDB/neighbour entry and remote VTEP it would
// use. The error is set only when the look-up could not run; a refused look-up (unreachable) is a
// RouteResult with Type and Error.
func RouteLookup(ctx context.Context, ns *netns.NS, q RouteQuery) (*RouteResult, error) {
	return routeLookup(ctx, ns, q)
}
