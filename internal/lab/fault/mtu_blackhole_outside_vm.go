package fault

import (
	"context"

	"github.com/netdoctor/netdoctor/internal/diag"
	"github.com/netdoctor/netdoctor/internal/lab"
)

// MTUBlackholeOutsideVM is seed case 2: the outside VM (MTU 1500) reaches a NodePort through the
// router, whose link into the node network is a tunnel with MTU 1440; the router's firewall drops the
// ICMP fragmentation-needed it generates. The NodePort is the ingress controller's, which runs with
// hostNetwork on node1 and node2: the node's stack answers, so both ends announce MSS 1460 and the
// VM sends 1500-byte packets. The handshake and a small GET work while the full-size segments of a
// large POST vanish and are retransmitted until it times out; DF pings show 1440 bytes pass and
// larger packets vanish without an ICMP error.
func MTUBlackholeOutsideVM() lab.Fault {
	return lab.Fault{
		Name:        "mtu-blackhole-outside-vm",
		Description: "outside VM (MTU 1500) to a NodePort through a 1440 tunnel with ICMP frag-needed dropped: handshake and GET work, large POST hangs",
		Kind:        diag.KindLargePacketLoss,
		Hop:         diag.Hop{Netns: lab.Placeholder + "-router", Interface: "tun0", Where: "router tun0 (MTU 1440 tunnel), ICMP frag-needed dropped by the router firewall"},
		Cause: "the path from the VM to the node contains a 1440-byte tunnel while the VM and the node use MTU 1500 (MSS 1460); " +
			"the router drops the ICMP fragmentation-needed messages, so path MTU discovery never learns 1440 and full-size segments are black-holed",
		Fix:     "lower the VM's MTU (or its route MTU) to 1440, or let ICMP fragmentation-needed through the router firewall, or clamp TCP MSS to the path MTU on the router",
		Request: lab.Request{From: vmNetns, To: ingress, Proto: "tcp", Size: 200000},
		Facts: map[string]string{
			"client_mtu": "1500", "tunnel_mtu": "1440", "largest_packet": "1440", "mss": "1460", "interface": "tun0", "dropped": "icmp fragmentation-needed",
		},
		Inject: func(ctx context.Context, l *lab.Lab) error {
			p := l.Plan
			if err := l.SetMTU(p.Router, "tun0", 1440); err != nil {
				return err
			}
			if err := l.SetMTU(p.Underlay, "router", 1440); err != nil {
				return err
			}
			return l.IPTables(ctx, p.Router, "-A", "OUTPUT", "-p", "icmp", "--icmp-type", "fragmentation-needed", "-j", "DROP")
		},
		Flows: []lab.Flow{
			{Name: "TCP handshake", From: vmNetns, To: ingress, Proto: "tcp", Want: lab.OutcomeOK},
			{Name: "small GET", From: vmNetns, To: ingress, Proto: "http", Want: lab.OutcomeOK},
			{Name: "large POST", From: vmNetns, To: ingress, Proto: "http", Size: 200000, Want: lab.OutcomeTimeout, Retrans: true},
		},
	}
}
