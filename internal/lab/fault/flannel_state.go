package fault

import (
	"context"
	"fmt"

	"github.com/vishvananda/netlink"

	"github.com/netdoctor/netdoctor/internal/diag"
	"github.com/netdoctor/netdoctor/internal/lab"
)

// MissingRoutePodCIDR: node1 lost its route to node2's pod CIDR (flanneld failed to re-add it after
// a restart): traffic to node2's pods follows the default route to the router and vanishes.
func MissingRoutePodCIDR() lab.Fault {
	return lab.Fault{
		Name:        "missing-route-pod-cidr",
		Description: "node1 has no route to node2's pod CIDR 10.244.1.0/24 via flannel.1: its pods cannot reach pods on node2",
		Kind:        diag.KindNetworkUnreachable,
		Hop:         diag.Hop{Node: "node1", Netns: nodeNetns("node1"), Where: "node1 routing table (no route to 10.244.1.0/24 via flannel.1)"},
		Cause:       "the route 10.244.1.0/24 via 10.244.1.0 dev flannel.1 onlink is missing on node1, so packets for node2's pods take the default route out of the cluster",
		Fix:         "restart the flannel pod on node1 so it re-adds the routes (and check its log for the failure)",
		Request:     lab.Request{From: client1, To: web2, Proto: "tcp"},
		Facts:       map[string]string{"node": "node1", "missing_route": "10.244.1.0/24", "via": "10.244.1.0", "dev": "flannel.1"},
		Inject: func(ctx context.Context, l *lab.Lab) error {
			peer := l.Plan.Node("node2")
			return l.Netlink(l.Plan.Node("node1").Netns, func(h *netlink.Handle) error {
				fl, err := h.LinkByName(lab.VXLANDevice)
				if err != nil {
					return err
				}
				return h.RouteDel(&netlink.Route{LinkIndex: fl.Attrs().Index, Dst: ipnet(peer.PodCIDR)})
			})
		},
		Flows: []lab.Flow{
			{Name: "TCP to a pod on node2", From: client1, To: web2, Proto: "tcp", Want: lab.OutcomeTimeout},
			{Name: "TCP from the new node to a pod on node1", From: client3, To: web1, Proto: "tcp", Want: lab.OutcomeOK},
		},
	}
}

// MissingFDBVTEP: node1 lost the FDB entry that maps node2's VTEP MAC to node2's IP: VXLAN frames for
// node2 have nowhere to go.
func MissingFDBVTEP() lab.Fault {
	return flannelEntry("missing-fdb-vtep", true,
		"node1's flannel.1 has no FDB entry for node2's VTEP MAC: encapsulated traffic to node2 is dropped",
		"the permanent FDB entry <node2 VTEP MAC> dst 192.168.56.12 on node1's flannel.1 is missing, so the kernel cannot encapsulate frames for node2",
		"restart the flannel pod on node1 (it rewrites FDB entries for every node lease), or add it: bridge fdb append <mac> dev flannel.1 dst 192.168.56.12 self permanent")
}

// MissingNeighVTEP: node1 lost the permanent neighbour entry of node2's flannel.1 address.
func MissingNeighVTEP() lab.Fault {
	return flannelEntry("missing-neigh-vtep", false,
		"node1's flannel.1 has no neighbour entry for 10.244.1.0 (node2's VTEP): pods on node1 cannot reach node2's pods",
		"the permanent neighbour entry 10.244.1.0 lladdr <node2 VTEP MAC> on node1's flannel.1 is missing; flannel.1 does not learn it by ARP, so packets to node2's pods are dropped",
		"restart the flannel pod on node1 (it rewrites the neighbour entries), or add it: ip neigh replace 10.244.1.0 lladdr <mac> dev flannel.1 nud permanent")
}

func flannelEntry(name string, fdb bool, desc, cause, fix string) lab.Fault {
	what := "neighbour 10.244.1.0"
	if fdb {
		what = "FDB entry for node2's VTEP MAC"
	}
	return lab.Fault{
		Name:        name,
		Description: desc,
		Kind:        diag.KindCNIKubeProxy,
		Hop:         diag.Hop{Node: "node1", Netns: nodeNetns("node1"), Interface: "flannel.1", Where: "node1 flannel.1 (missing " + what + ")"},
		Cause:       cause,
		Fix:         fix,
		Request:     lab.Request{From: client1, To: web2, Proto: "tcp"},
		Facts:       map[string]string{"node": "node1", "peer": "node2", "peer_vtep_ip": node2IP, "peer_vtep_gateway": "10.244.1.0", "missing": what},
		Inject: func(ctx context.Context, l *lab.Lab) error {
			if err := deleteFlannelEntry(l, "node1", l.Plan.Node("node2"), fdb); err != nil {
				return fmt.Errorf("delete %s: %w", what, err)
			}
			return nil
		},
		Flows: []lab.Flow{
			{Name: "TCP to a pod on node2", From: client1, To: web2, Proto: "tcp", Want: lab.OutcomeFail},
			{Name: "TCP from node2 side still works elsewhere", From: client3, To: web2, Proto: "tcp", Want: lab.OutcomeOK},
		},
	}
}

// IPForwardDisabled: net.ipv4.ip_forward=0 on node2 (a hardening baseline or a sysctl.d file reset
// it): node2 no longer routes between flannel.1 and cni0.
func IPForwardDisabled() lab.Fault {
	return lab.Fault{
		Name:        "ip-forward-disabled",
		Description: "net.ipv4.ip_forward=0 on node2: pods elsewhere cannot reach node2's pods (same-node bridged traffic still works)",
		Kind:        diag.KindCNIKubeProxy,
		Hop:         diag.Hop{Node: "node2", Netns: nodeNetns("node2"), Where: "node2 sysctl net.ipv4.ip_forward = 0"},
		Cause:       "IP forwarding is disabled on node2, so it drops packets arriving on flannel.1 for its pods (and everything its pods send off the node)",
		Fix:         "sysctl -w net.ipv4.ip_forward=1 on node2 and fix the sysctl.d file or hardening baseline that turned it off",
		Request:     lab.Request{From: client1, To: web2, Proto: "tcp"},
		Facts:       map[string]string{"node": "node2", "sysctl": "net.ipv4.ip_forward", "value": "0"},
		Inject: func(ctx context.Context, l *lab.Lab) error {
			return l.Sysctl(l.Plan.Node("node2").Netns, "net.ipv4.ip_forward", "0")
		},
		Flows: []lab.Flow{
			{Name: "TCP from node1 to a pod on node2", From: client1, To: web2, Proto: "tcp", Want: lab.OutcomeTimeout},
			{Name: "TCP within node2", From: client2, To: web2, Proto: "tcp", Want: lab.OutcomeOK},
		},
	}
}
