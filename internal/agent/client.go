package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/netdoctor/netdoctor/internal/check"
	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/nodestate"
)

// ClientOptions configure a Client.
type ClientOptions struct {
	// Token is the caller's bearer token (from the kubeconfig); the agent checks it against the API
	// server.
	Token string
	// NoToken, when Token is empty, says why there is none; calls then fail at once with it
	// (wrapping ErrUnauthenticated) instead of asking the agent.
	NoToken string
	// Agents maps node names to agent base URLs (http://IP:PORT or https://…), overriding discovery.
	Agents map[string]string
	// HTTP is the client for agent calls (nil: one with DialTimeout that trusts TLS).
	HTTP *http.Client
	// TLS verifies agents' serving certificates (nil: the system roots).
	TLS *tls.Config
	// DialTimeout bounds connecting to an agent (default 3 s): a dead node fails fast.
	DialTimeout time.Duration
	// CallTimeout bounds a call whose context has no deadline (default DefaultCallTimeout).
	CallTimeout time.Duration
	// Launcher, when set, starts an agent on a node that has none (see Ephemeral).
	Launcher Launcher
}

// Launcher starts (or finds) an agent for a node on demand and returns its URL.
type Launcher interface {
	Endpoint(ctx context.Context, node string) (string, error)
}

// Client reaches the agents of a cluster's nodes. It implements check.Views (snapshots memoised
// per Client, i.e. per diagnosis), check.Prober, check.LargeProber and engine.SourceResolver.
// Safe for concurrent use. Every method returns within its context's deadline (or CallTimeout).
type Client struct {
	cluster *kube.Cluster
	opts    ClientOptions
	http    *http.Client

	mu       sync.Mutex
	snaps    map[string]*snapCall
	failures map[string]error // node → the first call that could not reach or use its agent
}

// NodeFailure is a node whose agent could not be used, and why.
type NodeFailure struct {
	Node string
	Err  error
}

// Failures lists, by node name, the nodes whose agent was missing, unreachable, or refused the
// caller during this client's life (the first error of each).
func (c *Client) Failures() []NodeFailure {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []NodeFailure
	for n, err := range c.failures {
		out = append(out, NodeFailure{Node: n, Err: err})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Node < out[j].Node })
	return out
}

func (c *Client) fail(node string, err error) error {
	if errors.Is(err, ErrNoAgent) || errors.Is(err, ErrUnreachable) || errors.Is(err, ErrUnauthenticated) || errors.Is(err, ErrForbidden) {
		c.mu.Lock()
		if c.failures == nil {
			c.failures = map[string]error{}
		}
		if _, ok := c.failures[node]; !ok {
			c.failures[node] = err
		}
		c.mu.Unlock()
	}
	return err
}

type snapCall struct {
	once sync.Once
	s    *nodestate.Snapshot
	err  error
}

// NewClient returns a client for the agents of c's nodes.
func NewClient(c *kube.Cluster, opts ClientOptions) *Client {
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 3 * time.Second
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = DefaultCallTimeout
	}
	hc := opts.HTTP
	if hc == nil {
		d := &net.Dialer{Timeout: opts.DialTimeout}
		hc = &http.Client{Transport: &http.Transport{DialContext: d.DialContext, TLSHandshakeTimeout: opts.DialTimeout, TLSClientConfig: opts.TLS,
			MaxIdleConnsPerHost: 8, IdleConnTimeout: 30 * time.Second}}
	}
	return &Client{cluster: c, opts: opts, http: hc, snaps: map[string]*snapCall{}}
}

// Close releases idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// Endpoint returns the base URL of the node's agent: the Agents override, else the running pod
// labelled app.kubernetes.io/name=netdoctor-agent on the node (its IP and the container port
// named "agent", default 7441). It wraps ErrNoAgent when there is none.
func (c *Client) Endpoint(node string) (string, error) {
	if u, ok := c.opts.Agents[node]; ok {
		return u, nil
	}
	if c.cluster != nil {
		for _, p := range c.cluster.PodsOnNode(node) {
			if p.Labels[AgentLabelKey] != AgentLabelValue || p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
				continue
			}
			ips := kube.PodIPs(p)
			if len(ips) == 0 {
				continue
			}
			port := DefaultPort
			for _, ct := range p.Spec.Containers {
				for _, cp := range ct.Ports {
					if cp.Name == "agent" {
						port = int(cp.ContainerPort)
					}
				}
			}
			return agentURL(p, ips[0].String(), port), nil
		}
	}
	return "", fmt.Errorf("agent: %w on node %s: no running pod labelled %s=%s there (deploy deploy/agent, or name one with --agent %s=URL)",
		ErrNoAgent, node, AgentLabelKey, AgentLabelValue, node)
}

