// Package agent is the node agent: an HTTP(S) server that runs on every node (a DaemonSet with
// hostNetwork and hostPID) and serves that node's view — snapshots of the node's and its pods'
// network namespaces, FIB look-ups, iptables counters — and runs probes inside any namespace of
// the node; and the client the diagnoser uses to reach it, which implements check.Views,
// check.Prober and check.LargeProber for nodes whose namespaces are not on this machine.
//
// The client reaches an agent pod directly (its IP and port) or through the API server's pod
// proxy (ClientOptions.Via): from outside the cluster network only the API server reaches the
// nodes, and the API server then checks that the caller may proxy to the agent pod (create on
// pods/proxy in the agent's namespace).
//
// Every call carries the caller's Kubernetes bearer token (the Authorization header, or
// TokenHeader through the proxy). The agent checks it with a TokenReview and checks the named
// permission (verb "diagnose" on nodes.netdoctor.dev, see Permission) with a SubjectAccessReview,
// both against the API server: the cluster's own RBAC decides who may look into a node. The agent
// only reads and probes; it changes nothing.
package agent

import (
	"encoding/json"
	"errors"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netdoctor/netdoctor/internal/check"
	"github.com/netdoctor/netdoctor/internal/nodestate"
)

// The named permission an agent caller needs, checked with a SubjectAccessReview for the node the
// agent serves: verb "diagnose" on resource "nodes" of API group "netdoctor.dev", resource name =
// the node. An RBAC rule granting it:
//
//   - apiGroups: ["netdoctor.dev"]
//     resources: ["nodes"]
//     verbs: ["diagnose"]
const (
	PermissionGroup    = "netdoctor.dev"
	PermissionResource = "nodes"
	PermissionVerb     = "diagnose"
)

// DefaultPort is the agent's port (TCP) on the node.
const DefaultPort = 7441

// AgentLabel selects the agent's pods: app.kubernetes.io/name=netdoctor-agent.
const (
	AgentLabelKey   = "app.kubernetes.io/name"
	AgentLabelValue = "netdoctor-agent"
)

// Bounds of a call.
const (
	// MaxCallTimeout bounds the time the agent spends on one request, whatever the caller asks.
	MaxCallTimeout = 60 * time.Second
	// DefaultCallTimeout bounds a call when the caller's context has no deadline.
	DefaultCallTimeout = 15 * time.Second
	// MaxRequestBytes bounds a request body; MaxResponseBytes a response body the client reads.
	MaxRequestBytes  = 1 << 20
	MaxResponseBytes = 64 << 20
)

// Errors a client can branch on.
var (
	// ErrNoAgent: no agent is known for the node (none deployed, or its pod is not running).
	ErrNoAgent = errors.New("no netdoctor agent")
	// ErrUnreachable: the agent did not answer (dead, or the network to it is broken).
	ErrUnreachable = errors.New("agent unreachable")
	// ErrUnauthenticated: the agent (or the API server it asked) did not accept the caller's token.
	ErrUnauthenticated = errors.New("not authenticated")
	// ErrForbidden: the caller lacks the permission (see PermissionVerb).
	ErrForbidden = errors.New("forbidden")
	// ErrWrongNode: the request names a node the agent does not serve.
	ErrWrongNode = errors.New("wrong node")
)

// Paths of the agent's HTTP API (all POST with a JSON Request, answering JSON).
const (
	PathNode     = "/v1/node"
	PathPod      = "/v1/pod"
	PathPodNetns = "/v1/podnetns"
	PathRoute    = "/v1/route"
	PathRules    = "/v1/rules"
	PathTCP      = "/v1/probe/tcp"
	PathPing     = "/v1/probe/ping"
	PathDNS      = "/v1/probe/dns"
	PathPMTU     = "/v1/probe/pmtu"
	PathLarge    = "/v1/probe/large"
	PathHealthz  = "/healthz" // unauthenticated liveness: "ok"
)

// Request is the body of every call; each path reads the fields it needs.
type Request struct {
	// Node is the node the caller means; the agent refuses a node it does not serve.
	Node string `json:"node"`
	// Pod is the pod of a pod snapshot or a pod vantage point (trimmed: meta, node, IPs).
	Pod *corev1.Pod `json:"pod,omitempty"`
	// Netns is a namespace path on the node (a vantage point).
	Netns string `json:"netns,omitempty"`
	// Route is the FIB look-up of PathRoute.
	Route *nodestate.RouteQuery `json:"route,omitempty"`
	// To is the probe target: ADDR or ADDR:PORT.
	To    string          `json:"to,omitempty"`
	Count int             `json:"count,omitempty"`
	Size  int             `json:"size,omitempty"`
	DF    bool            `json:"df,omitempty"`
	Bytes int             `json:"bytes,omitempty"`
	DNS   *check.DNSQuery `json:"dns,omitempty"`
	// TimeoutMillis is the caller's remaining deadline; the agent never exceeds MaxCallTimeout.
	TimeoutMillis int64 `json:"timeoutMillis,omitempty"`
}

// Response wraps every answer: Result (the path's result type) or Error.
type Response struct {
	Result json.RawMessage `json:"result,omitempty"`
	// Error says why the call could not run, in one line; Code classifies it.
	Error string `json:"error,omitempty"`
	Code  string `json:"code,omitempty"` // unauthenticated, forbidden, wrong-node, bad-request, failed
	// Node is the node the agent serves.
	Node string `json:"node"`
}

// trimPod keeps what the agent needs of a pod: identity, annotations, node, host network, IPs.
func trimPod(p *corev1.Pod) *corev1.Pod {
	if p == nil {
		return nil
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace, Annotations: p.Annotations, UID: p.UID},
		Spec:       corev1.PodSpec{NodeName: p.Spec.NodeName, HostNetwork: p.Spec.HostNetwork},
		Status:     corev1.PodStatus{PodIP: p.Status.PodIP, PodIPs: p.Status.PodIPs, Phase: p.Status.Phase},
	}
}
