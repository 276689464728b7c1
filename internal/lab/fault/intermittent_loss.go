package fault

import (
	"context"

	"github.com/netdoctor/netdoctor/internal/diag"
	"github.com/netdoctor/netdoctor/internal/lab"
)

// IntermittentLoss: node2 drops 30% of the packets forwarded to the web pod (a flapping link or an
// overloaded conntrack table shows the same way), emulated with iptables statistic.
func IntermittentLoss() lab.Fault {
	return lab.Fault{
		Name:        "intermittent-loss",
		Description: "30% of packets to the web pod on node2 are lost: some pings and connections fail, most work",
		Kind:        diag.KindNetworkUnreachable,
		Hop:         diag.Hop{Node: "node2", Netns: nodeNetns("node2"), Interface: "cni0", Where: "node2 FORWARD path to the web pod (30% random loss)"},
		Cause:       "node2 randomly drops about 30% of the packets forwarded to the web pod",
		Fix:         "find the lossy element on node2 (interface errors, conntrack table full, a statistic/limit rule) and fix it",
		Request:     lab.Request{From: client1, To: web2, Proto: "icmp"},
		Facts:       map[string]string{"node": "node2", "loss_percent": "30"},
		Inject: func(ctx context.Context, l *lab.Lab) error {
			pod, err := podOn(l, "web", "node2")
			if err != nil {
				return err
			}
			return iptablesOn(ctx, l, []string{"node2"}, "-I", "FORWARD", "1", "-d", pod.IP.String()+"/32",
				"-m", "statistic", "--mode", "random", "--probability", "0.3", "-j", "DROP")
		},
		Flows: []lab.Flow{
			{Name: "50 pings to the pod", From: client1, To: web2, Proto: "icmp-loss", Want: lab.OutcomePartialLoss},
		},
	}
}
