// Package route is the check "pod-route": does the client's node route packets for the destination
// pod IP where they should go (the CNI bridge for local pods, the tunnel for remote ones), and can
// the tunnel encapsulate them (neighbour and FDB entries for the remote VTEP)? The same for the way
// back on the destination's node.
package route

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/netdoctor/netdoctor/internal/check"
	"github.com/netdoctor/netdoctor/internal/diag"
	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/nodestate"
)

// Name is the check's stable name.
const Name = "pod-route"

// New returns the check.
func New() check.Check { return check.Func(Name, run) }

type leg struct {
	node     string     // node doing the look-up
	src, dst netip.Addr // packet addresses
	iif      string     // arriving interface ("" for locally generated)
	dstNode  string     // node owning dst ("" outside)
	what     string
}

func run(ctx context.Context, env *check.Env) ([]diag.Finding, error) {
	if env.Views == nil {
		return nil, nil
	}
	dsts := destinations(env)
	srcNode := env.Source.NodeName()
	var out []diag.Finding
	seen := map[string]bool{}
	for _, d := range dsts {
		dn := ""
		if n := env.Cluster.NodeForPodCIDR(d); n != nil {
			dn = n.Name
		}
		var legs []leg
		if srcNode != "" {
			snap, err := env.Views.Node(ctx, srcNode)
			if err != nil {
				return out, fmt.Errorf("read node %s: %w", srcNode, err)
			}
			legs = append(legs, leg{node: srcNode, src: env.Source.IP, dst: d, iif: iifFor(snap, env), dstNode: dn, what: "to the destination pod"})
		}
		if dn != "" && dn != srcNode && env.Source.IP.IsValid() && !env.Source.Outside {
			back, err := env.Views.Node(ctx, dn)
			if err != nil {
				return out, fmt.Errorf("read node %s: %w", dn, err)
			}
			legs = append(legs, leg{node: dn, src: d, dst: env.Source.IP, iif: check.BridgeFor(back, d), dstNode: srcNode, what: "back to the client"})
		}
		for _, l := range legs {
			key := l.node + l.dst.String()
			if seen[key] {
				continue
			}
			seen[key] = true
			if f := checkLeg(ctx, env, l); f != nil {
				out = append(out, *f)
			}
		}
	}
	return out, nil
}

func iifFor(snap *nodestate.Snapshot, env *check.Env) string {
	if env.Source.Kind == check.KindNode {
		return ""
	}
	return check.BridgeFor(snap, env.Source.IP)
}

// destinations are the pod IPs the packets are finally sent to.
func destinations(env *check.Env) []netip.Addr {
	t := env.Target
	if t.Service != nil {
		var out []netip.Addr
		for _, ep := range env.ServiceEndpoints(t.Service, t.ServicePort).Ready {
			out = append(out, ep.IP)
		}
		return out
	}
	if t.IP.IsValid() && env.Cluster.NodeForPodCIDR(t.IP) != nil {
		return []netip.Addr{t.IP}
	}
	return nil
}