// call posts req to the node's agent and decodes the result into out. It returns a partial
// error alongside a decoded result when the agent reported both.
func (c *Client) call(ctx context.Context, node, path string, req *Request, out any) error {
	return c.fail(node, c.call1(ctx, node, path, req, out))
}

func (c *Client) call1(ctx context.Context, node, path string, req *Request, out any) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.opts.CallTimeout)
		defer cancel()
	}
	if c.opts.Token == "" && c.opts.NoToken != "" {
		return fmt.Errorf("agent on node %s: %w: %s", node, ErrUnauthenticated, c.opts.NoToken)
	}
	base, err := c.Endpoint(node)
	if errors.Is(err, ErrNoAgent) && c.opts.Launcher != nil {
		base, err = c.opts.Launcher.Endpoint(ctx, node)
	}
	if err != nil {
		return err
	}
	dl, _ := ctx.Deadline()
	req.Node = node
	req.TimeoutMillis = max(1, time.Until(dl).Milliseconds())
	body, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("agent: encode: %w", err)
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("agent on %s: %w", node, err)
	}
	hr.Header.Set("Content-Type", "application/json")
	if c.opts.Token != "" {
		hr.Header.Set("Authorization", "Bearer "+c.opts.Token)
	}
	resp, err := c.http.Do(hr)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("agent on node %s (%s): %w: no answer before the deadline: %v", node, base, ErrUnreachable, err)
		}
		return fmt.Errorf("agent on node %s (%s): %w: %v", node, base, ErrUnreachable, err)
	}
	defer resp.Body.Close()
	var r Response
	if err := json.NewDecoder(io.LimitReader(resp.Body, MaxResponseBytes)).Decode(&r); err != nil {
		return fmt.Errorf("agent on node %s (%s): HTTP %d with an unreadable answer: %w", node, base, resp.StatusCode, err)
	}
	var sentinel error
	switch r.Code {
	case "unauthenticated":
		sentinel = ErrUnauthenticated
	case "forbidden":
		sentinel = ErrForbidden
	case "wrong-node":
		sentinel = ErrWrongNode
	}
	var callErr error
	if r.Error != "" {
		if sentinel != nil {
			callErr = &RemoteError{Node: node, Msg: r.Error, Kind: sentinel}
		} else {
			callErr = &RemoteError{Node: node, Msg: r.Error}
		}
	}
	if len(r.Result) > 0 && out != nil {
		if err := json.Unmarshal(r.Result, out); err != nil {
			return fmt.Errorf("agent on node %s: decode result: %w", node, err)
		}
		return callErr
	}
	if callErr == nil {
		return fmt.Errorf("agent on node %s: HTTP %d without a result", node, resp.StatusCode)
	}
	return callErr
}

// RemoteError is an error the agent reported; Kind is ErrUnauthenticated, ErrForbidden,
// ErrWrongNode or nil.
type RemoteError struct {
	Node string
	Msg  string
	Kind error
}

func (e *RemoteError) Error() string { return e.Msg }

// Is matches Kind.
func (e *RemoteError) Is(target error) bool { return e.Kind != nil && target == e.Kind }

func (c *Client) memo(key string, fn func() (*nodestate.Snapshot, error)) (*nodestate.Snapshot, error) {
	c.mu.Lock()
	e := c.snaps[key]
	if e == nil {
		e = &snapCall{}
		c.snaps[key] = e
	}
	c.mu.Unlock()
	e.once.Do(func() { e.s, e.err = fn() })
	return e.s, e.err
}

// Node snapshots the node's host namespace (with host files) through its agent.
func (c *Client) Node(ctx context.Context, node string) (*nodestate.Snapshot, error) {
	return c.memo("node/"+node, func() (*nodestate.Snapshot, error) {
		var s nodestate.Snapshot
		if err := c.call(ctx, node, PathNode, &Request{}, &s); err != nil {
			return nil, err
		}
		return &s, nil
	})
}

// Pod snapshots the pod's namespace through the agent of the pod's node.
func (c *Client) Pod(ctx context.Context, pod *corev1.Pod) (*nodestate.Snapshot, error) {
	return c.memo("pod/"+pod.Namespace+"/"+pod.Name, func() (*nodestate.Snapshot, error) {
		var s nodestate.Snapshot
		if err := c.call(ctx, pod.Spec.NodeName, PathPod, &Request{Pod: trimPod(pod)}, &s); err != nil {
			return nil, err
		}
		return &s, nil
	})
}

