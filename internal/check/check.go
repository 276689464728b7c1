// Package check defines what a diagnosis rule is and what it is given: the Check interface, the
// shared Env (cluster view, node views, the symptom probes' observations, a prober for extra
// measurements), and the small helpers findings are built with.
//
// Each rule lives in its own sub-package (internal/check/kubeproxy, …) and never imports another
// rule; rules meet only through this package and internal/diag. The ordered registry is in
// internal/check/registry.
package check

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/netdoctor/netdoctor/internal/diag"
	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/nodestate"
)

// Check is one diagnosis rule.
type Check interface {
	// Name is the stable kebab-case name shown in reports and JSON.
	Name() string
	// Run inspects env and returns findings. An error means the check could not run (it is
	// reported as a note, never aborts the diagnosis); "nothing wrong" is no findings and nil.
	Run(ctx context.Context, env *Env) ([]diag.Finding, error)
}

type funcCheck struct {
	name string
	fn   func(context.Context, *Env) ([]diag.Finding, error)
}

func (f funcCheck) Name() string { return f.name }
func (f funcCheck) Run(ctx context.Context, env *Env) ([]diag.Finding, error) {
	return f.fn(ctx, env)
}

// Func adapts a function to a Check.
func Func(name string, fn func(context.Context, *Env) ([]diag.Finding, error)) Check {
	return funcCheck{name: name, fn: fn}
}

// EndpointKind says what an endpoint of the diagnosis is.
type EndpointKind string

// Endpoint kinds.
const (
	KindPod     EndpointKind = "pod"   // a pod (source or target)
	KindService EndpointKind = "svc"   // a Service (target)
	KindNetns   EndpointKind = "netns" // a network namespace (source), outside the cluster unless it is a node's
	KindPID     EndpointKind = "pid"   // a process's namespace (source)
	KindHost    EndpointKind = "host"  // where netdoctor runs (source)
	KindIP      EndpointKind = "ip"    // a bare address (target)
	KindName    EndpointKind = "name"  // a DNS name (target), resolved as the client would
	KindNode    EndpointKind = "node"  // a node's own namespace (source)
)

// Endpoint is a resolved source or target.
type Endpoint struct {
	Spec string       // as the user typed it
	Kind EndpointKind // what it is
	// Pod is the pod (source pod, target pod, or the pod behind a target IP), nil if none.
	Pod *corev1.Pod
	// Service and Port are the target Service and its port, nil if none.
	Service     *corev1.Service
	ServicePort *corev1.ServicePort
	// Node is the node the pod runs on, the node a node-IP target is, or nil (outside).
	Node *corev1.Node
	// Netns is the namespace path of a source ("" for the current namespace).
	Netns string
	// IP is the address: the pod IP, the ClusterIP, the resolved name, the source's primary address.
	IP   netip.Addr
	Port uint16
	// Name is the DNS name of a name target.
	Name string
	// Outside is set for a source outside the cluster (not a pod, not a node).
	Outside bool
	// NoNetwork is set for a source pod that has no IP (its sandbox was never set up): there is
	// nothing to probe from.
	NoNetwork bool
}

// String names the endpoint for evidence lines: "pod default/web-1 (10.244.1.5) on node2".
func (e *Endpoint) String() string {
	if e == nil {
		return "?"
	}
	s := e.Spec
	switch {
	case e.Pod != nil:
		s = "pod " + e.Pod.Namespace + "/" + e.Pod.Name
	case e.Service != nil:
		s = "service " + e.Service.Namespace + "/" + e.Service.Name
	}
	if e.IP.IsValid() {
		if e.Port != 0 {
			s += " (" + netip.AddrPortFrom(e.IP, e.Port).String() + ")"
		} else {
			s += " (" + e.IP.String() + ")"
		}
	}
	if e.Node != nil && e.Kind != KindNode {
		s += " on " + e.Node.Name
	}
	return s
}

// NodeName is the endpoint's node name, "" when outside the cluster.
func (e *Endpoint) NodeName() string {
	if e == nil || e.Node == nil {
		return ""
	}
	return e.Node.Name
}

// Views gives read-only snapshots of nodes and pods; implementations memoise, so ten checks asking
// for the same node pay once. Local (this host is the node, or a lab) or remote (the agent).
type Views interface {
	// Node snapshots the node's host network namespace with its host files.
	Node(ctx context.Context, node string) (*nodestate.Snapshot, error)
	// Pod snapshots the pod's network namespace (no host files).
	Pod(ctx context.Context, pod *corev1.Pod) (*nodestate.Snapshot, error)
	// Netns snapshots any namespace by path (the source of a netns/ request).
	Netns(ctx context.Context, path string) (*nodestate.Snapshot, error)
	// Route does a FIB look-up in the node's namespace.
	Route(ctx context.Context, node string, q nodestate.RouteQuery) (*nodestate.RouteResult, error)
	// Rules reads the iptables rules with their counters now (never memoised): a check compares two
	// readings around re-sent probes to see which rules the probe's packets hit.
	Rules(ctx context.Context, at Vantage) (*nodestate.Iptables, error)
}

