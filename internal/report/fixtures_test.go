package report

import (
	"time"

	"github.com/netdoctor/netdoctor/internal/diag"
)

var started = time.Date(2026, 11, 25, 3, 12, 45, 0, time.UTC)

// healthyReport: everything answered.
func healthyReport() *diag.Report {
	return &diag.Report{
		SchemaVersion: diag.SchemaVersion,
		From:          "pod/default/client",
		To:            "web.default.svc.cluster.local:80",
		Verdict:       diag.Verdict{Kind: diag.KindHealthy, Summary: "client reaches web.default.svc.cluster.local:80 (10.96.0.20 → 10.244.1.7:8080)"},
		Findings: []diag.Finding{{
			Check: "service-nat", Kind: diag.KindHealthy, Severity: diag.SeverityInfo,
			Hop:      diag.Hop{Node: "node1", Interface: "cni0", Where: "node1 kube-proxy NAT"},
			Title:    "Service web has 2 ready endpoints and matching NAT rules",
			Evidence: []string{"KUBE-SVC-AB12CD34EF56GH78 → 2 KUBE-SEP chains", "EndpointSlice web-x7k2p: 10.244.1.7:8080, 10.244.2.9:8080 ready"},
		}},
		Probes: []diag.ProbeRecord{
			{Name: "dns", From: "pod/default/client", To: "web.default.svc.cluster.local", OK: true, Outcome: "ok", Summary: "A 10.96.0.20 after 1 query", RTTMs: 0.21, Duration: 0.9},
			{Name: "tcp", From: "pod/default/client", To: "10.96.0.20:80", OK: true, Outcome: "ok", Summary: "3/3 connected", RTTMs: 0.094, Duration: 2.4},
			{Name: "icmp", From: "pod/default/client", To: "10.244.1.7", OK: true, Outcome: "ok", Summary: "3/3 replies", RTTMs: 0.08, Duration: 2003},
		},
		Path: []diag.PathHop{
			{Hop: diag.Hop{Node: "node2", Netns: "pod/default/client", Interface: "eth0", Where: "client eth0"}, Address: "10.244.2.5", MTU: 1450, Status: "ok"},
			{Hop: diag.Hop{Node: "node2", Interface: "cni0", Where: "node2 cni0"}, MTU: 1450, Status: "ok", Note: "DNAT 10.96.0.20:80 → 10.244.1.7:8080"},
			{Hop: diag.Hop{Node: "node2", Interface: "flannel.1", Where: "node2 flannel.1 (VXLAN)"}, Address: "10.244.2.0", MTU: 1450, Status: "ok"},
			{Hop: diag.Hop{Node: "node1", Interface: "flannel.1", Where: "node1 flannel.1 (VXLAN)"}, Address: "10.244.1.0", MTU: 1450, Status: "ok"},
			{Hop: diag.Hop{Node: "node1", Netns: "pod/default/web-5d9f", Interface: "eth0", Where: "web-5d9f eth0"}, Address: "10.244.1.7", MTU: 1450, Status: "ok"},
		},
		Timings:    []diag.Timing{{Step: "classify", Ms: 2010}, {Step: "checks", Ms: 143.5}},
		DurationMs: 2161.2,
		Started:    started,
	}
}

