package local

import (
	"context"
	"fmt"

	"github.com/netdoctor/netdoctor/internal/check"
	"github.com/netdoctor/netdoctor/internal/drops"
)

// TraceDrops implements check.DropTracer on this machine: the eBPF drop tracer (internal/drops)
// on the namespaces of the vantage points that are here.
func (a *Access) TraceDrops(ctx context.Context, req check.DropTraceRequest) (*check.DropTrace, error) {
	if a.NoDropTracer {
		return nil, fmt.Errorf("the kernel drop tracer is off (--drop-tracer=false)")
	}
	at := req.At
	opts := drops.Options{Mode: drops.ModeEBPF, Names: map[uint64]string{}}
	index := map[uint64]int{}
	var traced []int
	for i, v := range at {
		ns, _, err := a.vantage(ctx, v)
		if err != nil {
			continue
		}
		ino := ns.Inode()
		ns.Close()
		if _, dup := index[ino]; dup || ino == 0 {
			continue
		}
		index[ino] = i
		traced = append(traced, i)
		opts.Netns = append(opts.Netns, ino)
		opts.Names[ino] = fmt.Sprint(i)
	}
	if len(traced) == 0 {
		return &check.DropTrace{}, nil
	}
	convert := func(i int, e drops.Event) check.DropEvent {
		f := e.Flow
		return check.DropEvent{At: i, Time: e.Time, Device: e.Device, Reason: e.Reason,
			Location: e.Location, Function: e.Function, Proto: f.Proto, Src: f.Src, Dst: f.Dst,
			SrcPort: f.SrcPort, DstPort: f.DstPort, Info: f.Info}
	}
	var enough func(drops.Event) bool
	if req.Enough != nil {
		enough = func(e drops.Event) bool {
			i, ok := index[e.NetnsInode]
			return ok && req.Enough(convert(i, e))
		}
	}
	events, tr, err := drops.CollectUntil(ctx, opts, req.Resend, req.Linger, enough)
	if err != nil {
		return nil, err
	}
	out := &check.DropTrace{Mode: string(tr.Mode()), Traced: traced, Lost: tr.Lost()}
	for _, e := range events {
		i, ok := index[e.NetnsInode]
		if !ok {
			continue
		}
		out.Events = append(out.Events, convert(i, e))
	}
	return out, nil
}
