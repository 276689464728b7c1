package netpol

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

func pod(ns, name, ip string, labels map[string]string, ports ...corev1.ContainerPort) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Ports: ports}}},
		Status:     corev1.PodStatus{PodIP: ip},
	}
}

func ep(p *corev1.Pod) Endpoint { return Endpoint{Pod: p, IP: netip.MustParseAddr(p.Status.PodIP)} }

// policies parses a YAML stream of NetworkPolicies (documents separated by "---").
func policies(t *testing.T, docs string) []networkingv1.NetworkPolicy {
	t.Helper()
	var out []networkingv1.NetworkPolicy
	for _, d := range strings.Split(docs, "\n---\n") {
		if strings.TrimSpace(d) == "" {
			continue
		}
		var p networkingv1.NetworkPolicy
		if err := yaml.UnmarshalStrict([]byte(d), &p); err != nil {
			t.Fatalf("policy %q: %v", d, err)
		}
		out = append(out, p)
	}
	return out
}

var (
	web    = pod("prod", "web-1", "10.244.1.5", map[string]string{"app": "web"}, corev1.ContainerPort{Name: "http", ContainerPort: 8080})
	client = pod("prod", "client", "10.244.2.7", map[string]string{"app": "client"})
	mon    = pod("monitoring", "prom", "10.244.3.9", map[string]string{"app": "prom"})
	other  = pod("dev", "tool", "10.244.4.2", map[string]string{"app": "client"})
	nsObjs = map[string]*corev1.Namespace{
		"monitoring": {ObjectMeta: metav1.ObjectMeta{Name: "monitoring", Labels: map[string]string{"team": "ops"}}},
		"dev":        {ObjectMeta: metav1.ObjectMeta{Name: "dev", Labels: map[string]string{"team": "dev"}}},
	}
)

func namespaces(name string) *corev1.Namespace { return nsObjs[name] }

