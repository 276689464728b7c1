package fault

import (
	"context"

	"github.com/netdoctor/netdoctor/internal/diag"
	"github.com/netdoctor/netdoctor/internal/lab"
)

// MasqueradeMissing: flanneld's FLANNEL-POSTRTG chain on node1 is empty (started without --ip-masq,
// or its rules were flushed): pod traffic leaves the cluster with pod source IPs, which the outside
// network cannot route back.
func MasqueradeMissing() lab.Fault {
	return lab.Fault{
		Name:        "masquerade-missing",
		Description: "node1 does not masquerade pod traffic leaving the cluster: its pods cannot reach the outside VM, other nodes' pods can",
		Kind:        diag.KindCNIKubeProxy,
		Hop:         diag.Hop{Node: "node1", Netns: nodeNetns("node1"), Interface: "eth0", Where: "node1 iptables nat POSTROUTING (FLANNEL-POSTRTG has no MASQUERADE rule)"},
		Cause:       "node1 sends pod traffic to destinations outside 10.244.0.0/16 without SNAT to its node IP, so replies to 10.244.0.x are not routed back by the outside network",
		Fix:         "run flanneld with --ip-masq (restart the flannel pod on node1) or restore the MASQUERADE rule for 10.244.0.0/16 ! -d 224.0.0.0/4",
		Request:     lab.Request{From: client1, To: vmHTTP, Proto: "tcp"},
		Facts:       map[string]string{"node": "node1", "chain": "FLANNEL-POSTRTG", "cluster_cidr": "10.244.0.0/16", "destination": "198.51.100.10"},
		Inject: func(ctx context.Context, l *lab.Lab) error {
			return iptablesOn(ctx, l, []string{"node1"}, "-t", "nat", "-F", "FLANNEL-POSTRTG")
		},
		Flows: []lab.Flow{
			{Name: "pod on node1 to the outside VM", From: client1, To: vmHTTP, Proto: "tcp", Want: lab.OutcomeTimeout},
			{Name: "pod on node2 to the outside VM", From: client2, To: vmHTTP, Proto: "tcp", Want: lab.OutcomeOK},
		},
	}
}
