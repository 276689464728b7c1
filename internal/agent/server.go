package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netdoctor/netdoctor/internal/check"
	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/local"
)

// ServerConfig configures the agent of one node.
type ServerConfig struct {
	// NodeName is the node this agent serves (the DaemonSet passes spec.nodeName).
	NodeName string
	// Netns is the node's network namespace path; "" means the agent's own (hostNetwork).
	Netns string
	// Root is where the node's host files are visible (the read-only host mount, e.g. /host).
	Root string
	// Auth authenticates and authorises every call except /healthz. Nil refuses every call.
	Auth Authorizer
	// CRI, when set, finds pods' namespaces through the container runtime first (before the pod's
	// annotations and the search for the namespace holding the pod IP).
	CRI *CRI
	// MaxConcurrent bounds the calls served at once (default 32); more wait for a slot until
	// their deadline.
	MaxConcurrent int
	// Logf logs one line per refused or failed call (nil: silent).
	Logf func(format string, args ...any)
}

// Server is the agent's HTTP handler. Safe for concurrent use.
type Server struct {
	cfg   ServerConfig
	slots chan struct{}
	mux   *http.ServeMux
}

// NewServer returns the agent handler for cfg.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.NodeName == "" {
		return nil, errors.New("agent: no node name (set --node-name or NODE_NAME)")
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = 32
	}
	if cfg.Netns == "" {
		cfg.Netns = "/proc/" + strconv.Itoa(os.Getpid()) + "/ns/net"
	}
	s := &Server{cfg: cfg, slots: make(chan struct{}, cfg.MaxConcurrent), mux: http.NewServeMux()}
	s.mux.HandleFunc("GET "+PathHealthz, func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	ops := map[string]func(context.Context, *local.Access, *Request) (any, error){
		PathNode: func(ctx context.Context, a *local.Access, r *Request) (any, error) { return a.Node(ctx, cfg.NodeName) },
		PathPod: func(ctx context.Context, a *local.Access, r *Request) (any, error) {
			if r.Pod == nil {
				return nil, badRequest("no pod")
			}
			return a.Pod(ctx, r.Pod)
		},
		PathPodNetns: func(ctx context.Context, a *local.Access, r *Request) (any, error) {
			if r.Pod == nil {
				return nil, badRequest("no pod")
			}
			return a.PodNetns(ctx, r.Pod)
		},
		PathRoute: func(ctx context.Context, a *local.Access, r *Request) (any, error) {
			if r.Route == nil {
				return nil, badRequest("no route query")
			}
			return a.Route(ctx, cfg.NodeName, *r.Route)
		},
		PathRules: func(ctx context.Context, a *local.Access, r *Request) (any, error) { return a.Rules(ctx, s.vantage(r)) },
		PathTCP: func(ctx context.Context, a *local.Access, r *Request) (any, error) {
			to, err := netip.ParseAddrPort(r.To)
			if err != nil {
				return nil, badRequest("to: %v", err)
			}
			return a.TCP(ctx, s.vantage(r), to, bound(r.Count, 1, 20))
		},
		PathPing: func(ctx context.Context, a *local.Access, r *Request) (any, error) {
			to, err := netip.ParseAddr(r.To)
			if err != nil {
				return nil, badRequest("to: %v", err)
			}
			return a.Ping(ctx, s.vantage(r), to, bound(r.Size, 0, 65000), r.DF, bound(r.Count, 1, 20))
		},
		PathDNS: func(ctx context.Context, a *local.Access, r *Request) (any, error) {
			if r.DNS == nil {
				return nil, badRequest("no dns query")
			}
			return a.DNS(ctx, s.vantage(r), *r.DNS)
		},
		PathPMTU: func(ctx context.Context, a *local.Access, r *Request) (any, error) {
			to, err := netip.ParseAddr(r.To)
			if err != nil {
				return nil, badRequest("to: %v", err)
			}
			return a.PMTU(ctx, s.vantage(r), to)
		},
		PathLarge: func(ctx context.Context, a *local.Access, r *Request) (any, error) {
			to, err := netip.ParseAddrPort(r.To)
			if err != nil {
				return nil, badRequest("to: %v", err)
			}
			return a.Large(ctx, s.vantage(r), to, bound(r.Bytes, 1, 16<<20))
		},
	}
	for path, op := range ops {
		s.mux.HandleFunc("POST "+path, func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, op) })
	}
	return s, nil
}

// ServeHTTP serves the agent API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

type badRequestError struct{ msg string }

func (e *badRequestError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &badRequestError{fmt.Sprintf(format, args...)}
}

func bound(v, lo, hi int) int { return max(lo, min(v, hi)) }

// vantage maps a request's vantage point onto this node: a pod, a namespace path, else the node.
func (s *Server) vantage(r *Request) check.Vantage {
	switch {
	case r.Pod != nil:
		return check.Vantage{Pod: r.Pod}
	case r.Netns != "":
		return check.Vantage{Netns: r.Netns}
	}
	return check.Vantage{Node: s.cfg.NodeName}
}

