// Package live builds the cluster view (kube.Cluster) from a live API server with client-go.
//
// It only ever lists (get/list verbs; see deploy/rbac for the ClusterRole), fetches the eight kinds
// a diagnosis reads concurrently and once, pages through large lists and bounds every list by a
// count and by the caller's deadline. It lives apart from internal/kube so that packages reading a
// dump never pull client-go into their dependency graph.
package live

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	appsv1client "k8s.io/client-go/kubernetes/typed/apps/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	discoveryv1client "k8s.io/client-go/kubernetes/typed/discovery/v1"
	networkingv1client "k8s.io/client-go/kubernetes/typed/networking/v1"
	schedulingv1client "k8s.io/client-go/kubernetes/typed/scheduling/v1"
	"k8s.io/client-go/rest"

	"github.com/netdoctor/netdoctor/internal/kube"
)

// Defaults for Options.
const (
	DefaultPageSize   = 500
	DefaultMaxObjects = 20000
	DefaultTimeout    = 15 * time.Second
)

// ErrTooMany: a list holds more objects than Options.MaxObjects.
var ErrTooMany = errors.New("too many objects")

// Options bound what FromAPI fetches. The zero value is usable.
type Options struct {
	// Namespace limits namespaced kinds to one namespace; "" lists all namespaces (a diagnosis
	// needs kube-system's kube-proxy and DNS as well as the user's pods, so callers keep "").
	Namespace string
	// PageSize is the list page size (default 500); MaxObjects bounds each kind (default 20000).
	PageSize   int64
	MaxObjects int
	// Timeout bounds the whole fetch when ctx has no earlier deadline (default 15 s).
	Timeout time.Duration
	// Warnf is told about kinds that could not be listed but are not essential (Events,
	// PriorityClasses, NetworkPolicies, DaemonSets, EndpointSlices): the view is returned without
	// them. Nil discards the warnings.
	Warnf func(format string, args ...any)
}

// essential kinds: a diagnosis without them is meaningless, so failing to list them fails FromAPI.
var essential = map[string]bool{"nodes": true, "pods": true, "services": true}

