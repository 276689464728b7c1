package fault

import (
	"context"
	"fmt"

	"github.com/netdoctor/netdoctor/internal/diag"
	"github.com/netdoctor/netdoctor/internal/lab"
)

// FirewallDropPodPort: a firewall inside the web pod on node2 (a sidecar or image hardening script)
// silently drops TCP 8080: the pod answers ping, the port times out.
func FirewallDropPodPort() lab.Fault {
	return podPortFirewall("firewall-drop-pod-port", "DROP", lab.OutcomeTimeout,
		"a DROP rule in the web pod's INPUT chain silently discards TCP 8080: the pod answers ping, connections to the port time out")
}

// FirewallRejectPodPort: the same with REJECT --reject-with tcp-reset: the port is refused at once.
func FirewallRejectPodPort() lab.Fault {
	return podPortFirewall("firewall-reject-pod-port", "REJECT", lab.OutcomeRefused,
		"a REJECT rule (tcp-reset) in the web pod's INPUT chain refuses TCP 8080: the pod answers ping, connections are reset")
}

func podPortFirewall(name, target string, want lab.Outcome, desc string) lab.Fault {
	return lab.Fault{
		Name:        name,
		Description: desc,
		Kind:        diag.KindPortUnreachable,
		Hop:         diag.Hop{Node: "node2", Netns: podNetns("web", "node2"), Interface: "eth0", Where: "web pod on node2, iptables INPUT chain (" + target + " tcp dport 8080)"},
		Cause:       fmt.Sprintf("an iptables %s rule for tcp dport 8080 in the INPUT chain of the web pod's network namespace", target),
		Fix:         "remove the rule from the pod (check init containers, sidecars and the image's entrypoint for iptables calls), or use a NetworkPolicy that allows the port",
		Request:     lab.Request{From: client1, To: web2, Proto: "tcp"},
		Facts:       map[string]string{"pod": "default/~web@node2", "port": "8080", "chain": "INPUT", "target": target},
		Inject: func(ctx context.Context, l *lab.Lab) error {
			pod, err := podOn(l, "web", "node2")
			if err != nil {
				return err
			}
			args := []string{"-A", "INPUT", "-p", "tcp", "--dport", "8080", "-j", target}
			if target == "REJECT" {
				args = append(args, "--reject-with", "tcp-reset")
			}
			return l.IPTables(ctx, pod.Netns, args...)
		},
		Flows: []lab.Flow{
			{Name: "pod port", From: client1, To: web2, Proto: "tcp", Want: want},
			{Name: "pod answers ping", From: client1, To: web2, Proto: "icmp", Want: lab.OutcomeOK},
		},
	}
}