// access is a fresh local view of this node (no memo across calls: every call sees the node now).
func (s *Server) access(r *Request) *local.Access {
	n := corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: s.cfg.NodeName, Annotations: map[string]string{
		kube.AnnotationNetns: s.cfg.Netns,
	}}}
	if s.cfg.Root != "" {
		n.Annotations[kube.AnnotationRoot] = s.cfg.Root
	}
	c := &kube.Cluster{Nodes: []corev1.Node{n}, Source: "agent on " + s.cfg.NodeName}
	if r.Pod != nil {
		c.Pods = []corev1.Pod{*r.Pod}
	}
	return local.New(c)
}

func (s *Server) serve(w http.ResponseWriter, hr *http.Request, op func(context.Context, *local.Access, *Request) (any, error)) {
	reply := func(status int, code string, err error, result any) {
		resp := Response{Node: s.cfg.NodeName, Code: code}
		if err != nil {
			resp.Error = err.Error()
			if s.cfg.Logf != nil {
				s.cfg.Logf("agent: %s %s from %s: %d %s", hr.Method, hr.URL.Path, hr.RemoteAddr, status, resp.Error)
			}
		}
		if result != nil {
			b, merr := json.Marshal(result)
			if merr != nil {
				status, resp.Code, resp.Error = http.StatusInternalServerError, "failed", "agent: encode result: "+merr.Error()
			} else {
				resp.Result = b
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(resp)
	}
	var req Request
	if err := json.NewDecoder(io.LimitReader(hr.Body, MaxRequestBytes)).Decode(&req); err != nil {
		reply(http.StatusBadRequest, "bad-request", fmt.Errorf("agent: bad request body: %w", err), nil)
		return
	}
	timeout := DefaultCallTimeout
	if req.TimeoutMillis > 0 {
		timeout = time.Duration(req.TimeoutMillis) * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(hr.Context(), min(timeout, MaxCallTimeout))
	defer cancel()

	if s.cfg.Auth == nil {
		reply(http.StatusForbidden, "forbidden", fmt.Errorf("agent: %w: this agent has no authoriser configured", ErrForbidden), nil)
		return
	}
	if _, err := s.cfg.Auth.Authorize(ctx, bearer(hr), s.cfg.NodeName); err != nil {
		switch {
		case errors.Is(err, ErrUnauthenticated):
			reply(http.StatusUnauthorized, "unauthenticated", err, nil)
		case errors.Is(err, ErrForbidden):
			reply(http.StatusForbidden, "forbidden", err, nil)
		default:
			reply(http.StatusServiceUnavailable, "failed", err, nil)
		}
		return
	}
	if req.Node != "" && req.Node != s.cfg.NodeName {
		reply(http.StatusMisdirectedRequest, "wrong-node", fmt.Errorf("agent: %w: this agent serves node %s, not %s", ErrWrongNode, s.cfg.NodeName, req.Node), nil)
		return
	}
	req.Pod = trimPod(req.Pod)
	if req.Pod != nil && s.cfg.CRI != nil && req.Pod.Annotations[kube.AnnotationNetns] == "" && req.Pod.Annotations[kube.AnnotationPID] == "" {
		if path, err := s.cfg.CRI.PodNetns(ctx, req.Pod); err == nil {
			ann := map[string]string{kube.AnnotationNetns: path}
			for k, v := range req.Pod.Annotations {
				ann[k] = v
			}
			req.Pod.Annotations = ann
		} else if s.cfg.Logf != nil {
			s.cfg.Logf("agent: %v (falling back to the namespace that holds the pod IP)", err)
		}
	}
	select {
	case s.slots <- struct{}{}:
		defer func() { <-s.slots }()
	case <-ctx.Done():
		reply(http.StatusServiceUnavailable, "failed", fmt.Errorf("agent: busy: %d calls running", cap(s.slots)), nil)
		return
	}
	res, err := op(ctx, s.access(&req), &req)
	var bad *badRequestError
	switch {
	case errors.As(err, &bad):
		reply(http.StatusBadRequest, "bad-request", fmt.Errorf("agent: %w", err), nil)
	case err != nil && res == nil:
		reply(http.StatusInternalServerError, "failed", fmt.Errorf("agent on %s: %w", s.cfg.NodeName, err), nil)
	default:
		// A probe may return a result and an error (partial): the result wins, the error is noted.
		if err != nil {
			reply(http.StatusOK, "partial", fmt.Errorf("agent on %s: %w", s.cfg.NodeName, err), res)
			return
		}
		reply(http.StatusOK, "", nil, res)
	}
}

// bearer returns the caller's token: that of an "Authorization: Bearer TOKEN" header (a direct
// call), else the TokenHeader (a call through the API server's pod proxy, which authenticates the
// Authorization header itself and removes it); "" if none.
func bearer(r *http.Request) string {
	const p = "Bearer "
	h := r.Header.Get("Authorization")
	if len(h) > len(p) && (h[:len(p)] == p || h[:len(p)] == "bearer ") {
		return h[len(p):]
	}
	return r.Header.Get(TokenHeader)
}
