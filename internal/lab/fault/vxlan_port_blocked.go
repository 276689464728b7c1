package fault

import (
	"context"

	"github.com/netdoctor/netdoctor/internal/diag"
	"github.com/netdoctor/netdoctor/internal/lab"
)

// VXLANPortBlocked: node2's host firewall drops UDP 8472 (a firewalld zone without flannel's VXLAN
// port, a common first-day mistake): every encapsulated packet to node2 is dropped on arrival, so no
// pod elsewhere reaches node2's pods, while node-to-node traffic and same-node traffic work.
func VXLANPortBlocked() lab.Fault {
	return lab.Fault{
		Name:        "vxlan-port-blocked",
		Description: "node2's host firewall drops UDP 8472 (flannel VXLAN): pods on other nodes cannot reach node2's pods, nodes still ping each other",
		Kind:        diag.KindCNIKubeProxy,
		Hop:         diag.Hop{Node: "node2", Netns: nodeNetns("node2"), Interface: "eth0", Where: "node2 iptables filter INPUT: DROP udp dport 8472 (VXLAN)"},
		Cause:       "node2's firewall drops incoming UDP port 8472, the VXLAN port flannel uses, so encapsulated pod traffic from other nodes never reaches flannel.1",
		Fix:         "allow UDP 8472 between the nodes in node2's firewall (firewall-cmd --add-port=8472/udp --permanent, or the equivalent iptables rule)",
		Request:     lab.Request{From: client1, To: web2, Proto: "tcp"},
		Facts:       map[string]string{"node": "node2", "port": "8472", "protocol": "udp", "chain": "INPUT"},
		Inject: func(ctx context.Context, l *lab.Lab) error {
			return iptablesOn(ctx, l, []string{"node2"}, "-I", "INPUT", "1", "-p", "udp", "--dport", "8472", "-j", "DROP")
		},
		Flows: []lab.Flow{
			{Name: "TCP from node1's pod to node2's pod", From: client1, To: web2, Proto: "tcp", Want: lab.OutcomeTimeout},
			{Name: "TCP within node2", From: client2, To: web2, Proto: "tcp", Want: lab.OutcomeOK},
		},
	}
}
