package kube

import (
	"strings"
	"testing"
)

func TestDumpNamespacesAndPolicies(t *testing.T) {
	c, err := ReadDump(strings.NewReader(`apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Namespace
  metadata: {name: monitoring, labels: {team: ops, kubernetes.io/metadata.name: monitoring}}
- apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata: {name: default-deny, namespace: prod}
  spec: {podSelector: {}}
`))
	if err != nil {
		t.Fatal(err)
	}
	if ns := c.Namespace("monitoring"); ns == nil || ns.Labels["team"] != "ops" {
		t.Errorf("Namespace(monitoring) = %v, want its labels", ns)
	}
	if c.Namespace("prod") != nil {
		t.Errorf("Namespace(prod) found, but the dump has no such object")
	}
	if len(c.NetworkPolicies) != 1 || c.NetworkPolicies[0].Name != "default-deny" {
		t.Errorf("NetworkPolicies = %v", c.NetworkPolicies)
	}
}
