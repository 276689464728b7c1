package fault

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"

	"github.com/netdoctor/netdoctor/internal/lab"
)

// Ground truth in the catalogue names the lab with lab.Placeholder ("{lab}"), the new (last) node
// with "{new}", its InternalIP with "{new-ip}", its pod CIDR with "{new-cidr}", and the first pod
// labelled app=APP on NODE with "~APP@NODE"; Lab.Expand fills them in. node1 and node2 exist in every
// lab (at least 3 nodes).
const (
	newNode  = "{new}"
	vmNetns  = "netns//run/netns/" + lab.Placeholder + "-vm"
	client1  = "pod/default/client-node1"
	client2  = "pod/default/client-node2"
	client3  = "pod/default/client-{new}"
	webSvc   = "svc/default/web:80"
	web2     = "pod/default/~web@node2:8080" // the web pod on node2
	web1     = "pod/default/~web@node1:8080" // the web pod on node1
	dnsName  = "web.default.svc.cluster.local"
	node1IP  = "192.168.56.11"
	node2IP  = "192.168.56.12"
	node3IP  = "{new-ip}"
	dhcpIP   = "192.168.56.200"
	nodePort = "192.168.56.11:30080" // default/web, backed by pods (MTU 1450)
	ingress  = "192.168.56.11:30880" // the hostNetwork ingress controller, answered by the nodes (MTU 1500)
	vmHTTP   = "198.51.100.10:8080"
)

func nodeNetns(node string) string { return lab.Placeholder + "-" + node }

// podNetns is the netns name of "~APP@NODE" (expanded by Lab.Expand).
func podNetns(app, node string) string { return lab.Placeholder + "-pod-~" + app + "@" + node }

// nodeNS returns the netns name of a node of the running lab.
func nodeNS(l *lab.Lab, node string) (string, error) {
	n := l.Plan.Node(node)
	if n == nil {
		return "", fmt.Errorf("fault: lab has no %s", node)
	}
	return n.Netns, nil
}

// podOn returns the pod app on node of the running lab.
func podOn(l *lab.Lab, app, node string) (*lab.PodPlan, error) {
	p := l.Plan.PodOn(app, node)
	if p == nil || !p.IP.IsValid() {
		return nil, fmt.Errorf("fault: lab has no running %s pod on %s", app, node)
	}
	return p, nil
}

// iptablesOn runs iptables args on each of the named nodes.
func iptablesOn(ctx context.Context, l *lab.Lab, nodes []string, args ...string) error {
	for _, node := range nodes {
		ns, err := nodeNS(l, node)
		if err != nil {
			return err
		}
		if err := l.IPTables(ctx, ns, args...); err != nil {
			return err
		}
	}
	return nil
}

// allNodes lists the lab's node names.
func allNodes(l *lab.Lab) []string {
	var out []string
	for _, n := range l.Plan.Nodes {
		out = append(out, n.Name)
	}
	return out
}

// deleteNeigh removes the permanent entry for ip (AF_INET) or the FDB entry for mac (AF_BRIDGE) on
// flannel.1 of node.
func deleteFlannelEntry(l *lab.Lab, node string, peer *lab.NodePlan, fdb bool) error {
	ns, err := nodeNS(l, node)
	if err != nil {
		return err
	}
	mac, err := net.ParseMAC(peer.VtepMAC)
	if err != nil {
		return err
	}
	return l.Netlink(ns, func(h *netlink.Handle) error {
		fl, err := h.LinkByName(lab.VXLANDevice)
		if err != nil {
			return err
		}
		n := &netlink.Neigh{LinkIndex: fl.Attrs().Index, HardwareAddr: mac}
		if fdb {
			n.Family, n.Flags, n.IP = netlinkAFBridge, ntfSelf, peer.VTEP.AsSlice()
		} else {
			n.Family, n.IP = netlinkAFInet, peer.PodCIDR.Addr().AsSlice()
		}
		return h.NeighDel(n)
	})
}

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func ipnet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

var errNoBrNetfilter = errors.New("fault: needs the br_netfilter module (modprobe br_netfilter; scripts/deps.sh loads it)")
