package fault

import (
	"fmt"

	"github.com/netdoctor/netdoctor/internal/lab"
)

// The default lab has three nodes; node3 is the new node. Ground truth in the catalogue is written
// for that lab; lab.Placeholder stands for the lab's name.
const (
	newNode  = "node3"
	vmNetns  = "netns//run/netns/" + lab.Placeholder + "-vm"
	client1  = "pod/default/client-node1"
	client2  = "pod/default/client-node2"
	client3  = "pod/default/client-node3"
	webSvc   = "svc/default/web:80"
	dnsName  = "web.default.svc.cluster.local"
	node1IP  = "192.168.56.11"
	node2IP  = "192.168.56.12"
	node3IP  = "192.168.56.13"
	dhcpIP   = "192.168.56.200"
	nodePort = "192.168.56.11:30080"
)

func nodeNetns(node string) string { return lab.Placeholder + "-" + node }

// webPod returns the i-th web pod (0 on node1, 1 on node2) of the plan.
func webPod(p *lab.Plan, i int) *lab.PodPlan { return p.PodsByApp("web")[i] }

// webPodTarget is "pod/default/<web pod i>:8080" for the default lab name's hashes; since pod
// names depend on the lab name, flows that target a pod use the lab at run time via podFlow.
func podTarget(l *lab.Lab, app string, i, port int) string {
	pods := l.Plan.PodsByApp(app)
	return fmt.Sprintf("%s:%d", lab.PodRef(pods[i]), port)
}