// Vantage is where an extra probe runs from: a pod, a node, or a namespace path.
type Vantage struct {
	Pod   *corev1.Pod
	Node  string
	Netns string
}

// Prober runs extra measurements that checks ask for (a DNS query straight to a server, DF pings).
// Every method honours ctx and returns an error only when the probe could not run.
type Prober interface {
	TCP(ctx context.Context, from Vantage, to netip.AddrPort, count int) (*TCPObs, error)
	Ping(ctx context.Context, from Vantage, to netip.Addr, size int, df bool, count int) (*ICMPObs, error)
	DNS(ctx context.Context, from Vantage, q DNSQuery) (*DNSObs, error)
	PMTU(ctx context.Context, from Vantage, to netip.Addr) (*PMTUObs, error)
}

// Env is what every check is given. It is shared by concurrent checks: read-only after the engine
// built it, except through its memoised look-ups, which are safe for concurrent use.
type Env struct {
	Cluster *kube.Cluster
	Source  *Endpoint
	Target  *Endpoint
	// Proto is tcp, udp, icmp or dns; Size the large-packet size asked for (0: default).
	Proto string
	Size  int
	// Symptom is the classification of the symptom probes; Obs are their results.
	Symptom diag.Kind
	Obs     *Observations
	Views   Views
	Probe   Prober
	// Now and Logf are injected (tests).
	Now  func() time.Time
	Logf func(format string, args ...any)

	mu   sync.Mutex
	memo map[string]any
}

// Memo returns the value computed by fn for key, computing it once per Env.
func (e *Env) Memo(key string, fn func() (any, error)) (any, error) {
	type result struct {
		v   any
		err error
	}
	e.mu.Lock()
	if e.memo == nil {
		e.memo = map[string]any{}
	}
	if r, ok := e.memo[key]; ok {
		e.mu.Unlock()
		rr := r.(*result)
		return rr.v, rr.err
	}
	e.mu.Unlock()
	v, err := fn()
	e.mu.Lock()
	e.memo[key] = &result{v, err}
	e.mu.Unlock()
	return v, err
}

// NodeInternalIP returns the InternalIP of a node by name (invalid when unknown).
func (e *Env) NodeInternalIP(node string) netip.Addr {
	if e.Cluster == nil {
		return netip.Addr{}
	}
	n := e.Cluster.Node(node)
	if n == nil {
		return netip.Addr{}
	}
	return kube.InternalIP(n)
}

// Finding builds a finding of this check; evidence lines are formatted later with Evidencef.
func Finding(check string, kind diag.Kind, sev diag.Severity, hop diag.Hop, title string) *diag.Finding {
	return &diag.Finding{Check: check, Kind: kind, Severity: sev, Hop: hop, Title: title, Evidence: []string{}}
}

// Evidencef appends one fact to f.
func Evidencef(f *diag.Finding, format string, args ...any) {
	f.Evidence = append(f.Evidence, fmt.Sprintf(format, args...))
}

// NodeHop is the hop "node NAME, its interface IFACE" with human words.
func NodeHop(node, iface, where string) diag.Hop {
	return diag.Hop{Node: node, Interface: iface, Where: where}
}

// HopProber is implemented by probers that can send a ping with a chosen TTL: the answer is the
// echo reply of the target, or the time-exceeded of the hop the TTL ran out at.
type HopProber interface {
	PingHop(ctx context.Context, from Vantage, to netip.Addr, size int, df bool, ttl int) (*ICMPObs, error)
}

// LargeProber is implemented by probers that can run a large TCP transfer (the symptom probe of
// large-packet loss behind a working handshake).
type LargeProber interface {
	Large(ctx context.Context, from Vantage, to netip.AddrPort, bytes int) (*LargeObs, error)
	UDP(ctx context.Context, from Vantage, to netip.AddrPort, payload []byte, count int) (*UDPObs, error)
}

// SourceVantage is where probes of the client run from: its pod, its node, or its namespace.
func (e *Env) SourceVantage() Vantage {
	v := Vantage{Pod: e.Source.Pod, Netns: e.Source.Netns}
	if e.Source.Kind == KindNode && e.Source.Node != nil {
		v.Node = e.Source.Node.Name
	}
	return v
}
