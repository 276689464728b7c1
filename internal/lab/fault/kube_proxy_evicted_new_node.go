package fault

import (
	"github.com/netdoctor/netdoctor/internal/diag"
	"github.com/netdoctor/netdoctor/internal/lab"
)

// KubeProxyEvictedNewNode is seed case 3: kube-proxy was evicted on the new node (memory pressure; its
// DaemonSet has no priorityClassName), so that node never got KUBE-SERVICES / KUBE-SVC / KUBE-SEP
// rules. DNS through the kube-dns ClusterIP fails from pods there, while pod IPs answer.
func KubeProxyEvictedNewNode() lab.Fault {
	return lab.Fault{
		Name:        "kube-proxy-evicted-new-node",
		Description: "kube-proxy evicted on the new node (no priorityClassName): no service NAT there, DNS via 10.96.0.10 fails while pod IPs answer",
		Kind:        diag.KindCNIKubeProxy,
		Hop:         diag.Hop{Node: newNode, Netns: nodeNetns(newNode), Where: "{new} iptables nat table (no KUBE-SERVICES rules: kube-proxy evicted)"},
		Cause: "the kube-proxy pod on {new} was evicted (phase Failed, reason Evicted) because the DaemonSet has no " +
			"priorityClassName, so {new} has no KUBE-SERVICES/KUBE-SVC/KUBE-SEP rules and ClusterIPs such as kube-dns 10.96.0.10 are not translated",
		Fix: "give the kube-proxy DaemonSet priorityClassName: system-node-critical and recreate its pod on {new} " +
			"(and add readiness probes so apps do not start before the node's data plane is ready)",
		Request: lab.Request{From: client3, To: dnsName, Proto: "dns"},
		Facts:   map[string]string{"node": newNode, "service": "kube-system/kube-dns", "cluster_ip": "10.96.0.10", "pod_phase": "Failed", "reason": "Evicted"},
		Mutate: func(p *lab.Plan) {
			for _, n := range p.Nodes {
				n.KubeProxy.PriorityClassName = ""
			}
			n := p.NewNode()
			n.KubeProxy = lab.KubeProxyState{Running: false, Phase: "Failed", Reason: "Evicted",
				Message: "The node was low on resource: memory. Threshold quantity: 100Mi, available: 92340Ki. Container kube-proxy was using 48212Ki, request is 0, has larger consumption of request."}
			p.Events = append(p.Events,
				lab.Event{Namespace: "default", Object: "Node/" + n.Name, Type: "Warning", Reason: "EvictionThresholdMet", Message: "Attempting to reclaim memory"},
				lab.Event{Namespace: "kube-system", Object: "Pod/" + p.KubeProxyPodName(n.Name), Type: "Warning", Reason: "Evicted", Message: n.KubeProxy.Message})
		},
		Flows: []lab.Flow{
			{Name: "DNS via the kube-dns ClusterIP from the new node", From: client3, To: dnsName, Proto: "dns", Want: lab.OutcomeTimeout},
			{Name: "DNS via the kube-dns ClusterIP from an old node", From: client1, To: dnsName, Proto: "dns", Want: lab.OutcomeOK},
			{Name: "DNS straight to a CoreDNS pod IP from the new node", From: client3, To: dnsName + "@10.244.0.2", Proto: "dns", Want: lab.OutcomeOK},
		},
	}
}