func checkLeg(ctx context.Context, env *check.Env, l leg) *diag.Finding {
	q := nodestate.RouteQuery{Dst: l.dst, Src: l.src, Iif: l.iif}
	if !l.src.IsValid() || l.iif == "" {
		// A locally generated look-up must not claim a source the node does not own.
		q.Iif, q.Src = "", netip.Addr{}
	}
	r, err := env.Views.Route(ctx, l.node, q)
	if err != nil {
		return nil
	}
	if r.Error != "" && q.Iif != "" {
		// A forwarded look-up can fail for reasons of its own (rp_filter): the sysctl check tells.
		if r2, err2 := env.Views.Route(ctx, l.node, nodestate.RouteQuery{Dst: l.dst}); err2 == nil && r2.Error == "" && r2.Type == "unicast" {
			return nil
		}
	}
	hop := diag.Hop{Node: l.node, Interface: r.Dev, Where: fmt.Sprintf("%s routing %s", l.node, l.what)}
	switch {
	case r.Type != "unicast" && r.Type != "local" || r.Error != "":
		f := check.Finding(Name, diag.KindNetworkUnreachable, diag.SeverityCritical, hop,
			fmt.Sprintf("%s has no route to %s (%s)", l.node, l.dst, firstNonEmpty(r.Error, r.Type)))
		check.Evidencef(f, "ip route get %s%s on %s: type %s %s", l.dst, fromIif(q), l.node, r.Type, r.Error)
		addRoutes(f, env, ctx, l)
		f.Cause = fmt.Sprintf("The routing table of %s has no usable route for %s's pod CIDR, so the packet %s is dropped there.", l.node, nodeOr(l.dstNode, l.dst.String()), l.what)
		f.Fix = fmt.Sprintf("Restore the CNI route on %s (for flannel: `%s via %s dev flannel.1 onlink`, written by flanneld: restart the flannel pod on %s and check its logs).", l.node, cidrOf(env, l.dstNode), gwOf(env, l.dstNode), l.node)
		return f
	case l.dstNode != "" && l.dstNode != l.node && r.VTEP == nil && r.Gw != env.NodeInternalIP(l.dstNode):
		// A remote pod must leave through the overlay (or straight to its node, host-gw style).
		f := check.Finding(Name, diag.KindNetworkUnreachable, diag.SeverityCritical, hop,
			fmt.Sprintf("%s has no route for %s's pod CIDR %s: packets for %s follow %s", l.node, l.dstNode, cidrOf(env, l.dstNode), l.dst, describe(r)))
		check.Evidencef(f, "ip route get %s%s on %s: %s", l.dst, fromIif(q), l.node, describe(r))
		addRoutes(f, env, ctx, l)
		f.Cause = fmt.Sprintf("The CNI route for %s's pods (%s) is missing on %s, so packets %s leave by %s instead of the overlay and never reach %s.", l.dstNode, cidrOf(env, l.dstNode), l.node, l.what, describe(r), l.dstNode)
		f.Fix = fmt.Sprintf("Restore the route on %s (for flannel: `%s via %s dev flannel.1 onlink`, written by flanneld: restart the flannel pod on %s and check its logs for errors).", l.node, cidrOf(env, l.dstNode), gwOf(env, l.dstNode), l.node)
		return f
	case r.VTEP != nil && r.VTEP.Problem != "":
		hop.Where = fmt.Sprintf("%s %s (VXLAN neighbour/FDB entries for %s)", l.node, r.Dev, r.VTEP.NextHop)
		f := check.Finding(Name, diag.KindCNIKubeProxy, diag.SeverityCritical, hop,
			fmt.Sprintf("%s cannot encapsulate packets for %s: %s", l.node, l.dst, r.VTEP.Problem))
		check.Evidencef(f, "ip route get %s on %s: dev %s via %s", l.dst, l.node, r.Dev, r.Gw)
		check.Evidencef(f, "VTEP: %s", r.VTEP.Problem)
		if r.VTEP.Neighbor != nil {
			check.Evidencef(f, "neighbour %s lladdr %s (%s) on %s", r.VTEP.Neighbor.IP, r.VTEP.Neighbor.MAC, r.VTEP.Neighbor.State, r.Dev)
		}
		if peer := env.Cluster.NodeForPodCIDR(r.VTEP.NextHop); peer != nil {
			vtep := kube.InternalIP(peer)
			if a, err := netip.ParseAddr(peer.Annotations[kube.AnnotationFlannelPublicIP]); err == nil {
				vtep = a
			}
			check.Evidencef(f, "next hop %s is %s's VTEP (pod CIDR %s): encapsulated packets should go to %s", r.VTEP.NextHop, peer.Name, peer.Spec.PodCIDR, vtep)
		}
		f.Cause = fmt.Sprintf("The VXLAN device %s on %s has no neighbour or FDB entry for the next hop %s, so it does not know which node to send the encapsulated packet to.", r.Dev, l.node, r.VTEP.NextHop)
		f.Fix = fmt.Sprintf("Restart flanneld on %s so it rewrites the neighbour and FDB entries of %s (flannel writes `neigh %s lladdr <VtepMAC> permanent` and `fdb <VtepMAC> dst <node IP> self permanent`).", l.node, r.Dev, r.VTEP.NextHop)
		return f
	}
	return nil
}

func describe(r *nodestate.RouteResult) string {
	s := r.Type
	if r.Gw.IsValid() {
		s += " via " + r.Gw.String()
	}
	if r.Dev != "" {
		s += " dev " + r.Dev
	}
	return s
}

func addRoutes(f *diag.Finding, env *check.Env, ctx context.Context, l leg) {
	s, err := env.Views.Node(ctx, l.node)
	if err != nil || s == nil {
		return
	}
	n := 0
	for _, r := range s.Routes {
		if r.Table != 254 || !r.Dst.Addr().Is4() {
			continue
		}
		via := ""
		if r.Gw.IsValid() {
			via = " via " + r.Gw.String()
		}
		check.Evidencef(f, "%s main table: %s%s dev %s %s", l.node, r.Dst, via, r.Dev, r.Type)
		n++
		if n >= 8 {
			break
		}
	}
}

func fromIif(q nodestate.RouteQuery) string {
	s := ""
	if q.Src.IsValid() {
		s += " from " + q.Src.String()
	}
	if q.Iif != "" {
		s += " iif " + q.Iif
	}
	return s
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func nodeOr(n, d string) string {
	if n != "" {
		return n
	}
	return d
}

func cidrOf(env *check.Env, node string) string {
	if n := env.Cluster.Node(node); n != nil && n.Spec.PodCIDR != "" {
		return n.Spec.PodCIDR
	}
	return "<pod CIDR>"
}

func gwOf(env *check.Env, node string) string {
	if p, err := netip.ParsePrefix(cidrOf(env, node)); err == nil {
		return p.Masked().Addr().String()
	}
	return "<pod CIDR network address>"
}
