package fault

import (
	"context"

	"github.com/netdoctor/netdoctor/internal/diag"
	"github.com/netdoctor/netdoctor/internal/lab"
)

// FirewallDropNodeForward: node2's FORWARD chain drops everything to the web pod (a host firewall
// rule inserted above kube-proxy's and flannel's ACCEPTs): ping and TCP time out.
func FirewallDropNodeForward() lab.Fault {
	return nodeForwardFirewall("firewall-drop-node-forward", []string{"DROP"}, lab.OutcomeTimeout,
		"a DROP rule in node2's FORWARD chain discards all traffic to the web pod: ping and TCP time out")
}

// FirewallRejectNodeForward: the same with REJECT icmp-host-prohibited: unreachable at once.
func FirewallRejectNodeForward() lab.Fault {
	return nodeForwardFirewall("firewall-reject-node-forward", []string{"REJECT", "--reject-with", "icmp-host-prohibited"}, lab.OutcomeUnreachable,
		"a REJECT (icmp-host-prohibited) rule in node2's FORWARD chain: ping and TCP to the web pod are refused as unreachable")
}

func nodeForwardFirewall(name string, target []string, want lab.Outcome, desc string) lab.Fault {
	return lab.Fault{
		Name:        name,
		Description: desc,
		Kind:        diag.KindNetworkUnreachable,
		Hop:         diag.Hop{Node: "node2", Netns: nodeNetns("node2"), Interface: "cni0", Where: "node2 iptables filter FORWARD chain (" + target[0] + " to the web pod)"},
		Cause:       "a host firewall rule on node2, inserted at the top of the FORWARD chain, " + target[0] + "s every packet forwarded to the web pod's IP",
		Fix:         "delete the rule from node2's FORWARD chain (and from the host firewall configuration that re-adds it, e.g. firewalld or an iptables-persistent file)",
		Request:     lab.Request{From: client1, To: web2, Proto: "tcp"},
		Facts:       map[string]string{"node": "node2", "chain": "FORWARD", "target": target[0], "pod": "default/~web@node2"},
		Inject: func(ctx context.Context, l *lab.Lab) error {
			pod, err := podOn(l, "web", "node2")
			if err != nil {
				return err
			}
			return iptablesOn(ctx, l, []string{"node2"}, append([]string{"-I", "FORWARD", "1", "-d", pod.IP.String() + "/32", "-j"}, target...)...)
		},
		Flows: []lab.Flow{
			{Name: "TCP to the pod", From: client1, To: web2, Proto: "tcp", Want: want},
			{Name: "ping the pod", From: client1, To: web2, Proto: "icmp", Want: lab.OutcomeFail},
		},
	}
}
