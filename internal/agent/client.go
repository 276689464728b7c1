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
	"net/http/httptrace"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"

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
	// Via says how calls reach an agent pod: ViaAuto (""), ViaProxy or ViaDirect. Agents given by
	// URL in Agents are always called directly.
	Via string
	// APIServer is the caller's API server configuration (from the kubeconfig): the way to the
	// API server's pod proxy (ViaProxy, and ViaAuto's fallback). Nil: direct calls only.
	APIServer *rest.Config
}

// How calls reach an agent pod (ClientOptions.Via).
const (
	// ViaAuto calls the pod IP directly and, when no connection can be made to it (nothing
	// answers there, or its TLS certificate cannot be verified), the API server's pod proxy from
	// then on for that node. The direct attempt gets AutoDialTimeout.
	ViaAuto = "auto"
	// ViaProxy always calls through the API server's pod proxy: POST
	// {server}/api/v1/namespaces/NS/pods/SCHEME:POD:PORT/proxy/PATH, with the kubeconfig's
	// credentials for the API server (which checks create on pods/proxy) and the caller's token
	// in TokenHeader for the agent (the API server does not forward the Authorization header).
	ViaProxy = "proxy"
	// ViaDirect always calls the pod IP and port (the caller must reach the cluster network).
	ViaDirect = "direct"
)

// AutoDialTimeout bounds the direct connection attempt of ViaAuto before it falls back to the
// API server's proxy.
const AutoDialTimeout = time.Second

// TokenHeader carries the caller's bearer token to the agent when the call goes through the API
// server's pod proxy: the API server authenticates the Authorization header and removes it.
const TokenHeader = "X-Netdoctor-Token"

// Target is where a node's agent is.
type Target struct {
	// URL is the agent's base URL for direct calls: SCHEME://IP:PORT.
	URL string
	// Namespace and Pod name the agent pod, what the API server's pod proxy needs; both are empty
	// for an agent given by URL (ClientOptions.Agents), which is always called directly.
	Namespace, Pod string
	// Scheme ("https" or "http") and Port are how the agent pod serves.
	Scheme string
	Port   int
}

// Launcher starts (or finds) an agent for a node on demand and returns where it is.
type Launcher interface {
	Endpoint(ctx context.Context, node string) (Target, error)
}

// Client reaches the agents of a cluster's nodes. It implements check.Views (snapshots memoised
// per Client, i.e. per diagnosis), check.Prober, check.LargeProber and engine.SourceResolver.
// Safe for concurrent use. Every method returns within its context's deadline (or CallTimeout).
type Client struct {
	cluster *kube.Cluster
	opts    ClientOptions
	http    *http.Client
	api     *apiClient // the API server's pod proxy; nil without ClientOptions.APIServer
	apiErr  error      // why api is nil although APIServer was given

	mu       sync.Mutex
	snaps    map[string]*snapCall
	failures map[string]error // node → the first call that could not reach or use its agent
	proxied  map[string]bool  // nodes ViaAuto switched to the proxy
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
	if opts.Via == "" {
		opts.Via = ViaAuto
	}
	cl := &Client{cluster: c, opts: opts, snaps: map[string]*snapCall{}, proxied: map[string]bool{}}
	if opts.APIServer != nil && opts.Via != ViaDirect {
		cl.api, cl.apiErr = newAPIClient(opts.APIServer)
	}
	cl.http = opts.HTTP
	if cl.http == nil {
		dial := opts.DialTimeout
		if opts.Via == ViaAuto && cl.api != nil {
			dial = min(dial, AutoDialTimeout)
		}
		d := &net.Dialer{Timeout: dial}
		cl.http = &http.Client{Transport: &http.Transport{DialContext: d.DialContext, TLSHandshakeTimeout: dial, TLSClientConfig: opts.TLS,
			MaxIdleConnsPerHost: 8, IdleConnTimeout: 30 * time.Second}}
	}
	return cl
}

// Close releases idle connections.
func (c *Client) Close() {
	c.http.CloseIdleConnections()
	if c.api != nil && c.api.http != http.DefaultClient {
		c.api.http.CloseIdleConnections()
	}
}

