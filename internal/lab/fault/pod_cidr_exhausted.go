package fault

import (
	"fmt"

	"github.com/netdoctor/netdoctor/internal/diag"
	"github.com/netdoctor/netdoctor/internal/lab"
)

// PodCIDRExhausted: host-local IPAM on the new node has a file for every address of its /24 (leaked
// by sandboxes that were removed without a CNI DEL), so the next pod stays ContainerCreating.
func PodCIDRExhausted() lab.Fault {
	return lab.Fault{
		Name:        "pod-cidr-exhausted",
		Description: "host-local IPAM on the new node is full (leaked allocations): a new pod is stuck in ContainerCreating",
		Kind:        diag.KindCNIKubeProxy,
		Hop:         diag.Hop{Node: newNode, Netns: nodeNetns(newNode), Where: "{new} /var/lib/cni/networks/cbr0: all 253 addresses of {new-cidr} allocated"},
		Cause:       "every address of {new}'s pod CIDR {new-cidr} is reserved in host-local IPAM by containers that no longer exist, so the CNI cannot give the new pod an IP",
		Fix:         "remove the IPAM files of containers that no longer exist from /var/lib/cni/networks/cbr0 on {new} (compare with crictl pods), then let the kubelet retry",
		Request:     lab.Request{From: client3, To: webSvc, Proto: "tcp"},
		Facts:       map[string]string{"node": newNode, "pod_cidr": "{new-cidr}", "ipam_dir": "/var/lib/cni/networks/cbr0", "pod": "default/client-{new}"},
		Mutate: func(p *lab.Plan) {
			n := p.NewNode()
			n.IPAMFull = true
			pod := p.Client(n.Name)
			b := n.PodCIDR.Addr().As4()
			first, last := fmt.Sprintf("%d.%d.%d.1", b[0], b[1], b[2]), fmt.Sprintf("%d.%d.%d.254", b[0], b[1], b[2])
			p.Events = append(p.Events, lab.Event{Namespace: "default", Object: "Pod/" + pod.Name, Type: "Warning", Reason: "FailedCreatePodSandBox",
				Message: fmt.Sprintf(`Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox "%s": plugin type="flannel" failed (add): failed to delegate add: failed to allocate for range 0: no IP addresses available in range set: %s-%s`,
					pod.ContainerID, first, last)})
		},
		Flows: []lab.Flow{
			{Name: "new pod on the new node", From: client3, To: webSvc, Proto: "tcp", Want: lab.OutcomeNoSandbox},
			{Name: "pod on an old node", From: client1, To: webSvc, Proto: "tcp", Want: lab.OutcomeOK},
		},
	}
}
