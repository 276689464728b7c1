// Package vxlan is the check "vxlan-source": does every node on the path encapsulate VXLAN with its
// own node IP, and do the other nodes send to that IP?
//
// Seed case 1: a new node whose NIC holds a static and a DHCP address; the VTEP took the DHCP one,
// so encapsulated packets leave with the wrong source IP and pods there cannot reach ClusterIPs
// served from other nodes, though the NAT rules are right.
package vxlan

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/netdoctor/netdoctor/internal/check"
	"github.com/netdoctor/netdoctor/internal/diag"
	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/nodestate"
)

// Name is the check's stable name.
const Name = "vxlan-source"

// New returns the check.
func New() check.Check { return check.Func(Name, run) }

func run(ctx context.Context, env *check.Env) ([]diag.Finding, error) {
	nodes := env.NodesOnPath()
	if len(nodes) == 0 {
		return nil, nil
	}
	crossNode := len(nodes) > 1 || env.Source.Outside
	var out []diag.Finding
	for _, node := range nodes {
		f, err := checkNode(ctx, env, node, crossNode)
		if err != nil {
			return out, err
		}
		if f != nil {
			out = append(out, *f)
		}
	}
	return out, nil
}

func checkNode(ctx context.Context, env *check.Env, node string, crossNode bool) (*diag.Finding, error) {
	s, err := env.Views.Node(ctx, node)
	if err != nil {
		return nil, fmt.Errorf("read node %s: %w", node, err)
	}
	internal := env.NodeInternalIP(node)
	if !internal.IsValid() {
		return nil, nil
	}
	for i := range s.Links {
		l := &s.Links[i]
		if l.VXLAN == nil {
			continue
		}
		src, how := encapSource(ctx, env, s, node, l)
		nic := nicOf(s, l, internal)
		annotated := annotatedVTEP(env, node)
		peers := peersPointingElsewhere(ctx, env, node, l.MAC, internal)
		if (!src.IsValid() || src == internal) && (!annotated.IsValid() || annotated == internal) && len(peers) == 0 {
			continue
		}
		sev := diag.SeverityWarning
		if crossNode && env.Symptom != diag.KindHealthy {
			sev = diag.SeverityCritical
		}
		wrong := src
		if !wrong.IsValid() || wrong == internal {
			wrong = annotated
		}
		f := check.Finding(Name, diag.KindCNIKubeProxy, sev,
			diag.Hop{Node: node, Interface: l.Name, Where: fmt.Sprintf("%s %s (VXLAN encapsulation)", node, l.Name)},
			fmt.Sprintf("%s's VXLAN device %s encapsulates with %s, not the node IP %s", node, l.Name, wrong, internal))
		check.Evidencef(f, "Node %s InternalIP: %s", node, internal)
		check.Evidencef(f, "%s %s (VNI %d, port %d): source address %s (%s)", node, l.Name, l.VXLAN.VNI, l.VXLAN.Port, src, how)
		var v4 []string
		dynamic := ""
		if nic != nil {
			for _, a := range nic.Addrs {
				if !a.IP.Is4() {
					continue
				}
				flags := "static"
				if a.Dynamic {
					flags = fmt.Sprintf("dynamic, valid_lft %s", a.ValidLft)
					dynamic = a.Prefix.String()
				}
				if a.Secondary {
					flags += ", secondary"
				}
				v4 = append(v4, fmt.Sprintf("%s (%s)", a.Prefix, flags))
			}
			check.Evidencef(f, "%s NIC %s holds %d IPv4 addresses: %s", node, nic.Name, len(v4), strings.Join(v4, ", "))
		}
		if annotated.IsValid() {
			check.Evidencef(f, "Node annotation %s=%s", kube.AnnotationFlannelPublicIP, annotated)
		}
		for _, p := range peers {
			check.Evidencef(f, "%s", p)
		}
		cause := fmt.Sprintf("VXLAN packets from %s leave with source %s instead of the node IP %s", node, wrong, internal)
		if len(v4) > 1 {
			cause = fmt.Sprintf("%s's NIC %s holds two IPv4 addresses (%s); the VXLAN tunnel endpoint uses %s instead of the node IP %s, so encapsulated packets leave with the wrong source IP and replies from other nodes are sent to %s, which does not lead back to this node's pods",
				node, nic.Name, strings.Join(v4, " and "), wrong, internal, wrong)
			if dynamic != "" {
				cause += fmt.Sprintf(" (%s is a DHCP-assigned, dynamic address)", dynamic)
			}
		}
		f.Cause = cause + "."
		f.Fix = fmt.Sprintf("Remove the extra address from %s and stop DHCP on it (on RHEL-like hosts BOOTPROTO=\"none\" in ifcfg-%s, or the equivalent netplan/NetworkManager setting), then restart the CNI agent (flannel), the container runtime and the kubelet on %s so the VTEP is recreated with %s; or pin the address with flannel's --iface/--public-ip=%s.",
			ifName(nic), ifName(nic), node, internal, internal)
		return f, nil
	}
	return nil, nil
}

