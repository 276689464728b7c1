package fault

import (
	"context"
	"os"

	"github.com/netdoctor/netdoctor/internal/diag"
	"github.com/netdoctor/netdoctor/internal/lab"
)

// BridgeNFOff: net.bridge.bridge-nf-call-iptables=0 on node1 (br_netfilter unloaded or the sysctl
// reset). A pod on node1 calling a Service whose only endpoint is on node1 sends through the
// gateway (DNAT happens), but the reply is bridged straight back on cni0 without passing conntrack,
// so it arrives from the pod IP instead of the ClusterIP and the client drops it.
func BridgeNFOff() lab.Fault {
	return lab.Fault{
		Name:        "bridge-nf-call-iptables-off",
		Description: "bridge-nf-call-iptables=0 on node1: a pod calling a Service served by a pod on the same node gets no (un-NATed) reply",
		Kind:        diag.KindCNIKubeProxy,
		Hop:         diag.Hop{Node: "node1", Netns: nodeNetns("node1"), Interface: "cni0", Where: "node1 cni0 bridge: net.bridge.bridge-nf-call-iptables = 0"},
		Cause: "with bridge-nf-call-iptables off, replies between pods on node1's cni0 bypass iptables/conntrack, so the reverse DNAT of " +
			"kube-proxy is skipped and the client sees replies from the pod IP instead of the ClusterIP",
		Fix:     "load br_netfilter and set net.bridge.bridge-nf-call-iptables=1 on node1 (persist it in /etc/sysctl.d and /etc/modules-load.d)",
		Request: lab.Request{From: client1, To: webSvc, Proto: "tcp"},
		Facts:   map[string]string{"node": "node1", "sysctl": "net.bridge.bridge-nf-call-iptables", "value": "0"},
		Mutate: func(p *lab.Plan) {
			// One web replica, on node1, so the only endpoint is on the caller's node.
			var keep []*lab.PodPlan
			for _, pod := range p.Pods {
				if pod.App == "web" && pod.Node != "node1" {
					continue
				}
				keep = append(keep, pod)
			}
			p.Pods = keep
		},
		Inject: func(ctx context.Context, l *lab.Lab) error {
			if _, err := os.Stat("/proc/sys/net/bridge"); err != nil {
				return errNoBrNetfilter
			}
			return l.Sysctl(l.Plan.Node("node1").Netns, "net.bridge.bridge-nf-call-iptables", "0")
		},
		Flows: []lab.Flow{
			{Name: "ClusterIP from the endpoint's node", From: client1, To: webSvc, Proto: "tcp", Want: lab.OutcomeFail},
			{Name: "ClusterIP from another node", From: client2, To: webSvc, Proto: "tcp", Want: lab.OutcomeOK},
		},
	}
}
