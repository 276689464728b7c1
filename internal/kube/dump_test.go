package kube

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestLoadDump(t *testing.T) {
	c, err := LoadDump("testdata/small.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Nodes) != 1 || len(c.Pods) != 1 || len(c.Services) != 1 || len(c.EndpointSlices) != 1 || len(c.Events) != 1 {
		t.Fatalf("loaded %d nodes %d pods %d services %d slices %d events, want 1 each",
			len(c.Nodes), len(c.Pods), len(c.Services), len(c.EndpointSlices), len(c.Events))
	}
	n := c.Node("worker-a")
	if got := InternalIP(n); got != netip.MustParseAddr("192.168.7.21") {
		t.Errorf("InternalIP = %v", got)
	}
	if got := c.NodeForPodCIDR(netip.MustParseAddr("10.42.3.9")); got == nil || got.Name != "worker-a" {
		t.Errorf("NodeForPodCIDR(10.42.3.9) = %v", got)
	}
	kp := c.KubeProxyPods("worker-a")
	if len(kp) != 1 || kp[0].Status.Reason != "Evicted" {
		t.Errorf("kube-proxy pods on worker-a = %v, want the evicted one found by its image", kp)
	}
	svc := c.ServiceByIP(netip.MustParseAddr("10.43.0.20"))
	if svc == nil || svc.Name != "api" {
		t.Fatalf("ServiceByIP = %v", svc)
	}
	if sl := c.EndpointSlicesFor(svc); len(sl) != 1 || sl[0].Endpoints != nil {
		t.Errorf("EndpointSlicesFor(api) = %v, want one slice with null endpoints", sl)
	}
	if ev := c.EventsFor("Pod", "kube-system", "kp-xyz"); len(ev) != 1 {
		t.Errorf("EventsFor = %v", ev)
	}
}

func TestReadDumpMultiDocAndJSON(t *testing.T) {
	y := "apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: x}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: b, namespace: x}\n"
	c, err := ReadDump(strings.NewReader(y))
	if err != nil || len(c.Pods) != 2 {
		t.Fatalf("multi-doc: %v, %d pods", err, len(c.Pods))
	}
	j := `{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Service","metadata":{"name":"s","namespace":"x"},"spec":{"clusterIP":"10.0.0.1"}}]}`
	c, err = ReadDump(strings.NewReader(j))
	if err != nil || len(c.Services) != 1 {
		t.Fatalf("json list: %v, %d services", err, len(c.Services))
	}
}

func TestReadDumpRejectsNonDumps(t *testing.T) {
	for name, in := range map[string]string{
		"empty":   "",
		"text":    "hello world\n",
		"no kind": "foo: bar\n",
		"binary":  "\x00\x01\x02",
	} {
		if _, err := ReadDump(strings.NewReader(in)); !errors.Is(err, ErrNotADump) {
			t.Errorf("%s: err = %v, want ErrNotADump", name, err)
		}
	}
}

func FuzzReadDump(f *testing.F) {
	f.Add("apiVersion: v1\nkind: List\nitems: []\n")
	f.Add("kind: Pod\nmetadata: {name: a}\n")
	f.Fuzz(func(t *testing.T, s string) { _, _ = ReadDump(strings.NewReader(s)) })
}
