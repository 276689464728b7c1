package fault

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/netdoctor/netdoctor/internal/diag"
	"github.com/netdoctor/netdoctor/internal/lab"
)

// NetworkPolicyDeny: a NetworkPolicy isolates the web pods for ingress and allows only pods labelled
// role=frontend on TCP 8080; the clients carry no such label. The CNI's policy agent enforces it the
// way kube-router does, in the filter table of the web pods' nodes (KUBE-ROUTER-FORWARD → a
// KUBE-POD-FW-<hash> chain per pod ending in REJECT), so the clients' connections are rejected.
func NetworkPolicyDeny() lab.Fault {
	return lab.Fault{
		Name:        "network-policy-deny",
		Description: "a NetworkPolicy allows the web pods' ingress only from role=frontend pods: the clients are rejected by the policy agent's rules",
		Kind:        diag.KindNetworkUnreachable,
		Hop:         diag.Hop{Node: "node2", Netns: nodeNetns("node2"), Where: "node2 KUBE-POD-FW chain of the web pod (NetworkPolicy default/web-allow-frontend)"},
		Cause: "NetworkPolicy default/web-allow-frontend selects app=web and allows ingress only from pods labelled role=frontend; " +
			"client-node1 has no such label, so the policy agent's rules on node2 reject its packets",
		Fix:     "label the client (role=frontend) or add an ingress rule for it to default/web-allow-frontend",
		Request: lab.Request{From: client1, To: web2, Proto: "tcp"},
		Facts:   map[string]string{"node": "node2", "policy": "default/web-allow-frontend", "pod": "default/~web@node2"},
		Mutate: func(p *lab.Plan) {
			tcp := corev1Protocol("TCP")
			port := intstr.FromInt32(8080)
			p.NetworkPolicies = append(p.NetworkPolicies, networkingv1.NetworkPolicy{
				ObjectMeta: metav1.ObjectMeta{Name: "web-allow-frontend", Namespace: "default"},
				Spec: networkingv1.NetworkPolicySpec{
					PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
					PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
					Ingress: []networkingv1.NetworkPolicyIngressRule{{
						From:  []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"role": "frontend"}}}},
						Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &port}},
					}},
				},
			})
		},
		Inject: func(ctx context.Context, l *lab.Lab) error {
			for _, pod := range l.Plan.Pods {
				if pod.App != "web" || !pod.IP.IsValid() {
					continue
				}
				chain := "KUBE-POD-FW-" + policyHash(pod.Namespace+pod.Name)
				nodes := []string{pod.Node}
				for _, args := range [][]string{
					{"-N", "KUBE-ROUTER-FORWARD"},
					{"-N", chain},
					{"-A", "KUBE-ROUTER-FORWARD", "-d", pod.IP.String() + "/32", "-m", "comment", "--comment",
						fmt.Sprintf("rule to jump traffic destined to POD name:%s namespace: %s to POD FW chain", pod.Name, pod.Namespace), "-j", chain},
					{"-A", chain, "-m", "comment", "--comment", "rule for stateful firewall for pod", "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"},
					{"-A", chain, "-m", "comment", "--comment",
						fmt.Sprintf("rule to REJECT traffic destined for POD name:%s namespace: %s", pod.Name, pod.Namespace), "-j", "REJECT", "--reject-with", "icmp-port-unreachable"},
				} {
					if err := iptablesOn(ctx, l, nodes, args...); err != nil && args[0] != "-N" {
						return err
					}
				}
				if err := iptablesOn(ctx, l, nodes, "-C", "FORWARD", "-m", "comment", "--comment", "kube-router netpol", "-j", "KUBE-ROUTER-FORWARD"); err != nil {
					if err := iptablesOn(ctx, l, nodes, "-I", "FORWARD", "1", "-m", "comment", "--comment", "kube-router netpol", "-j", "KUBE-ROUTER-FORWARD"); err != nil {
						return err
					}
				}
			}
			return nil
		},
		Flows: []lab.Flow{
			{Name: "client to the web pod", From: client1, To: web2, Proto: "tcp", Want: lab.OutcomeRefused},
			{Name: "client pings the web pod", From: client1, To: web2, Proto: "icmp", Want: lab.OutcomeFail},
			{Name: "client to another client", From: client1, To: "pod/default/client-node2:8080", Proto: "tcp", Want: lab.OutcomeOK},
		},
	}
}

// policyHash names a per-pod chain the way kube-router does: base32 of a SHA-256, 16 characters.
func policyHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base32.StdEncoding.EncodeToString(sum[:])[:16]
}

func corev1Protocol(p string) corev1.Protocol { return corev1.Protocol(p) }
