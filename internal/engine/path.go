package engine

import (
	"context"
	"fmt"
	"strings"

	"github.com/netdoctor/netdoctor/internal/check"
	"github.com/netdoctor/netdoctor/internal/diag"
)

// BuildPath draws the path a packet takes from source to target, hop by hop, marking the hops that
// critical findings name as failing.
func BuildPath(ctx context.Context, env *check.Env, findings []diag.Finding) []diag.PathHop {
	var path []diag.PathHop
	s, t := env.Source, env.Target
	add := func(h diag.PathHop) { h.Status = "ok"; path = append(path, h) }
	add(diag.PathHop{Hop: diag.Hop{Node: s.NodeName(), Netns: s.Netns, Interface: "eth0", Where: s.String()}, Address: addr(s), MTU: egressMTU(ctx, env)})
	if s.Node != nil && s.Kind != check.KindNode {
		add(diag.PathHop{Hop: diag.Hop{Node: s.Node.Name, Where: "node " + s.Node.Name + " (bridge, NAT, routing)"}})
	}
	// The nodes the packets are delivered on: the target's, or the service's endpoints'.
	var far []string
	farAddrs := map[string][]string{}
	if t.Service != nil {
		note := fmt.Sprintf("service %s/%s ClusterIP %s", t.Service.Namespace, t.Service.Name, t.IP)
		where := "kube-proxy NAT rules"
		if s.NodeName() != "" {
			where = s.NodeName() + " kube-proxy NAT rules (iptables nat table)"
		}
		add(diag.PathHop{Hop: diag.Hop{Node: s.NodeName(), Where: where}, Note: note})
		for _, ep := range env.ServiceEndpoints(t.Service, t.ServicePort).Ready {
			farAddrs[ep.Node] = append(farAddrs[ep.Node], ep.IP.String())
			if ep.Node != "" && !contains(far, ep.Node) {
				far = append(far, ep.Node)
			}
		}
	} else if t.Node != nil {
		far = append(far, t.Node.Name)
	}
	remote := false
	for _, n := range far {
		if s.Node == nil || n != s.Node.Name {
			remote = true
		}
	}
	if remote && s.Node != nil {
		dev, mtu := tunnel(ctx, env, s.Node.Name)
		add(diag.PathHop{Hop: diag.Hop{Node: s.Node.Name, Interface: dev, Where: s.Node.Name + " " + dev + " (VXLAN encapsulation)"}, MTU: mtu})
	}
	for _, n := range far {
		if s.Node != nil && n == s.Node.Name && t.Service == nil {
			continue
		}
		note := ""
		if a := farAddrs[n]; len(a) > 0 {
			note = "endpoints " + strings.Join(a, ", ")
		}
		add(diag.PathHop{Hop: diag.Hop{Node: n, Where: "node " + n}, Note: note})
	}
	add(diag.PathHop{Hop: diag.Hop{Node: t.NodeName(), Where: t.String()}, Address: addr(t)})
	for _, f := range findings {
		if f.Severity != diag.SeverityCritical {
			continue
		}
		if i := matchHop(path, f.Hop); i >= 0 {
			if path[i].Status != "failing" {
				path[i].Status = "failing"
				if path[i].Note == "" || path[i].Interface == "" {
					path[i].Note = f.Title
				}
			}
			continue
		}
		// Not on the drawn path: insert it after the last hop of its node, else after the source.
		h := diag.PathHop{Hop: f.Hop, Status: "failing", Note: f.Title}
		pos := 1
		for i := range path {
			if f.Hop.Node != "" && path[i].Node == f.Hop.Node {
				pos = i + 1
			}
		}
		if pos > len(path) {
			pos = len(path)
		}
		path = append(path[:pos], append([]diag.PathHop{h}, path[pos:]...)...)
	}
	return path
}

func addr(e *check.Endpoint) string {
	if !e.IP.IsValid() {
		return ""
	}
	return e.IP.String()
}

// matchHop finds the path hop a finding names: same node, same interface when the finding names one,
// and the same namespace (a node-level finding does not land on a pod's hop).
func matchHop(path []diag.PathHop, h diag.Hop) int {
	for i := range path {
		if h.Where != "" && path[i].Where == h.Where {
			return i
		}
	}
	if h.Node == "" {
		return -1
	}
	for i := range path {
		p := path[i]
		if p.Node != h.Node || p.Interface != h.Interface && h.Interface != "" || p.Netns != h.Netns {
			continue
		}
		if h.Interface == "" && p.Interface != "" && p.Netns != "" {
			continue
		}
		return i
	}
	return -1
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// tunnel names the node's VXLAN device and its MTU from the (memoised) node snapshot.
func tunnel(ctx context.Context, env *check.Env, node string) (string, int) {
	if env.Views != nil {
		if snap, err := env.Views.Node(ctx, node); err == nil && snap != nil {
			for _, l := range snap.Links {
				if l.VXLAN != nil {
					return l.Name, l.MTU
				}
			}
		}
	}
	return "tunnel", 0
}

// egressMTU is the MTU of the client's interface, when its snapshot was read.
func egressMTU(ctx context.Context, env *check.Env) int {
	if env.Views == nil || env.Source.Pod == nil {
		return 0
	}
	snap, err := env.Views.Pod(ctx, env.Source.Pod)
	if err != nil || snap == nil {
		return 0
	}
	for _, l := range snap.Links {
		for _, a := range l.Addrs {
			if a.IP == env.Source.IP {
				return l.MTU
			}
		}
	}
	return 0
}
