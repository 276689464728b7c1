package fault

import (
	"context"
	"net"

	"github.com/vishvananda/netlink"

	"github.com/netdoctor/netdoctor/internal/diag"
	"github.com/netdoctor/netdoctor/internal/lab"
)

// RPFilterStrict: node2 is dual-homed: besides eth0 it has a management link mgmt0 to the router, and
// its route to the outside network (198.51.100.0/24) uses mgmt0. Requests from the outside VM to
// node2's NodePort arrive on eth0; with strict reverse-path filtering (rp_filter=1) the kernel drops
// them because the reverse route leaves through mgmt0. Loose mode (2) would accept them.
func RPFilterStrict() lab.Fault {
	return lab.Fault{
		Name:        "rp-filter-strict",
		Description: "node2 routes the outside network via a second NIC and has rp_filter=1: the VM's requests to node2's NodePort are dropped",
		Kind:        diag.KindNetworkUnreachable,
		Hop:         diag.Hop{Node: "node2", Netns: nodeNetns("node2"), Interface: "eth0", Where: "node2 eth0 ingress: strict reverse-path filter (route back to 198.51.100.10 is via mgmt0)"},
		Cause: "node2 has net.ipv4.conf.all.rp_filter=1 (strict) and its route to 198.51.100.0/24 goes through mgmt0, so packets from the VM " +
			"arriving on eth0 fail the reverse-path check and are dropped",
		Fix:     "set net.ipv4.conf.all.rp_filter=2 (loose) and net.ipv4.conf.eth0.rp_filter=2 on node2, or make the routing symmetric",
		Request: lab.Request{From: vmNetns, To: "192.168.56.12:30080", Proto: "tcp"},
		Facts:   map[string]string{"node": "node2", "sysctl": "net.ipv4.conf.all.rp_filter", "value": "1", "ingress": "eth0", "reverse_route_dev": "mgmt0"},
		Inject: func(ctx context.Context, l *lab.Lab) error {
			n := l.Plan.Node("node2")
			if err := l.Veth(n.Netns, "mgmt0", l.Plan.Router, "mgmt-node2"); err != nil {
				return err
			}
			if err := l.Netlink(l.Plan.Router, func(h *netlink.Handle) error {
				lk, err := h.LinkByName("mgmt-node2")
				if err != nil {
					return err
				}
				return h.AddrAdd(lk, &netlink.Addr{IPNet: ipnet(mustPrefix("172.31.0.1/30"))})
			}); err != nil {
				return err
			}
			if err := l.Netlink(n.Netns, func(h *netlink.Handle) error {
				lk, err := h.LinkByName("mgmt0")
				if err != nil {
					return err
				}
				if err := h.AddrAdd(lk, &netlink.Addr{IPNet: ipnet(mustPrefix("172.31.0.2/30"))}); err != nil {
					return err
				}
				return h.RouteAdd(&netlink.Route{Dst: ipnet(mustPrefix("198.51.100.0/24")), Gw: net.ParseIP("172.31.0.1"), LinkIndex: lk.Attrs().Index})
			}); err != nil {
				return err
			}
			for _, k := range []string{"net.ipv4.conf.all.rp_filter", "net.ipv4.conf.eth0.rp_filter"} {
				if err := l.Sysctl(n.Netns, k, "1"); err != nil {
					return err
				}
			}
			return nil
		},
		Flows: []lab.Flow{
			{Name: "VM to node2's NodePort", From: vmNetns, To: "192.168.56.12:30080", Proto: "tcp", Want: lab.OutcomeTimeout},
			{Name: "VM to node1's NodePort", From: vmNetns, To: nodePort, Proto: "tcp", Want: lab.OutcomeOK},
		},
	}
}
