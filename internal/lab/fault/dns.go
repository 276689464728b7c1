package fault

import (
	"context"

	"github.com/netdoctor/netdoctor/internal/diag"
	"github.com/netdoctor/netdoctor/internal/lab"
)

// DNSServerDown: both CoreDNS pods crash-loop: the kube-dns EndpointSlice has no ready endpoint and
// kube-proxy rejects queries to 10.96.0.10, while other Services and pod IPs work.
func DNSServerDown() lab.Fault {
	return lab.Fault{
		Name:        "dns-server-down",
		Description: "CoreDNS pods are not running (CrashLoopBackOff): kube-dns has no ready endpoints, names do not resolve while IPs answer",
		Kind:        diag.KindDNSFailure,
		Hop:         diag.Hop{Where: "kube-system/kube-dns: no ready CoreDNS endpoint (pods in CrashLoopBackOff)"},
		Cause:       "both CoreDNS pods crash-loop, so the kube-dns Service has no ready endpoint and queries to 10.96.0.10 are rejected",
		Fix:         "read the CoreDNS logs (kubectl -n kube-system logs -l k8s-app=kube-dns --previous), fix the Corefile or the crash cause, and restart the pods",
		Request:     lab.Request{From: client1, To: dnsName, Proto: "dns"},
		Facts:       map[string]string{"service": "kube-system/kube-dns", "cluster_ip": "10.96.0.10", "ready_endpoints": "0", "reason": "CrashLoopBackOff"},
		Mutate: func(p *lab.Plan) {
			for _, pod := range p.PodsByApp("kube-dns") {
				pod.Stopped, pod.Ready, pod.Waiting = true, false, "CrashLoopBackOff"
				p.Events = append(p.Events, lab.Event{Namespace: pod.Namespace, Object: "Pod/" + pod.Name, Type: "Warning", Reason: "BackOff",
					Message: "Back-off restarting failed container coredns in pod " + pod.Name + "_kube-system"})
			}
		},
		Flows: []lab.Flow{
			{Name: "DNS via kube-dns", From: client1, To: dnsName, Proto: "dns", Want: lab.OutcomeFail},
			{Name: "Service by IP", From: client1, To: webSvc, Proto: "tcp", Want: lab.OutcomeOK},
		},
	}
}

// DNSUnreachable: a host firewall on the nodes that run CoreDNS drops everything to the CoreDNS pods
// (a NetworkPolicy-like rule gone wrong): queries time out, other traffic works.
func DNSUnreachable() lab.Fault {
	return lab.Fault{
		Name:        "dns-unreachable",
		Description: "the CoreDNS pods are unreachable (node firewall drops traffic to them): DNS times out while other services answer",
		Kind:        diag.KindDNSFailure,
		Hop:         diag.Hop{Node: "node1", Netns: nodeNetns("node1"), Where: "FORWARD chains of node1 and node2: DROP to the CoreDNS pod IPs"},
		Cause:       "node1 and node2 drop every packet forwarded to the CoreDNS pods, so DNS queries through 10.96.0.10 time out",
		Fix:         "remove the DROP rules for the CoreDNS pod IPs from node1's and node2's FORWARD chains (or fix the policy that wrote them)",
		Request:     lab.Request{From: client1, To: dnsName, Proto: "dns"},
		Facts:       map[string]string{"service": "kube-system/kube-dns", "cluster_ip": "10.96.0.10", "chain": "FORWARD"},
		Inject: func(ctx context.Context, l *lab.Lab) error {
			for _, pod := range l.Plan.PodsByApp("kube-dns") {
				if err := iptablesOn(ctx, l, []string{pod.Node}, "-I", "FORWARD", "1", "-d", pod.IP.String()+"/32", "-j", "DROP"); err != nil {
					return err
				}
			}
			return nil
		},
		Flows: []lab.Flow{
			{Name: "DNS via kube-dns", From: client1, To: dnsName, Proto: "dns", Want: lab.OutcomeTimeout},
			{Name: "DNS over TCP via kube-dns", From: client3, To: dnsName, Proto: "dns-tcp", Want: lab.OutcomeTimeout},
			{Name: "Service by IP", From: client1, To: webSvc, Proto: "tcp", Want: lab.OutcomeOK},
		},
	}
}

// DNSUDPBlocked: a firewall rule on every node drops UDP port 53 between pods; DNS over TCP still
// works, so `dig +tcp` succeeds while libc lookups time out.
func DNSUDPBlocked() lab.Fault {
	return lab.Fault{
		Name:        "dns-udp-blocked",
		Description: "UDP port 53 is dropped on every node (TCP 53 allowed): DNS over UDP times out, DNS over TCP works",
		Kind:        diag.KindDNSFailure,
		Hop:         diag.Hop{Where: "FORWARD chain of every node: DROP udp dport 53"},
		Cause:       "a firewall rule on the nodes drops forwarded UDP packets to port 53, so normal (UDP) DNS queries to CoreDNS never arrive; TCP queries do",
		Fix:         "allow UDP 53 to the CoreDNS pods in the node firewall (delete the DROP udp dport 53 rule from FORWARD)",
		Request:     lab.Request{From: client1, To: dnsName, Proto: "dns"},
		Facts:       map[string]string{"protocol": "udp", "port": "53", "chain": "FORWARD", "tcp_works": "true"},
		Inject: func(ctx context.Context, l *lab.Lab) error {
			return iptablesOn(ctx, l, allNodes(l), "-I", "FORWARD", "1", "-p", "udp", "--dport", "53", "-j", "DROP")
		},
		Flows: []lab.Flow{
			{Name: "DNS over UDP", From: client1, To: dnsName, Proto: "dns", Want: lab.OutcomeTimeout},
			{Name: "DNS over TCP", From: client1, To: dnsName, Proto: "dns-tcp", Want: lab.OutcomeOK},
		},
	}
}

// WrongSearchPath: the pods' resolv.conf (from a custom dnsConfig) has only "search cluster.local"
// and ndots:1, so the short name "web" is not tried as web.default.svc.cluster.local.
func WrongSearchPath() lab.Fault {
	return lab.Fault{
		Name:        "wrong-ndots-search",
		Description: "pod resolv.conf has 'search cluster.local' and ndots:1 (custom dnsConfig): short Service names do not resolve, FQDNs do",
		Kind:        diag.KindDNSFailure,
		Hop:         diag.Hop{Where: "pod /etc/resolv.conf: search cluster.local, options ndots:1 (missing default.svc.cluster.local svc.cluster.local)"},
		Cause:       "the pods' resolv.conf lacks the NAMESPACE.svc.cluster.local and svc.cluster.local search domains, so 'web' is looked up as web.cluster.local and web. (NXDOMAIN)",
		Fix:         "remove the custom dnsConfig/dnsPolicy from the pod spec (kubelet writes search default.svc.cluster.local svc.cluster.local cluster.local, ndots:5) or use the FQDN",
		Request:     lab.Request{From: client1, To: "web", Proto: "dns"},
		Facts:       map[string]string{"search": "cluster.local", "ndots": "1", "name": "web", "fqdn": dnsName},
		Mutate: func(p *lab.Plan) {
			p.Resolv = lab.ResolvOptions{Search: []string{"cluster.local"}, Ndots: 1}
		},
		Flows: []lab.Flow{
			{Name: "short name", From: client1, To: "web", Proto: "dns", Want: lab.OutcomeNXDomain},
			{Name: "FQDN", From: client1, To: dnsName, Proto: "dns", Want: lab.OutcomeOK},
		},
	}
}
