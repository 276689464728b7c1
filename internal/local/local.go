// Package local gives the diagnoser access to nodes and pods whose network namespaces are on this
// machine: the node agent's own node, or every node of a lab. It implements check.Views (memoised,
// read-only node and pod snapshots, FIB look-ups), check.Prober (probes run inside a pod's or node's
// namespace) and engine.SourceResolver (finding a pod's namespace).
//
// A node's namespace comes from its netdoctor.dev/netns annotation, else the current namespace when
// it holds the node's InternalIP. A pod's comes from netdoctor.dev/netns or netdoctor.dev/pid, else
// from the namespace on this machine that holds the pod IP.
package local

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"

	"github.com/netdoctor/netdoctor/internal/check"
	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/netns"
	"github.com/netdoctor/netdoctor/internal/nodestate"
)

// Access is the local access to nodes and pods of one cluster view. Safe for concurrent use.
type Access struct {
	Cluster *kube.Cluster
	// NoDropTracer turns the eBPF drop tracer off: the kernel-drops check then reports a note.
	NoDropTracer bool
	// CaptureDir, when set, keeps the packets of capture localisation as one pcap per point there
	// (for an evidence bundle).
	CaptureDir string

	mu    sync.Mutex
	snaps map[string]*snapEntry
	paths map[string]string // pod key → netns path
}

type snapEntry struct {
	once sync.Once
	s    *nodestate.Snapshot
	err  error
}

// New returns local access for c.
func New(c *kube.Cluster) *Access {
	return &Access{Cluster: c, snaps: map[string]*snapEntry{}, paths: map[string]string{}}
}

// ErrNoAccess: the node's or pod's namespace is not on this machine.
var ErrNoAccess = errors.New("no access")

func (a *Access) memo(key string, fn func() (*nodestate.Snapshot, error)) (*nodestate.Snapshot, error) {
	a.mu.Lock()
	e := a.snaps[key]
	if e == nil {
		e = &snapEntry{}
		a.snaps[key] = e
	}
	a.mu.Unlock()
	e.once.Do(func() { e.s, e.err = fn() })
	return e.s, e.err
}

// nodeSpec returns the namespace spec and host-file root of a node.
func (a *Access) nodeSpec(node string) (netns.Spec, string, error) {
	n := a.Cluster.Node(node)
	if n == nil {
		return netns.Spec{}, "", fmt.Errorf("node %s is not in the cluster view", node)
	}
	root := n.Annotations[kube.AnnotationRoot]
	if p := n.Annotations[kube.AnnotationNetns]; p != "" {
		return netns.Spec{Netns: p}, root, nil
	}
	ip := kube.InternalIP(n)
	if ip.IsValid() && localHas(ip) {
		return netns.Spec{}, root, nil
	}
	return netns.Spec{}, "", fmt.Errorf("%w to node %s: its network namespace is not on this machine (annotate the Node with %s, or run the node agent there)", ErrNoAccess, node, kube.AnnotationNetns)
}

// Node snapshots a node's namespace with its host files.
func (a *Access) Node(ctx context.Context, node string) (*nodestate.Snapshot, error) {
	return a.memo("node/"+node, func() (*nodestate.Snapshot, error) {
		spec, root, err := a.nodeSpec(node)
		if err != nil {
			return nil, err
		}
		ns, err := netns.Open(spec)
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", node, err)
		}
		defer ns.Close()
		return nodestate.Take(ctx, ns, nodestate.Options{Root: root, SkipSockets: true})
	})
}

// Pod snapshots a pod's namespace (no host files).
func (a *Access) Pod(ctx context.Context, pod *corev1.Pod) (*nodestate.Snapshot, error) {
	return a.memo("pod/"+pod.Namespace+"/"+pod.Name, func() (*nodestate.Snapshot, error) {
		path, err := a.PodNetns(ctx, pod)
		if err != nil {
			return nil, err
		}
		ns, err := netns.OpenPath(path)
		if err != nil {
			return nil, fmt.Errorf("pod %s/%s: %w", pod.Namespace, pod.Name, err)
		}
		defer ns.Close()
		return nodestate.Take(ctx, ns, nodestate.Options{SkipHostFiles: true, SkipIptables: false, SkipNft: true})
	})
}