// Target returns where the node's agent is: the Agents override (a URL), else the running pod
// labelled app.kubernetes.io/name=netdoctor-agent on the node (its namespace, name, IP and the
// container port named "agent", default 7441). It wraps ErrNoAgent when there is none.
func (c *Client) Target(node string) (Target, error) {
	if u, ok := c.opts.Agents[node]; ok {
		return Target{URL: u}, nil
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
			return podTarget(p, ips[0].String(), port), nil
		}
	}
	return Target{}, fmt.Errorf("agent: %w on node %s: no running pod labelled %s=%s there (deploy deploy/agent, or name one with --agent %s=URL)",
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
	t, err := c.Target(node)
	if errors.Is(err, ErrNoAgent) && c.opts.Launcher != nil {
		t, err = c.opts.Launcher.Endpoint(ctx, node)
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
	proxy, err := c.route(node, t)
	if err != nil {
		return err
	}
	if proxy {
		return c.callProxy(ctx, node, t, path, body, out)
	}
	connected, err := c.callDirect(ctx, node, t.URL, path, body, out)
	if err != nil && !connected && c.opts.Via == ViaAuto && c.api != nil && t.Pod != "" && ctx.Err() == nil {
		// Nothing reached the agent: its pod IP is not reachable from here (or its certificate
		// cannot be verified). The API server reaches it: use the proxy for this node from now on.
		c.mu.Lock()
		c.proxied[node] = true
		c.mu.Unlock()
		return c.callProxy(ctx, node, t, path, body, out)
	}
	return err
}

// route says whether a call to the node's agent at t goes through the API server's proxy.
func (c *Client) route(node string, t Target) (bool, error) {
	if t.Pod == "" {
		return false, nil // an agent given by URL
	}
	switch c.opts.Via {
	case ViaDirect:
		return false, nil
	case ViaProxy:
		if c.api == nil {
			why := "no API server configuration (kubeconfig)"
			if c.apiErr != nil {
				why = c.apiErr.Error()
			}
			return false, fmt.Errorf("agent on node %s: %w: cannot call it through the API server's proxy: %s", node, ErrUnreachable, why)
		}
		return true, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.proxied[node], nil
}

// callDirect posts body to the agent at base. connected says whether a connection to the agent
// was made (when not, nothing reached it).
func (c *Client) callDirect(ctx context.Context, node, base, path string, body []byte, out any) (connected bool, err error) {
	trace := &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { connected = true }}
	hr, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodPost, base+path, bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("agent on %s: %w", node, err)
	}
	hr.Header.Set("Content-Type", "application/json")
	if c.opts.Token != "" {
		hr.Header.Set("Authorization", "Bearer "+c.opts.Token)
	}
	resp, err := c.http.Do(hr)
	if err != nil {
		if ctx.Err() != nil {
			return connected, fmt.Errorf("agent on node %s (%s): %w: no answer before the deadline: %v", node, base, ErrUnreachable, err)
		}
		return connected, fmt.Errorf("agent on node %s (%s): %w: %v", node, base, ErrUnreachable, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes))
	if err != nil {
		return true, fmt.Errorf("agent on node %s (%s): %w: reading the answer: %v", node, base, ErrUnreachable, err)
	}
	return true, decodeResponse(node, base, resp.StatusCode, b, out)
}

// callProxy posts body to the agent pod through the API server's pod proxy.
func (c *Client) callProxy(ctx context.Context, node string, t Target, path string, body []byte, out any) error {
	scheme := t.Scheme
	if scheme == "" {
		scheme = "https"
	}
	where := fmt.Sprintf("pod %s/%s through the API server's proxy", t.Namespace, t.Pod)
	u := c.api.url("/api/v1/namespaces/" + t.Namespace + "/pods/" + scheme + ":" + t.Pod + ":" + strconv.Itoa(t.Port) + "/proxy" + path)
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("agent on %s: %w", node, err)
	}
	hr.Header.Set("Content-Type", "application/json")
	if c.opts.Token != "" {
		hr.Header.Set(TokenHeader, c.opts.Token)
	}
	resp, err := c.api.http.Do(hr)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("agent on node %s (%s): %w: no answer before the deadline: %v", node, where, ErrUnreachable, err)
		}
		return fmt.Errorf("agent on node %s (%s): %w: the API server did not answer: %v", node, where, ErrUnreachable, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes))
	if err != nil {
		return fmt.Errorf("agent on node %s (%s): %w: reading the answer: %v", node, where, ErrUnreachable, err)
	}
	var st apiStatus
	if json.Unmarshal(b, &st) == nil && st.isStatus() {
		return proxyError(node, t, resp.StatusCode, st.Message)
	}
	return decodeResponse(node, where, resp.StatusCode, b, out)
}

// proxyError turns the API server's own refusal or failure to proxy into the client's errors.
func proxyError(node string, t Target, code int, msg string) error {
	pod := t.Namespace + "/" + t.Pod
	switch code {
	case http.StatusUnauthorized:
		return fmt.Errorf("agent on node %s: %w: the API server did not accept the kubeconfig's credentials: %s", node, ErrUnauthenticated, msg)
	case http.StatusForbidden:
		return fmt.Errorf("agent on node %s: %w: the API server refuses to proxy to the agent pod %s: %s (netdoctor needs create on pods/proxy in namespace %s: bind the Role netdoctor-agent-proxy of deploy/rbac)",
			node, ErrForbidden, pod, msg, t.Namespace)
	case http.StatusNotFound:
		return fmt.Errorf("agent: %w on node %s: the API server does not know the agent pod %s any more: %s", ErrNoAgent, node, pod, msg)
	}
	return fmt.Errorf("agent on node %s (pod %s through the API server's proxy): %w: HTTP %d: %s", node, pod, ErrUnreachable, code, msg)
}

// decodeResponse decodes an agent's answer; where names how it was reached.
func decodeResponse(node, where string, status int, b []byte, out any) error {
	var r Response
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("agent on node %s (%s): HTTP %d with an unreadable answer: %w", node, where, status, err)
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
		return fmt.Errorf("agent on node %s: HTTP %d without a result", node, status)
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