func TestEvaluate(t *testing.T) {
	outside := Endpoint{IP: netip.MustParseAddr("192.168.7.20")}
	cases := []struct {
		name     string
		policies string
		flow     Flow
		want     Verdict
	}{
		{name: "no policies: everything allowed",
			flow: Flow{Src: ep(client), Dst: ep(web), Port: 8080},
			want: Verdict{Allowed: true, Egress: Side{Pod: "prod/client", Allowed: true}, Ingress: Side{Pod: "prod/web-1", Allowed: true}}},
		{name: "default deny ingress",
			policies: `
metadata: {namespace: prod, name: default-deny}
spec: {podSelector: {}}`,
			flow: Flow{Src: ep(client), Dst: ep(web), Port: 8080},
			want: Verdict{Allowed: false, Egress: Side{Pod: "prod/client", Allowed: true},
				Ingress: Side{Pod: "prod/web-1", Selecting: []string{"prod/default-deny"}}}},
		{name: "default deny in another namespace does not apply",
			policies: `
metadata: {namespace: dev, name: default-deny}
spec: {podSelector: {}}`,
			flow: Flow{Src: ep(client), Dst: ep(web), Port: 8080},
			want: Verdict{Allowed: true, Egress: Side{Pod: "prod/client", Allowed: true}, Ingress: Side{Pod: "prod/web-1", Allowed: true}}},
		{name: "default deny egress (policyTypes) blocks the source",
			policies: `
metadata: {namespace: prod, name: deny-egress}
spec: {podSelector: {}, policyTypes: [Egress]}`,
			flow: Flow{Src: ep(client), Dst: ep(web), Port: 8080},
			want: Verdict{Allowed: false, Egress: Side{Pod: "prod/client", Selecting: []string{"prod/deny-egress"}},
				Ingress: Side{Pod: "prod/web-1", Allowed: true}}},
		{name: "egress rules without policyTypes imply Egress",
			policies: `
metadata: {namespace: prod, name: dns-only}
spec:
  podSelector: {matchLabels: {app: client}}
  egress: [{ports: [{port: 53, protocol: UDP}]}]`,
			flow: Flow{Src: ep(client), Dst: ep(web), Port: 8080},
			want: Verdict{Allowed: false, Egress: Side{Pod: "prod/client", Selecting: []string{"prod/dns-only"}},
				Ingress: Side{Pod: "prod/web-1", Allowed: true}}}, // dns-only selects the client only
		{name: "allow by namespaceSelector",
			policies: `
metadata: {namespace: prod, name: allow-ops}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{namespaceSelector: {matchLabels: {team: ops}}}]}]`,
			flow: Flow{Src: ep(mon), Dst: ep(web), Port: 8080},
			want: Verdict{Allowed: true, Egress: Side{Pod: "monitoring/prom", Allowed: true},
				Ingress: Side{Pod: "prod/web-1", Selecting: []string{"prod/allow-ops"}, AllowedBy: []string{"prod/allow-ops"}, Allowed: true}}},
		{name: "namespaceSelector does not match another namespace",
			policies: `
metadata: {namespace: prod, name: allow-ops}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{namespaceSelector: {matchLabels: {team: ops}}}]}]`,
			flow: Flow{Src: ep(other), Dst: ep(web), Port: 8080},
			want: Verdict{Allowed: false, Egress: Side{Pod: "dev/tool", Allowed: true},
				Ingress: Side{Pod: "prod/web-1", Selecting: []string{"prod/allow-ops"}}}},
		{name: "namespace by its metadata.name label without a Namespace object",
			policies: `
metadata: {namespace: prod, name: allow-dev}
spec:
  podSelector: {}
  ingress: [{from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: dev}}}]}]`,
			flow: Flow{Src: ep(other), Dst: ep(web), Port: 8080},
			want: Verdict{Allowed: true, Egress: Side{Pod: "dev/tool", Allowed: true},
				Ingress: Side{Pod: "prod/web-1", Selecting: []string{"prod/allow-dev"}, AllowedBy: []string{"prod/allow-dev"}, Allowed: true}}},
		{name: "podSelector alone is the policy's namespace only",
			policies: `
metadata: {namespace: prod, name: allow-clients}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{podSelector: {matchLabels: {app: client}}}]}]`,
			flow: Flow{Src: ep(other), Dst: ep(web), Port: 8080}, // app=client, but in dev
			want: Verdict{Allowed: false, Egress: Side{Pod: "dev/tool", Allowed: true},
				Ingress: Side{Pod: "prod/web-1", Selecting: []string{"prod/allow-clients"}}}},
		{name: "namespaceSelector and podSelector in one peer: both must match",
			policies: `
metadata: {namespace: prod, name: and}
spec:
  podSelector: {}
  ingress: [{from: [{namespaceSelector: {matchLabels: {team: ops}}, podSelector: {matchLabels: {app: client}}}]}]`,
			flow: Flow{Src: ep(mon), Dst: ep(web), Port: 8080}, // ops namespace, but app=prom
			want: Verdict{Allowed: false, Egress: Side{Pod: "monitoring/prom", Allowed: true},
				Ingress: Side{Pod: "prod/web-1", Selecting: []string{"prod/and"}}}},
		{name: "namespaceSelector and podSelector as two peers: either matches",
			policies: `
metadata: {namespace: prod, name: or}
spec:
  podSelector: {}
  ingress: [{from: [{namespaceSelector: {matchLabels: {team: ops}}}, {podSelector: {matchLabels: {app: client}}}]}]`,
			flow: Flow{Src: ep(mon), Dst: ep(web), Port: 8080},
			want: Verdict{Allowed: true, Egress: Side{Pod: "monitoring/prom", Allowed: true},
				Ingress: Side{Pod: "prod/web-1", Selecting: []string{"prod/or"}, AllowedBy: []string{"prod/or"}, Allowed: true}}},
		{name: "ipBlock allows an outside address",
			policies: `
metadata: {namespace: prod, name: lb}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{ipBlock: {cidr: 192.168.0.0/16, except: [192.168.9.0/24]}}]}]`,
			flow: Flow{Src: outside, Dst: ep(web), Port: 8080},
			want: Verdict{Allowed: true, Egress: Side{Allowed: true},
				Ingress: Side{Pod: "prod/web-1", Selecting: []string{"prod/lb"}, AllowedBy: []string{"prod/lb"}, Allowed: true}}},
		{name: "ipBlock except denies",
			policies: `
metadata: {namespace: prod, name: lb}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{ipBlock: {cidr: 192.168.0.0/16, except: [192.168.7.0/24]}}]}]`,
			flow: Flow{Src: outside, Dst: ep(web), Port: 8080},
			want: Verdict{Allowed: false, Egress: Side{Allowed: true},
				Ingress: Side{Pod: "prod/web-1", Selecting: []string{"prod/lb"}}}},
		{name: "named port resolves on the target pod",
			policies: `
metadata: {namespace: prod, name: http}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{ports: [{port: http}]}]`,
			flow: Flow{Src: ep(client), Dst: ep(web), Port: 8080},
			want: Verdict{Allowed: true, Egress: Side{Pod: "prod/client", Allowed: true},
				Ingress: Side{Pod: "prod/web-1", Selecting: []string{"prod/http"}, AllowedBy: []string{"prod/http"}, Allowed: true}}},
		{name: "named port does not cover another port",
			policies: `
metadata: {namespace: prod, name: http}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{ports: [{port: http}]}]`,
			flow: Flow{Src: ep(client), Dst: ep(web), Port: 9090},
			want: Verdict{Allowed: false, Egress: Side{Pod: "prod/client", Allowed: true},
				Ingress: Side{Pod: "prod/web-1", Selecting: []string{"prod/http"}}}},
		{name: "endPort range includes the port",
			policies: `
metadata: {namespace: prod, name: range}
spec:
  podSelector: {}
  ingress: [{ports: [{port: 8000, endPort: 8100}]}]`,
			flow: Flow{Src: ep(client), Dst: ep(web), Port: 8080},
			want: Verdict{Allowed: true, Egress: Side{Pod: "prod/client", Allowed: true},
				Ingress: Side{Pod: "prod/web-1", Selecting: []string{"prod/range"}, AllowedBy: []string{"prod/range"}, Allowed: true}}},
		{name: "endPort range excludes the port",
			policies: `
metadata: {namespace: prod, name: range}
spec:
  podSelector: {}
  ingress: [{ports: [{port: 8000, endPort: 8079}]}]`,
			flow: Flow{Src: ep(client), Dst: ep(web), Port: 8080},
			want: Verdict{Allowed: false, Egress: Side{Pod: "prod/client", Allowed: true},
				Ingress: Side{Pod: "prod/web-1", Selecting: []string{"prod/range"}}}},
		{name: "protocol must match (TCP rule, UDP flow)",
			policies: `
metadata: {namespace: prod, name: tcp}
spec:
  podSelector: {}
  ingress: [{ports: [{port: 53}]}]`,
			flow: Flow{Src: ep(client), Dst: ep(web), Protocol: corev1.ProtocolUDP, Port: 53},
			want: Verdict{Allowed: false, Egress: Side{Pod: "prod/client", Allowed: true},
				Ingress: Side{Pod: "prod/web-1", Selecting: []string{"prod/tcp"}}}},
		{name: "policies are a union: one allowing is enough",
			policies: `
metadata: {namespace: prod, name: default-deny}
spec: {podSelector: {}}
---
metadata: {namespace: prod, name: allow-clients}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{podSelector: {matchLabels: {app: client}}}], ports: [{port: 8080}]}]`,
			flow: Flow{Src: ep(client), Dst: ep(web), Port: 8080},
			want: Verdict{Allowed: true, Egress: Side{Pod: "prod/client", Allowed: true},
				Ingress: Side{Pod: "prod/web-1", Selecting: []string{"prod/allow-clients", "prod/default-deny"}, AllowedBy: []string{"prod/allow-clients"}, Allowed: true}}},
		{name: "both directions: egress allowed to the pod, ingress denied",
			policies: `
metadata: {namespace: prod, name: client-out}
spec:
  podSelector: {matchLabels: {app: client}}
  policyTypes: [Egress]
  egress: [{to: [{podSelector: {matchLabels: {app: web}}}]}]
---
metadata: {namespace: prod, name: web-in}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{namespaceSelector: {matchLabels: {team: ops}}}]}]`,
			flow: Flow{Src: ep(client), Dst: ep(web), Port: 8080},
			want: Verdict{Allowed: false,
				Egress:  Side{Pod: "prod/client", Selecting: []string{"prod/client-out"}, AllowedBy: []string{"prod/client-out"}, Allowed: true},
				Ingress: Side{Pod: "prod/web-1", Selecting: []string{"prod/web-in"}}}},
		{name: "empty ingress rule allows everything",
			policies: `
metadata: {namespace: prod, name: allow-all}
spec:
  podSelector: {}
  ingress: [{}]`,
			flow: Flow{Src: outside, Dst: ep(web), Port: 1},
			want: Verdict{Allowed: true, Egress: Side{Allowed: true},
				Ingress: Side{Pod: "prod/web-1", Selecting: []string{"prod/allow-all"}, AllowedBy: []string{"prod/allow-all"}, Allowed: true}}},
		{name: "ICMP passes only rules without ports",
			policies: `
metadata: {namespace: prod, name: ports}
spec:
  podSelector: {}
  ingress: [{ports: [{port: 8080}]}]`,
			flow: Flow{Src: ep(client), Dst: ep(web)},
			want: Verdict{Allowed: false, Egress: Side{Pod: "prod/client", Allowed: true},
				Ingress: Side{Pod: "prod/web-1", Selecting: []string{"prod/ports"}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Evaluate(policies(t, tc.policies), namespaces, tc.flow)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Evaluate:\n got  %+v\n want %+v", got, tc.want)
			}
		})
	}
}