// Netns snapshots any namespace by path or name.
func (a *Access) Netns(ctx context.Context, path string) (*nodestate.Snapshot, error) {
	return a.memo("netns/"+path, func() (*nodestate.Snapshot, error) {
		ns, err := netns.Open(netns.Spec{Netns: path})
		if err != nil {
			return nil, err
		}
		defer ns.Close()
		return nodestate.Take(ctx, ns, nodestate.Options{SkipHostFiles: true, SkipNft: true})
	})
}

// Route does a FIB look-up in a node's namespace.
func (a *Access) Route(ctx context.Context, node string, q nodestate.RouteQuery) (*nodestate.RouteResult, error) {
	spec, _, err := a.nodeSpec(node)
	if err != nil {
		return nil, err
	}
	ns, err := netns.Open(spec)
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	return nodestate.RouteLookup(ctx, ns, q)
}

// PodNetns finds the pod's namespace path: annotations first, then the namespace holding its IP.
func (a *Access) PodNetns(ctx context.Context, pod *corev1.Pod) (string, error) {
	key := pod.Namespace + "/" + pod.Name
	a.mu.Lock()
	if p, ok := a.paths[key]; ok {
		a.mu.Unlock()
		return p, nil
	}
	a.mu.Unlock()
	var tried []string
	path := ""
	if p := pod.Annotations[kube.AnnotationNetns]; p != "" {
		full := p
		if !strings.Contains(p, "/") {
			full = "/run/netns/" + p
		}
		if _, err := os.Stat(full); err == nil {
			path = full
		} else {
			tried = append(tried, fmt.Sprintf("annotation %s=%s: %v", kube.AnnotationNetns, p, err))
		}
	}
	if path == "" {
		if s := pod.Annotations[kube.AnnotationPID]; s != "" {
			pid, err := strconv.Atoi(s)
			if err == nil {
				ns, oerr := netns.OpenPID(pid)
				if oerr == nil {
					ns.Close()
					path = "/proc/" + s + "/ns/net"
				} else {
					tried = append(tried, fmt.Sprintf("annotation %s=%s: %v", kube.AnnotationPID, s, oerr))
				}
			}
		}
	}
	if path == "" {
		ips := kube.PodIPs(pod)
		if len(ips) == 0 {
			tried = append(tried, "the pod has no IP")
		} else {
			p, err := FindNetnsWithIP(ctx, ips[0])
			if err == nil {
				path = p
			} else {
				tried = append(tried, fmt.Sprintf("searching this machine's namespaces for %s: %v", ips[0], err))
			}
		}
	}
	if path == "" {
		return "", fmt.Errorf("%w: %s", ErrNoAccess, strings.Join(tried, "; "))
	}
	a.mu.Lock()
	a.paths[key] = path
	a.mu.Unlock()
	return path, nil
}

// localHas reports whether ip is an address of the current namespace.
func localHas(ip netip.Addr) bool { return holds(nil, ip) }

// Rules reads the iptables rules and counters of a vantage point's namespace, fresh.
func (a *Access) Rules(ctx context.Context, at check.Vantage) (*nodestate.Iptables, error) {
	ns, _, err := a.vantage(ctx, at)
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	s, err := nodestate.Take(ctx, ns, nodestate.Options{SkipNft: true, SkipSockets: true, SkipHostFiles: true})
	if err != nil {
		return nil, err
	}
	if s.Iptables == nil {
		return nil, fmt.Errorf("no iptables rules readable in %s: %s", ns, strings.Join(s.Errors, "; "))
	}
	return s.Iptables, nil
}

// Snapshots returns every snapshot read so far, by "node/NAME", "pod/NS/NAME" or "netns/PATH": the
// node view behind a diagnosis, for its evidence bundle.
func (a *Access) Snapshots() map[string]any {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[string]any{}
	for k, e := range a.snaps {
		if e.s != nil {
			out[k] = e.s
		}
	}
	return out
}
