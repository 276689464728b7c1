package agent

import (
	"context"
	"errors"
	"net/netip"

	corev1 "k8s.io/api/core/v1"

	"github.com/netdoctor/netdoctor/internal/check"
	"github.com/netdoctor/netdoctor/internal/local"
	"github.com/netdoctor/netdoctor/internal/nodestate"
)

// Access is what the diagnoser needs of node access: views, probes and finding a pod's namespace.
// *local.Access and *Client both implement it.
type Access interface {
	check.Views
	check.Prober
	check.LargeProber
	PodNetns(ctx context.Context, pod *corev1.Pod) (string, error)
}

// Fallback uses Local for every node and pod whose namespace is on this machine (a lab, or the
// agent's own node) and Remote (the agents) for the others: a call goes to Remote only when Local
// fails with local.ErrNoAccess.
type Fallback struct {
	Local  Access
	Remote Access
}

var _ Access = (*Fallback)(nil)
var _ Access = (*Client)(nil)
var _ Access = (*local.Access)(nil)

func either[T any](f *Fallback, l func(Access) (T, error)) (T, error) {
	v, err := l(f.Local)
	if err != nil && errors.Is(err, local.ErrNoAccess) && f.Remote != nil {
		return l(f.Remote)
	}
	return v, err
}

// Node implements check.Views.
func (f *Fallback) Node(ctx context.Context, node string) (*nodestate.Snapshot, error) {
	return either(f, func(a Access) (*nodestate.Snapshot, error) { return a.Node(ctx, node) })
}

// Pod implements check.Views.
func (f *Fallback) Pod(ctx context.Context, pod *corev1.Pod) (*nodestate.Snapshot, error) {
	return either(f, func(a Access) (*nodestate.Snapshot, error) { return a.Pod(ctx, pod) })
}

// Netns implements check.Views (local only: a path names a namespace of this machine).
func (f *Fallback) Netns(ctx context.Context, path string) (*nodestate.Snapshot, error) {
	return f.Local.Netns(ctx, path)
}

// Route implements check.Views.
func (f *Fallback) Route(ctx context.Context, node string, q nodestate.RouteQuery) (*nodestate.RouteResult, error) {
	return either(f, func(a Access) (*nodestate.RouteResult, error) { return a.Route(ctx, node, q) })
}

// Rules implements check.Views.
func (f *Fallback) Rules(ctx context.Context, at check.Vantage) (*nodestate.Iptables, error) {
	return either(f, func(a Access) (*nodestate.Iptables, error) { return a.Rules(ctx, at) })
}

// PodNetns implements engine.SourceResolver.
func (f *Fallback) PodNetns(ctx context.Context, pod *corev1.Pod) (string, error) {
	return either(f, func(a Access) (string, error) { return a.PodNetns(ctx, pod) })
}

// TCP implements check.Prober.
func (f *Fallback) TCP(ctx context.Context, from check.Vantage, to netip.AddrPort, count int) (*check.TCPObs, error) {
	return either(f, func(a Access) (*check.TCPObs, error) { return a.TCP(ctx, from, to, count) })
}

// Ping implements check.Prober.
func (f *Fallback) Ping(ctx context.Context, from check.Vantage, to netip.Addr, size int, df bool, count int) (*check.ICMPObs, error) {
	return either(f, func(a Access) (*check.ICMPObs, error) { return a.Ping(ctx, from, to, size, df, count) })
}

// DNS implements check.Prober.
func (f *Fallback) DNS(ctx context.Context, from check.Vantage, q check.DNSQuery) (*check.DNSObs, error) {
	return either(f, func(a Access) (*check.DNSObs, error) { return a.DNS(ctx, from, q) })
}

// PMTU implements check.Prober.
func (f *Fallback) PMTU(ctx context.Context, from check.Vantage, to netip.Addr) (*check.PMTUObs, error) {
	return either(f, func(a Access) (*check.PMTUObs, error) { return a.PMTU(ctx, from, to) })
}

// Large implements check.LargeProber.
func (f *Fallback) Large(ctx context.Context, from check.Vantage, to netip.AddrPort, n int) (*check.LargeObs, error) {
	return either(f, func(a Access) (*check.LargeObs, error) { return a.Large(ctx, from, to, n) })
}

// UDP implements check.LargeProber.
func (f *Fallback) UDP(ctx context.Context, from check.Vantage, to netip.AddrPort, payload []byte, count int) (*check.UDPObs, error) {
	return either(f, func(a Access) (*check.UDPObs, error) { return a.UDP(ctx, from, to, payload, count) })
}

// TraceDrops implements check.DropTracer with this machine's kernel drop tracer, on the vantage
// points whose namespaces are here (a lab, or the node this runs on); it traces nothing elsewhere:
// drop tracing through the agents is not built yet.
func (f *Fallback) TraceDrops(ctx context.Context, req check.DropTraceRequest) (*check.DropTrace, error) {
	t, ok := f.Local.(check.DropTracer)
	if !ok {
		return nil, errors.New("no kernel drop tracer on this machine")
	}
	return t.TraceDrops(ctx, req)
}
