package fault

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/netdoctor/netdoctor/internal/diag"
	"github.com/netdoctor/netdoctor/internal/lab"
)

// DualIPVXLANSource is seed case 1. The new node's NIC holds its static IP and a DHCP address (finite
// valid_lft, so "dynamic"); flanneld picked the DHCP address as its public IP, so flannel.1's local
// address is the DHCP one, the node's flannel public-ip annotation says so and every peer's FDB entry
// for the new node's VTEP MAC points at it. The DHCP address was also leased to another machine on
// the underlay (an IP conflict), and the underlay switch's port security only lets the new node's
// port use its registered (static) address: encapsulated packets leaving with the DHCP source are
// dropped, and the peers' replies for the DHCP address go to the other machine. Kubernetes NAT rules
// are all correct.
func DualIPVXLANSource() lab.Fault {
	return lab.Fault{
		Name:        "dual-ip-vxlan-source",
		Description: "new node has a second (DHCP) IP and flannel.1 encapsulates from it: its pods cannot reach ClusterIPs served elsewhere",
		Kind:        diag.KindCNIKubeProxy,
		Hop:         diag.Hop{Node: newNode, Netns: nodeNetns(newNode), Interface: "flannel.1", Where: "{new} flannel.1 (VXLAN source address 192.168.56.200 on eth0)"},
		Cause: "{new}'s eth0 holds its static IP {new-ip} and a DHCP address 192.168.56.200; flanneld chose the DHCP " +
			"address, so flannel.1 encapsulates with source 192.168.56.200 instead of the node InternalIP and peers send " +
			"replies to 192.168.56.200, which the underlay does not deliver to {new}",
		Fix: "remove the DHCP address from {new}'s NIC (BOOTPROTO=none / static only), then restart the container runtime, " +
			"kubelet and the flannel pod so the VTEP uses the node IP (or pin flannel with --iface / --public-ip)",
		Request: lab.Request{From: client3, To: webSvc, Proto: "tcp"},
		Facts: map[string]string{
			"node": newNode, "interface": "eth0", "static_ip": node3IP, "dhcp_ip": dhcpIP, "vtep_ip": dhcpIP,
			"internal_ip": node3IP, "vxlan_device": "flannel.1",
		},
		Mutate: func(p *lab.Plan) {
			n := p.NewNode()
			dhcp := netip.MustParsePrefix(dhcpIP + "/24")
			n.Dynamic = append(n.Dynamic, dhcp)
			n.VTEP = dhcp.Addr()
			p.Extra = append(p.Extra, lab.ExtraHost{Netns: p.Name + "-extra1", Addr: dhcp})
		},
		Inject: func(ctx context.Context, l *lab.Lab) error {
			n := l.Plan.NewNode()
			// Port security on the underlay switch: the new node's port may only use its registered IP.
			rules := fmt.Sprintf(`table bridge portsec {
	chain forward {
		type filter hook forward priority 0; policy accept;
		iifname %q ether type ip ip saddr != %s counter drop
		iifname %q ether type arp arp saddr ip != %s counter drop
	}
}
`, n.Name, n.IP, n.Name, n.IP)
			_, err := l.Exec(ctx, l.Plan.Underlay, rules, "nft", "-f", "-")
			return err
		},
		Flows: []lab.Flow{
			{Name: "new node pod to ClusterIP served from other nodes", From: client3, To: webSvc, Proto: "tcp", Want: lab.OutcomeTimeout},
			{Name: "old node pod to the same ClusterIP", From: client1, To: webSvc, Proto: "tcp", Want: lab.OutcomeOK},
		},
	}
}