// FromAPI lists Nodes, Pods, Services, EndpointSlices, DaemonSets, Events, PriorityClasses and
// NetworkPolicies from the API server cfg points at, concurrently, and returns them as a Cluster
// whose Source is the server URL. It makes list calls only. An error names the kind and the API
// server's reason (Forbidden says which RBAC rule is missing).
func FromAPI(ctx context.Context, cfg *rest.Config, opts Options) (*kube.Cluster, error) {
	if cfg == nil {
		return nil, errors.New("kube/live: no API server configuration")
	}
	if opts.PageSize <= 0 {
		opts.PageSize = DefaultPageSize
	}
	if opts.MaxObjects <= 0 {
		opts.MaxObjects = DefaultMaxObjects
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()

	c := rest.CopyConfig(cfg)
	// Eight lists at once (more when paging): the client-side limiter must not queue them.
	c.QPS, c.Burst = 50, 100
	if c.UserAgent == "" {
		c.UserAgent = "netdoctor"
	}
	if c.Timeout == 0 {
		c.Timeout = opts.Timeout
	}
	core, err := corev1client.NewForConfig(c)
	if err != nil {
		return nil, fmt.Errorf("kube/live: %w", err)
	}
	apps, err := appsv1client.NewForConfig(c)
	if err != nil {
		return nil, fmt.Errorf("kube/live: %w", err)
	}
	disc, err := discoveryv1client.NewForConfig(c)
	if err != nil {
		return nil, fmt.Errorf("kube/live: %w", err)
	}
	netw, err := networkingv1client.NewForConfig(c)
	if err != nil {
		return nil, fmt.Errorf("kube/live: %w", err)
	}
	sched, err := schedulingv1client.NewForConfig(c)
	if err != nil {
		return nil, fmt.Errorf("kube/live: %w", err)
	}

	out := &kube.Cluster{Source: cfg.Host}
	ns := opts.Namespace
	jobs := map[string]func(context.Context) error{
		"nodes": func(ctx context.Context) (err error) {
			out.Nodes, err = listAll(ctx, opts, core.Nodes().List, func(l *corev1.NodeList) ([]corev1.Node, string) { return l.Items, l.Continue })
			return err
		},
		"pods": func(ctx context.Context) (err error) {
			out.Pods, err = listAll(ctx, opts, core.Pods(ns).List, func(l *corev1.PodList) ([]corev1.Pod, string) { return l.Items, l.Continue })
			return err
		},
		"services": func(ctx context.Context) (err error) {
			out.Services, err = listAll(ctx, opts, core.Services(ns).List, func(l *corev1.ServiceList) ([]corev1.Service, string) { return l.Items, l.Continue })
			return err
		},
		"events": func(ctx context.Context) (err error) {
			out.Events, err = listAll(ctx, opts, core.Events(ns).List, func(l *corev1.EventList) ([]corev1.Event, string) { return l.Items, l.Continue })
			return err
		},
		"endpointslices": func(ctx context.Context) (err error) {
			out.EndpointSlices, err = listAll(ctx, opts, disc.EndpointSlices(ns).List, func(l *discoveryv1.EndpointSliceList) ([]discoveryv1.EndpointSlice, string) {
				return l.Items, l.Continue
			})
			return err
		},
		"daemonsets": func(ctx context.Context) (err error) {
			out.DaemonSets, err = listAll(ctx, opts, apps.DaemonSets(ns).List, func(l *appsv1.DaemonSetList) ([]appsv1.DaemonSet, string) { return l.Items, l.Continue })
			return err
		},
		"priorityclasses": func(ctx context.Context) (err error) {
			out.PriorityClasses, err = listAll(ctx, opts, sched.PriorityClasses().List, func(l *schedulingv1.PriorityClassList) ([]schedulingv1.PriorityClass, string) {
				return l.Items, l.Continue
			})
			return err
		},
		"networkpolicies": func(ctx context.Context) (err error) {
			out.NetworkPolicies, err = listAll(ctx, opts, netw.NetworkPolicies(ns).List, func(l *networkingv1.NetworkPolicyList) ([]networkingv1.NetworkPolicy, string) {
				return l.Items, l.Continue
			})
			return err
		},
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs = map[string]error{}
	)
	for kind, fn := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := fn(ctx)
			if err == nil {
				return
			}
			err = explain(kind, cfg.Host, err)
			if !essential[kind] && ctx.Err() == nil {
				if opts.Warnf != nil {
					opts.Warnf("%v (the diagnosis goes on without them)", err)
				}
				return
			}
			mu.Lock()
			errs[kind] = err
			mu.Unlock()
		}()
	}
	wg.Wait()
	// One line for the user: the first failure in a fixed order, naming the other kinds that
	// failed (usually for the same reason).
	var first error
	var others []string
	for _, kind := range []string{"nodes", "pods", "services", "endpointslices", "daemonsets", "events", "priorityclasses", "networkpolicies"} {
		if err := errs[kind]; err != nil {
			if first == nil {
				first = err
			} else {
				others = append(others, kind)
			}
		}
	}
	if first != nil {
		if len(others) > 0 {
			return nil, fmt.Errorf("%w (listing %s failed too)", first, strings.Join(others, ", "))
		}
		return nil, first
	}
	return out, nil
}

// explain turns an API error into one line saying what to do.
func explain(kind, host string, err error) error {
	var ne net.Error
	var ue *url.Error
	switch {
	case errors.As(err, &ue) && !errors.As(err, &ne) || errors.As(err, &ne) && !ne.Timeout():
		return fmt.Errorf("kube/live: cannot reach the API server %s (check --kubeconfig/--context): %w", host, err)
	case apierrors.IsForbidden(err):
		return fmt.Errorf("kube/live: list %s: forbidden: the user needs get/list on %s (see deploy/rbac/clusterrole.yaml): %w", kind, kind, err)
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("kube/live: list %s: the API server does not accept these credentials (check --kubeconfig/--context): %w", kind, err)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("kube/live: list %s: the API server did not answer in time: %w", kind, err)
	}
	return fmt.Errorf("kube/live: list %s: %w", kind, err)
}

// listAll pages through one list: at most MaxObjects items, PageSize per call.
func listAll[L any, T any](ctx context.Context, opts Options, list func(context.Context, metav1.ListOptions) (L, error), items func(L) ([]T, string)) ([]T, error) {
	var all []T
	lo := metav1.ListOptions{Limit: opts.PageSize}
	for {
		l, err := list(ctx, lo)
		if err != nil {
			return nil, err
		}
		page, cont := items(l)
		all = append(all, page...)
		if len(all) > opts.MaxObjects {
			return nil, fmt.Errorf("%w: more than %d (raise the bound or narrow the namespace)", ErrTooMany, opts.MaxObjects)
		}
		if cont == "" {
			return all, nil
		}
		lo.Continue = cont
	}
}