// vxlanReport is seed case 1: a new node's VXLAN device sends from a second (DHCP) address.
func vxlanReport() *diag.Report {
	return &diag.Report{
		SchemaVersion: diag.SchemaVersion,
		From:          "pod/default/client-node3",
		To:            "10.96.0.10:53/udp",
		Verdict: diag.Verdict{Kind: diag.KindCNIKubeProxy,
			Summary: "pods on node3 cannot reach 10.96.0.10:53 served from other nodes: node3's VXLAN device sends from 192.168.56.77, not its InternalIP 192.168.56.13"},
		Findings: []diag.Finding{
			{
				Check: "node-addresses", Kind: diag.KindCNIKubeProxy, Severity: diag.SeverityWarning,
				Hop:   diag.Hop{Node: "node3", Interface: "eth0", Where: "node3 eth0"},
				Title: "node3 eth0 holds two IPv4 addresses, one from DHCP",
				Evidence: []string{"eth0: 192.168.56.13/24 (static, InternalIP)",
					"eth0: 192.168.56.77/24 dynamic valid_lft 86123sec (DHCP)"},
				Cause: "BOOTPROTO=dhcp left a second, dynamic address on the node NIC.",
				Fix:   "Set BOOTPROTO=none (or static) in the NIC config and remove 192.168.56.77.",
			},
			{
				Check: "vxlan-source", Kind: diag.KindCNIKubeProxy, Severity: diag.SeverityCritical,
				Hop:   diag.Hop{Node: "node3", Interface: "flannel.1", Where: "node3 flannel.1 (VXLAN encapsulation)"},
				Title: "node3's VTEP uses 192.168.56.77, not the Node InternalIP 192.168.56.13",
				Evidence: []string{"flannel.1: vxlan id 1 local 192.168.56.77 dev eth0 dstport 8472",
					"Node node3 status.addresses InternalIP 192.168.56.13",
					"node1 FDB: 5e:21:0a:33:9c:01 dst 192.168.56.13 (peers expect the InternalIP)",
					"capture node3 eth0: 12 packets udp 192.168.56.77:41237 > 192.168.56.11:8472, 0 replies"},
				Cause: "flannel picked the dynamic address as the VXLAN source when it started, so peers drop or misroute node3's encapsulated packets.",
				Fix:   "Remove the DHCP address (BOOTPROTO=none), then restart the container runtime, kubelet and the flannel pod on node3 so the VTEP uses 192.168.56.13.",
			},
			{
				Check: "kube-proxy-rules", Kind: diag.KindHealthy, Severity: diag.SeverityInfo,
				Hop:      diag.Hop{Node: "node3", Where: "node3 iptables nat"},
				Title:    "NAT rules for 10.96.0.10:53/udp are present on node3",
				Evidence: []string{"KUBE-SERVICES -d 10.96.0.10/32 -p udp --dport 53 -j KUBE-SVC-TCOU7JCQXEZGVUNU"},
			},
		},
		Probes: []diag.ProbeRecord{
			{Name: "dns", From: "pod/default/client-node3", To: "kubernetes.default", OK: false, Outcome: "timeout", Summary: "no answer from 10.96.0.10:53 in 2 attempts", Duration: 10012},
			{Name: "icmp", From: "pod/default/client-node3", To: "10.244.1.3", OK: false, Outcome: "timeout", Summary: "0/3 replies", Duration: 3004},
			{Name: "icmp", From: "node/node3", To: "192.168.56.11", OK: true, Outcome: "ok", Summary: "3/3 replies", RTTMs: 0.31, Duration: 2002},
		},
		Path: []diag.PathHop{
			{Hop: diag.Hop{Node: "node3", Netns: "pod/default/client-node3", Interface: "eth0", Where: "client-node3 eth0"}, Address: "10.244.3.5", MTU: 1450, Status: "ok"},
			{Hop: diag.Hop{Node: "node3", Interface: "cni0", Where: "node3 cni0"}, MTU: 1450, Status: "ok", Note: "DNAT 10.96.0.10:53 → 10.244.1.3:53 (KUBE-SEP-Q3UQZPKU3A7MJH3P)"},
			{Hop: diag.Hop{Node: "node3", Interface: "flannel.1", Where: "node3 flannel.1 (VXLAN encapsulation)"}, Address: "192.168.56.77", MTU: 1450, Status: "failing", Note: "VXLAN local 192.168.56.77 ≠ InternalIP 192.168.56.13"},
			{Hop: diag.Hop{Node: "node1", Interface: "flannel.1", Where: "node1 flannel.1"}, MTU: 1450, Status: "not-reached"},
			{Hop: diag.Hop{Node: "node1", Netns: "pod/kube-system/coredns-7c6d", Interface: "eth0", Where: "coredns-7c6d eth0"}, Address: "10.244.1.3", MTU: 1450, Status: "not-reached"},
		},
		Timings:    []diag.Timing{{Step: "classify", Ms: 10020}, {Step: "checks", Ms: 412}, {Step: "localise (capture)", Ms: 3105}},
		DurationMs: 13537,
		Started:    started,
	}
}

// notesReport: some checks could not run; a probe could not run; no path known; nil slices.
func notesReport() *diag.Report {
	return &diag.Report{
		From:    "netns/lab-pod1",
		To:      "10.96.0.30:8080",
		Verdict: diag.Verdict{Kind: diag.KindPortUnreachable, Summary: "10.96.0.30:8080 refuses connections: the service has no ready endpoints"},
		Findings: []diag.Finding{{
			Check: "service-endpoints", Kind: diag.KindPortUnreachable, Severity: diag.SeverityCritical,
			Hop:   diag.Hop{Where: "Service default/api"},
			Title: "Service default/api has no ready endpoints",
			Cause: "Both pods of Deployment api fail their readiness probe.",
			Fix:   "Fix the readiness of pods api-6b7c-x2, api-6b7c-q9 (kubectl describe pod) or the probe itself.",
		}},
		Probes: []diag.ProbeRecord{
			{Name: "tcp", From: "netns/lab-pod1", To: "10.96.0.30:8080", OK: false, Outcome: "refused", Summary: "3/3 refused (RST)", Duration: 1.2},
			{Name: "pmtu", From: "netns/lab-pod1", To: "10.96.0.30", OK: false, Outcome: "error", Duration: 0.1, Error: "needs CAP_NET_RAW: run as root or via the agent"},
		},
		Notes: []string{
			"kube-proxy-health: no cluster view (no kubeconfig and no --dump): kube-proxy pods were not checked",
			"capture: skipped on node2: the node agent is not reachable (dial tcp 10.0.0.12:9464: connection refused)",
		},
		DurationMs: 1210,
		Started:    started,
	}
}
