package engine

import (
	"fmt"

	"github.com/netdoctor/netdoctor/internal/check"
	"github.com/netdoctor/netdoctor/internal/diag"
)

// BuildPath draws the path a packet takes from source to target, hop by hop, marking the hops that
// critical findings name as failing.
func BuildPath(env *check.Env, findings []diag.Finding) []diag.PathHop {
	var path []diag.PathHop
	s, t := env.Source, env.Target
	add := func(h diag.PathHop) { h.Status = "ok"; path = append(path, h) }
	srcWhere := s.String()
	add(diag.PathHop{Hop: diag.Hop{Node: s.NodeName(), Netns: s.Netns, Interface: "eth0", Where: srcWhere}, Address: addr(s)})
	if s.Node != nil && s.Kind != check.KindNode {
		add(diag.PathHop{Hop: diag.Hop{Node: s.Node.Name, Where: "node " + s.Node.Name + " (bridge, NAT, routing)"}})
	}
	if t.Service != nil {
		note := fmt.Sprintf("service %s/%s ClusterIP %s", t.Service.Namespace, t.Service.Name, t.IP)
		add(diag.PathHop{Hop: diag.Hop{Node: s.NodeName(), Where: "kube-proxy DNAT"}, Note: note})
	}
	if t.Node != nil && (s.Node == nil || t.Node.Name != s.Node.Name) {
		if s.Node != nil {
			add(diag.PathHop{Hop: diag.Hop{Node: s.Node.Name, Interface: "flannel.1", Where: "VXLAN from " + s.Node.Name}})
		}
		add(diag.PathHop{Hop: diag.Hop{Node: t.Node.Name, Where: "node " + t.Node.Name}})
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
