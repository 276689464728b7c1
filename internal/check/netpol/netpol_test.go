package netpol

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/netdoctor/netdoctor/internal/check"
	"github.com/netdoctor/netdoctor/internal/diag"
	"github.com/netdoctor/netdoctor/internal/kube"
)

func mustPolicies(t *testing.T, docs ...string) []networkingv1.NetworkPolicy {
	t.Helper()
	var out []networkingv1.NetworkPolicy
	for _, d := range docs {
		var p networkingv1.NetworkPolicy
		if err := yaml.UnmarshalStrict([]byte(d), &p); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

func cluster(pols []networkingv1.NetworkPolicy) *kube.Cluster {
	pod := func(ns, name, ip, app string) corev1.Pod {
		return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": app}},
			Spec:   corev1.PodSpec{NodeName: "node1", Containers: []corev1.Container{{Name: "c", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}},
			Status: corev1.PodStatus{PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}}}
	}
	port := int32(8080)
	tcp := corev1.ProtocolTCP
	return &kube.Cluster{
		Pods: []corev1.Pod{pod("prod", "client", "10.244.1.2", "client"), pod("prod", "web-1", "10.244.1.5", "web")},
		Services: []corev1.Service{{ObjectMeta: metav1.ObjectMeta{Namespace: "prod", Name: "web"},
			Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.50", Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: tcp}}}}},
		EndpointSlices: []discoveryv1.EndpointSlice{{
			ObjectMeta:  metav1.ObjectMeta{Namespace: "prod", Name: "web-abc", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.244.1.5"},
				TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: "prod", Name: "web-1"}}},
			Ports: []discoveryv1.EndpointPort{{Name: ptr("http"), Port: &port, Protocol: &tcp}},
		}},
		NetworkPolicies: pols,
		Namespaces:      []corev1.Namespace{{ObjectMeta: metav1.ObjectMeta{Name: "prod", Labels: map[string]string{"env": "prod"}}}},
	}
}

func ptr[T any](v T) *T { return &v }

func envFor(c *kube.Cluster, symptom diag.Kind, service bool) *check.Env {
	src := &check.Endpoint{Kind: check.KindPod, Pod: &c.Pods[0], IP: netip.MustParseAddr("10.244.1.2")}
	tgt := &check.Endpoint{Kind: check.KindPod, Pod: &c.Pods[1], IP: netip.MustParseAddr("10.244.1.5"), Port: 8080}
	if service {
		s := &c.Services[0]
		tgt = &check.Endpoint{Kind: check.KindService, Service: s, ServicePort: &s.Spec.Ports[0], IP: netip.MustParseAddr("10.96.0.50"), Port: 80}
	}
	return &check.Env{Cluster: c, Source: src, Target: tgt, Proto: "tcp", Symptom: symptom, Obs: &check.Observations{}}
}

const defaultDeny = `
metadata: {namespace: prod, name: default-deny}
spec: {podSelector: {}}`

const allowHTTP = `
metadata: {namespace: prod, name: allow-http}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{podSelector: {matchLabels: {app: client}}}], ports: [{port: http}]}]`

func TestCheck(t *testing.T) {
	cases := []struct {
		name     string
		pols     []string
		symptom  diag.Kind
		service  bool
		want     []diag.Severity
		title    string // of the first finding
		evidence string // in the first finding's evidence
	}{
		{name: "no policies", symptom: diag.KindPortUnreachable},
		{name: "default deny, failing", pols: []string{defaultDeny}, symptom: diag.KindNetworkUnreachable,
			want:     []diag.Severity{diag.SeverityCritical},
			title:    "NetworkPolicies deny pod prod/client → pod prod/web-1 8080/TCP (ingress of prod/web-1)",
			evidence: "ingress of prod/web-1: selected by prod/default-deny; none of them allows this flow"},
		{name: "default deny, through the service's endpoint port", pols: []string{defaultDeny}, symptom: diag.KindNetworkUnreachable, service: true,
			want:     []diag.Severity{diag.SeverityCritical},
			title:    "NetworkPolicies deny pod prod/client → pod prod/web-1 8080/TCP (ingress of prod/web-1)",
			evidence: "destination is endpoint of service prod/web (the target)"},
		{name: "default deny but traffic passes", pols: []string{defaultDeny}, symptom: diag.KindHealthy,
			want:  []diag.Severity{diag.SeverityWarning},
			title: "NetworkPolicies deny pod prod/client → pod prod/web-1 8080/TCP, yet it passes: the CNI does not enforce them (ingress of prod/web-1)"},
		{name: "allowed by a named port", pols: []string{defaultDeny, allowHTTP}, symptom: diag.KindHealthy,
			want:     []diag.Severity{diag.SeverityInfo},
			title:    "NetworkPolicies allow pod prod/client → pod prod/web-1 8080/TCP",
			evidence: "ingress of prod/web-1: selected by prod/allow-http, prod/default-deny; allowed by prod/allow-http"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := cluster(mustPolicies(t, tc.pols...))
			fs, err := New().Run(context.Background(), envFor(c, tc.symptom, tc.service))
			if err != nil {
				t.Fatal(err)
			}
			if len(fs) != len(tc.want) {
				t.Fatalf("got %d findings, want %d: %+v", len(fs), len(tc.want), fs)
			}
			for i, f := range fs {
				if f.Severity != tc.want[i] || f.Check != Name {
					t.Errorf("finding %d: severity %s check %s, want %s", i, f.Severity, f.Check, tc.want[i])
				}
			}
			if len(fs) == 0 {
				return
			}
			if fs[0].Title != tc.title {
				t.Errorf("title:\n got  %q\n want %q", fs[0].Title, tc.title)
			}
			if tc.evidence != "" && !strings.Contains(strings.Join(fs[0].Evidence, "\n"), tc.evidence) {
				t.Errorf("evidence %q lacks %q", fs[0].Evidence, tc.evidence)
			}
			if fs[0].Hop.Node != "node1" || fs[0].Cause == "" || fs[0].Fix == "" {
				t.Errorf("finding lacks hop, cause or fix: %+v", fs[0])
			}
		})
	}
}