// ErrLocalOnly: a namespace path names a namespace on this machine; agents cannot reach it.
var ErrLocalOnly = errors.New("agent: a namespace path is only meaningful on this machine")

// Netns is not served remotely: a path names a namespace of this machine.
func (c *Client) Netns(ctx context.Context, path string) (*nodestate.Snapshot, error) {
	return nil, fmt.Errorf("%w: %s", ErrLocalOnly, path)
}

// Route does a FIB look-up in the node's namespace through its agent.
func (c *Client) Route(ctx context.Context, node string, q nodestate.RouteQuery) (*nodestate.RouteResult, error) {
	var r nodestate.RouteResult
	if err := c.call(ctx, node, PathRoute, &Request{Route: &q}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// PodNetns asks the pod's agent where the pod's namespace is (a path on that node).
func (c *Client) PodNetns(ctx context.Context, pod *corev1.Pod) (string, error) {
	var p string
	if err := c.call(ctx, pod.Spec.NodeName, PathPodNetns, &Request{Pod: trimPod(pod)}, &p); err != nil {
		return "", err
	}
	return p, nil
}

// target returns the node whose agent serves a vantage point, and the request fields naming it.
func target(v check.Vantage) (string, *Request, error) {
	switch {
	case v.Pod != nil:
		return v.Pod.Spec.NodeName, &Request{Pod: trimPod(v.Pod)}, nil
	case v.Node != "":
		return v.Node, &Request{}, nil
	}
	return "", nil, fmt.Errorf("%w: %s", ErrLocalOnly, v.Netns)
}

// Rules reads iptables rules and counters at a vantage point, fresh.
func (c *Client) Rules(ctx context.Context, at check.Vantage) (*nodestate.Iptables, error) {
	node, req, err := target(at)
	if err != nil {
		return nil, err
	}
	var r nodestate.Iptables
	if err := c.call(ctx, node, PathRules, req, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// probe runs one probe at a vantage point; a result with a partial error returns both.
func probe[T any](ctx context.Context, c *Client, path string, from check.Vantage, fill func(*Request)) (*T, error) {
	node, req, err := target(from)
	if err != nil {
		return nil, err
	}
	fill(req)
	var out T
	err = c.call(ctx, node, path, req, &out)
	var re *RemoteError
	if err != nil && !errors.As(err, &re) {
		return nil, err
	}
	if err != nil && re.Kind != nil {
		return nil, err
	}
	return &out, err
}

// TCP connects count times from the vantage point.
func (c *Client) TCP(ctx context.Context, from check.Vantage, to netip.AddrPort, count int) (*check.TCPObs, error) {
	return probe[check.TCPObs](ctx, c, PathTCP, from, func(r *Request) { r.To, r.Count = to.String(), count })
}

// Ping sends count echo requests from the vantage point.
func (c *Client) Ping(ctx context.Context, from check.Vantage, to netip.Addr, size int, df bool, count int) (*check.ICMPObs, error) {
	return probe[check.ICMPObs](ctx, c, PathPing, from, func(r *Request) { r.To, r.Size, r.DF, r.Count = to.String(), size, df, count })
}

// DNS resolves as the vantage point would, or asks one server.
func (c *Client) DNS(ctx context.Context, from check.Vantage, q check.DNSQuery) (*check.DNSObs, error) {
	return probe[check.DNSObs](ctx, c, PathDNS, from, func(r *Request) { r.DNS = &q })
}

// PMTU discovers the path MTU from the vantage point.
func (c *Client) PMTU(ctx context.Context, from check.Vantage, to netip.Addr) (*check.PMTUObs, error) {
	return probe[check.PMTUObs](ctx, c, PathPMTU, from, func(r *Request) { r.To = to.String() })
}

// Large runs the large-transfer probe from the vantage point.
func (c *Client) Large(ctx context.Context, from check.Vantage, to netip.AddrPort, n int) (*check.LargeObs, error) {
	return probe[check.LargeObs](ctx, c, PathLarge, from, func(r *Request) { r.To, r.Bytes = to.String(), n })
}

// UDP is not served by agents yet (the local prober has none either).
func (c *Client) UDP(ctx context.Context, from check.Vantage, to netip.AddrPort, payload []byte, count int) (*check.UDPObs, error) {
	return nil, errors.New("agent: udp probe: not available")
}

// TLSFromCA returns a TLS configuration trusting the PEM certificates in caFile.
func TLSFromCA(caFile string) (*tls.Config, error) {
	b, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("agent: CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("agent: CA %s: no PEM certificate", caFile)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}
