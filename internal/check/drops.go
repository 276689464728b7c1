package check

import (
	"context"
	"net/netip"
	"time"
)

// DropTracer is implemented by Views that can ask the kernel which packets it drops in the
// network namespaces of some vantage points (internal/local on this machine; the node agent
// could serve it too). TraceDrops attaches a tracer to the namespaces of req.At, runs req.Resend
// (which re-sends the failing probe), lingers as asked, detaches, and returns the drops seen
// meanwhile. Vantage points whose namespace cannot be reached from here are left out
// (DropTrace.Traced says which were traced); an error means nothing could be traced (no
// permission, no eBPF).
type DropTracer interface {
	TraceDrops(ctx context.Context, req DropTraceRequest) (*DropTrace, error)
}

// DropTraceRequest says where to trace and what to do meanwhile.
type DropTraceRequest struct {
	// At are the vantage points whose namespaces are traced.
	At []Vantage
	// Resend runs while the tracer is attached (it re-sends the failing probe).
	Resend func(context.Context)
	// Linger keeps the tracer attached up to this long after Resend returned, until Enough
	// returns true for a drop: some drops come late (a neighbour resolution gives up after about
	// 3 s). Zero: detach when Resend returns.
	Linger time.Duration
	Enough func(DropEvent) bool
}

// DropTrace is what a DropTracer saw.
type DropTrace struct {
	// Mode is how the kernel was asked ("ebpf").
	Mode string
	// Traced lists the indexes in at of the vantage points whose namespaces were traced.
	Traced []int
	// Events are the drops, in the order they were read.
	Events []DropEvent
	// Lost counts drops the tracer could not deliver (buffer full).
	Lost uint64
}

// DropEvent is one packet the kernel dropped.
type DropEvent struct {
	// At is the index in the traced vantage points of the namespace that dropped it.
	At   int
	Time time.Time
	// Device is the packet's device at the drop ("" when it had none).
	Device string
	// Reason is the kernel's drop reason without its prefix (NETFILTER_DROP, NO_SOCKET, …).
	Reason string
	// Location is the dropping kernel function and offset ("ip_error+0x94"); Function the name.
	Location, Function string
	// Proto is tcp, udp, icmp, …; Src/Dst and the ports come from the packet's headers.
	Proto            string
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	// Info holds TCP flags ("[S]"), "DF" and the IP length, tcpdump style.
	Info string
}