func ifName(l *nodestate.Link) string {
	if l == nil {
		return "the NIC"
	}
	return l.Name
}

// encapSource is the outer source address of the device's packets: its local address when set,
// else the source the kernel picks for a route to another node.
func encapSource(ctx context.Context, env *check.Env, s *nodestate.Snapshot, node string, l *nodestate.Link) (netip.Addr, string) {
	if l.VXLAN.Local.IsValid() {
		return l.VXLAN.Local, "its configured local address"
	}
	for _, n := range env.Cluster.Nodes {
		if n.Name == node {
			continue
		}
		peer := kube.InternalIP(&n)
		if !peer.IsValid() || env.Views == nil {
			continue
		}
		r, err := env.Views.Route(ctx, node, nodestate.RouteQuery{Dst: peer})
		if err == nil && r.Src.IsValid() {
			return r.Src, fmt.Sprintf("no local address set: the kernel picks %s for the route to %s", r.Src, peer)
		}
	}
	return netip.Addr{}, "unknown"
}

// nicOf is the underlay link: the VXLAN device's dev, else the link holding the node IP.
func nicOf(s *nodestate.Snapshot, l *nodestate.Link, internal netip.Addr) *nodestate.Link {
	if l.VXLAN.Dev != "" {
		if n := s.Link(l.VXLAN.Dev); n != nil {
			return n
		}
	}
	if n := check.NodeLinkWith(s, internal); n != nil {
		return n
	}
	if l.VXLAN.Local.IsValid() {
		return check.NodeLinkWith(s, l.VXLAN.Local)
	}
	return nil
}

func annotatedVTEP(env *check.Env, node string) netip.Addr {
	n := env.Cluster.Node(node)
	if n == nil {
		return netip.Addr{}
	}
	a, _ := netip.ParseAddr(n.Annotations[kube.AnnotationFlannelPublicIP])
	return a
}

// peersPointingElsewhere lists other nodes whose FDB sends this node's VTEP MAC to an address that
// is not the node IP.
func peersPointingElsewhere(ctx context.Context, env *check.Env, node, mac string, internal netip.Addr) []string {
	if n := env.Cluster.Node(node); n != nil {
		var bd struct {
			VtepMAC string `json:"VtepMAC"`
		}
		if json.Unmarshal([]byte(n.Annotations[kube.AnnotationFlannelBackendData]), &bd) == nil && bd.VtepMAC != "" {
			mac = bd.VtepMAC
		}
	}
	if mac == "" {
		return nil
	}
	var out []string
	for _, n := range env.Cluster.Nodes {
		if n.Name == node {
			continue
		}
		s, err := env.Views.Node(ctx, n.Name)
		if err != nil || s == nil {
			continue
		}
		for _, e := range s.FDB {
			if strings.EqualFold(e.MAC, mac) && e.Dst.IsValid() && e.Dst != internal {
				out = append(out, fmt.Sprintf("%s's FDB sends %s's VTEP MAC %s to %s on %s, not to %s", n.Name, node, mac, e.Dst, e.Dev, internal))
			}
		}
	}
	sort.Strings(out)
	return out
}
