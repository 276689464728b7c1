package fault

import (
	"context"
	"encoding/json"
	"net/netip"

	"github.com/netdoctor/netdoctor/internal/diag"
	"github.com/netdoctor/netdoctor/internal/lab"
)

const staleIP = "10.244.1.99"

// StaleEndpoint: web runs one replica (on node2). It was recreated with a new IP, but the nodes'
// kube-proxy rules still DNAT to the old pod IP, which no longer exists.
func StaleEndpoint() lab.Fault {
	return lab.Fault{
		Name:        "stale-endpoint",
		Description: "kube-proxy rules DNAT the web ClusterIP to an old pod IP (10.244.1.99) that no longer exists; the EndpointSlice is current",
		Kind:        diag.KindCNIKubeProxy,
		Hop:         diag.Hop{Node: "node1", Netns: nodeNetns("node1"), Where: "node1 iptables nat KUBE-SEP chain of default/web:http (DNAT to 10.244.1.99:8080)"},
		Cause:       "kube-proxy did not sync after the web pod was recreated: its KUBE-SEP rule still DNATs to 10.244.1.99, while the pod now has another IP",
		Fix:         "restart kube-proxy on the nodes (and find why it stopped syncing: its logs, API server connectivity)",
		Request:     lab.Request{From: client1, To: webSvc, Proto: "tcp"},
		Facts:       map[string]string{"stale_ip": staleIP, "service": "default/web", "endpoint_ip": "10.244.1.3"},
		Mutate: func(p *lab.Plan) {
			// One replica, on node2.
			var keep []*lab.PodPlan
			for _, pod := range p.Pods {
				if pod.App == "web" && pod.Node != "node2" {
					continue
				}
				keep = append(keep, pod)
			}
			p.Pods = keep
		},
		Inject: func(ctx context.Context, l *lab.Lab) error {
			b, err := json.Marshal(l.Plan)
			if err != nil {
				return err
			}
			var old lab.Plan
			if err := json.Unmarshal(b, &old); err != nil {
				return err
			}
			old.PodOn("web", "node2").IP = netip.MustParseAddr(staleIP)
			for _, n := range old.Nodes {
				if err := l.RestoreIPTables(ctx, n.Netns, old.NodeIPTables(n)); err != nil {
					return err
				}
			}
			return nil
		},
		Flows: []lab.Flow{
			{Name: "ClusterIP", From: client1, To: webSvc, Proto: "tcp", Want: lab.OutcomeFail},
			{Name: "current pod IP", From: client1, To: web2, Proto: "tcp", Want: lab.OutcomeOK},
		},
	}
}
