package fault

import (
	"context"

	"github.com/netdoctor/netdoctor/internal/diag"
	"github.com/netdoctor/netdoctor/internal/lab"
)

// PodMTUMismatch: the pods' eth0 has MTU 1500 (a CNI config with "mtu": 1500) over flannel.1 with MTU
// 1450, and the nodes drop the ICMP fragmentation-needed they generate (a hardening rule). Both pods
// announce MSS 1460: small requests work, large transfers between nodes stall.
func PodMTUMismatch() lab.Fault {
	return lab.Fault{
		Name:        "pod-mtu-mismatch",
		Description: "pod MTU 1500 over a 1450 VXLAN with ICMP frag-needed dropped on the nodes: small requests work, large POSTs to other nodes stall",
		Kind:        diag.KindLargePacketLoss,
		Hop:         diag.Hop{Node: "node1", Netns: nodeNetns("node1"), Interface: "flannel.1", Where: "node1 flannel.1 (MTU 1450) behind pod eth0 MTU 1500; frag-needed dropped in OUTPUT"},
		Cause:       "the pods' MTU (1500) is larger than the VXLAN device's (1450) and the nodes drop ICMP fragmentation-needed, so full-size segments between nodes are black-holed",
		Fix:         "set the pod MTU to the VXLAN MTU (1450: remove the mtu override from the CNI config / FLANNEL_MTU) and let ICMP fragmentation-needed through",
		Request:     lab.Request{From: client1, To: web2, Proto: "tcp", Size: 200000},
		Facts:       map[string]string{"pod_mtu": "1500", "tunnel_mtu": "1450", "interface": "flannel.1"},
		Mutate: func(p *lab.Plan) {
			for _, pod := range p.Pods {
				pod.MTU = 1500
			}
		},
		Inject: func(ctx context.Context, l *lab.Lab) error {
			return iptablesOn(ctx, l, allNodes(l), "-A", "OUTPUT", "-p", "icmp", "--icmp-type", "fragmentation-needed", "-j", "DROP")
		},
		Flows: []lab.Flow{
			{Name: "small GET across nodes", From: client1, To: web2, Proto: "http", Want: lab.OutcomeOK},
			{Name: "large POST across nodes", From: client1, To: web2, Proto: "http", Size: 200000, Want: lab.OutcomeTimeout, Retrans: true},
		},
	}
}

// VXLANUnderlayMTU: the underlay switch port of node2 carries at most 1400-byte frames (a VLAN or
// overlay in the physical network), while flannel assumes 1500 and sets flannel.1 to 1450: full-size
// VXLAN packets to and from node2 are silently dropped by the switch.
func VXLANUnderlayMTU() lab.Fault {
	return lab.Fault{
		Name:        "vxlan-underlay-mtu",
		Description: "the underlay carries only 1400-byte frames to node2 while VXLAN packets are 1500: large pod-to-pod transfers to node2 stall",
		Kind:        diag.KindLargePacketLoss,
		Hop:         diag.Hop{Netns: lab.Placeholder + "-underlay", Interface: "node2", Where: "underlay switch port of node2 (MTU 1400 < VXLAN packets of 1500)"},
		Cause:       "the underlay path to node2 has MTU 1400, less than flannel.1's 1450 plus 50 bytes of VXLAN overhead, and the switch drops larger frames without any ICMP",
		Fix:         "lower flannel's MTU to the underlay's minus 50 (FLANNEL_MTU / the net-conf.json MTU: 1350), or raise the underlay MTU",
		Request:     lab.Request{From: client1, To: web2, Proto: "tcp", Size: 200000},
		Facts:       map[string]string{"underlay_mtu": "1400", "tunnel_mtu": "1450", "vxlan_overhead": "50"},
		Inject: func(ctx context.Context, l *lab.Lab) error {
			if err := l.SetMTU(l.Plan.Underlay, "node2", 1400); err != nil {
				return err
			}
			// A Linux bridge forwards GSO super-packets without checking the port MTU; a physical
			// switch would see and drop every frame larger than 1400. Emulate the wire.
			_, err := l.Exec(ctx, l.Plan.Underlay, underlayMTURules, "nft", "-f", "-")
			return err
		},
		Flows: []lab.Flow{
			{Name: "small GET across nodes", From: client1, To: web2, Proto: "http", Want: lab.OutcomeOK},
			{Name: "large POST across nodes", From: client1, To: web2, Proto: "http", Size: 200000, Want: lab.OutcomeTimeout, Retrans: true},
		},
	}
}

const underlayMTURules = `table bridge underlay_mtu {
	chain forward {
		type filter hook forward priority 0; policy accept;
		oifname "node2" meta length > 1400 counter drop
		iifname "node2" meta length > 1400 counter drop
	}
}
`
