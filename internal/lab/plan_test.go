package lab

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

func TestNewPlanDefaults(t *testing.T) {
	p, err := NewPlan(Options{Name: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Nodes) != 3 || !p.Nodes[2].New || p.NewNode().Name != "node3" {
		t.Fatalf("want 3 nodes with node3 new, got %+v", p.Nodes)
	}
	for i, n := range p.Nodes {
		wantIP := netip.AddrFrom4([4]byte{192, 168, 56, byte(11 + i)})
		wantCIDR := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 244, byte(i), 0}), 24)
		if n.IP != wantIP || n.VTEP != wantIP || n.PodCIDR != wantCIDR || n.Netns != "t-"+n.Name {
			t.Errorf("node %s: ip %s vtep %s cidr %s netns %s; want %s, %s, t-%s", n.Name, n.IP, n.VTEP, n.PodCIDR, n.Netns, wantIP, wantCIDR, n.Name)
		}
	}
	seen := map[netip.Addr]string{}
	for _, pod := range p.Pods {
		n := p.Node(pod.Node)
		if pod.HostNetwork {
			if pod.IP != n.IP || pod.Netns != n.Netns || pod.Sandboxed() {
				t.Errorf("hostNetwork pod %s: ip %s netns %s, want its node's %s %s", pod.Name, pod.IP, pod.Netns, n.IP, n.Netns)
			}
			continue
		}
		if !n.PodCIDR.Contains(pod.IP) || pod.IP == n.PodCIDR.Addr() || pod.IP == nthAddr(n.PodCIDR, 1) {
			t.Errorf("pod %s: IP %s not a host address of %s's %s", pod.Name, pod.IP, n.Name, n.PodCIDR)
		}
		if other, dup := seen[pod.IP]; dup {
			t.Errorf("pods %s and %s share %s", other, pod.Name, pod.IP)
		}
		seen[pod.IP] = pod.Name
		if !strings.HasPrefix(pod.Netns, "t-pod-") || len(pod.HostVeth) != 12 {
			t.Errorf("pod %s: netns %q host veth %q", pod.Name, pod.Netns, pod.HostVeth)
		}
	}
	if got := len(p.PodsByApp("kube-dns")); got != 2 {
		t.Errorf("want 2 CoreDNS replicas, got %d", got)
	}
	// CoreDNS replicas on different nodes.
	if d := p.PodsByApp("kube-dns"); d[0].Node == d[1].Node {
		t.Errorf("CoreDNS replicas share node %s", d[0].Node)
	}
}

func TestNewPlanRejects(t *testing.T) {
	for _, o := range []Options{{Name: "Bad"}, {Name: "-x"}, {Name: "a", Nodes: 2}, {Name: "a", Nodes: MaxNodes + 1}, {Name: "a", PodsPerNode: -1},
		{Name: strings.Repeat("a", 21)}} {
		if _, err := NewPlan(o); err == nil {
			t.Errorf("NewPlan(%+v) accepted", o)
		}
	}
}

func TestResolvConfAsKubeletWritesIt(t *testing.T) {
	p, _ := NewPlan(Options{Name: "t"})
	got := p.ResolvConf(p.Client("node1"))
	want := "search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n"
	if got != want {
		t.Errorf("resolv.conf:\n%s\nwant:\n%s", got, want)
	}
}

func TestNodeIPTablesKubeProxyOptional(t *testing.T) {
	p, _ := NewPlan(Options{Name: "t"})
	rules := p.NodeIPTables(p.Nodes[0])
	for _, want := range []string{"-A KUBE-SERVICES -d 10.96.0.10/32 -p udp", "-j KUBE-SVC-TCOU7JCQXEZGVUNU", "--dport 30080 -j KUBE-EXT-",
		`-A FLANNEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully`} {
		if !strings.Contains(rules, want) {
			t.Errorf("node1 rules lack %q", want)
		}
	}
	n := p.NewNode()
	n.KubeProxy.Running = false
	if rules := p.NodeIPTables(n); strings.Contains(rules, "KUBE-SERVICES") || strings.Contains(rules, "KUBE-SVC") || !strings.Contains(rules, "FLANNEL-POSTRTG") || !strings.Contains(rules, "KUBE-FIREWALL") {
		t.Errorf("without kube-proxy want only flannel and kubelet chains, got:\n%s", rules)
	}
}

func TestDumpIsAKubectlList(t *testing.T) {
	p, _ := NewPlan(Options{Name: "t"})
	l := &Lab{State: &State{Name: "t", Dir: "/x", Created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Plan: p}, Plan: p}
	for _, n := range p.Nodes {
		n.Root = "/x/nodes/" + n.Name
	}
	b, err := l.Dump()
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		APIVersion string           `json:"apiVersion"`
		Kind       string           `json:"kind"`
		Items      []map[string]any `json:"items"`
	}
	if err := yaml.Unmarshal(b, &list); err != nil {
		t.Fatalf("dump is not YAML: %v", err)
	}
	if list.APIVersion != "v1" || list.Kind != "List" {
		t.Fatalf("apiVersion/kind = %s/%s", list.APIVersion, list.Kind)
	}
	kinds := map[string]int{}
	for _, it := range list.Items {
		kinds[it["kind"].(string)]++
	}
	want := map[string]int{"Node": 3, "Pod": 9 + 6, "Service": 3, "EndpointSlice": 3, "DaemonSet": 2, "PriorityClass": 2}
	for k, n := range want {
		if kinds[k] != n {
			t.Errorf("%d %s objects, want %d (all: %v)", kinds[k], k, n, kinds)
		}
	}
	// A Node round-trips into the real type with the annotations the diagnoser uses.
	for _, it := range list.Items {
		if it["kind"] != "Node" {
			continue
		}
		raw, _ := yaml.Marshal(it)
		var node corev1.Node
		if err := yaml.Unmarshal(raw, &node); err != nil {
			t.Fatal(err)
		}
		a := node.Annotations
		if a[AnnotationNetns] != "/run/netns/t-"+node.Name || a[AnnotationRoot] != "/x/nodes/"+node.Name ||
			a["flannel.alpha.coreos.com/backend-type"] != "vxlan" || !strings.Contains(a["flannel.alpha.coreos.com/backend-data"], `"VtepMAC"`) {
			t.Errorf("node %s annotations: %v", node.Name, a)
		}
		if node.Spec.PodCIDR == "" || node.Status.Addresses[0].Type != corev1.NodeInternalIP {
			t.Errorf("node %s: podCIDR %q addresses %v", node.Name, node.Spec.PodCIDR, node.Status.Addresses)
		}
	}
}

func TestExpandFillsLabNameAndPods(t *testing.T) {
	p, _ := NewPlan(Options{Name: "abc"})
	l := &Lab{State: &State{Name: "abc", Plan: p}, Plan: p}
	f := l.Expand(Fault{Request: Request{From: "netns//run/netns/{lab}-vm", To: "pod/default/~web@node2:8080"},
		Hop: Hop2("{lab}-node2"), Facts: map[string]string{"pod": "default/~web@node2"}})
	web2 := p.PodOn("web", "node2").Name
	if f.Request.From != "netns//run/netns/abc-vm" || f.Request.To != "pod/default/"+web2+":8080" || f.Hop.Netns != "abc-node2" || f.Facts["pod"] != "default/"+web2 {
		t.Errorf("expanded: %+v", f)
	}
}

func TestExpandFillsNewNode(t *testing.T) {
	p, _ := NewPlan(Options{Name: "abc", Nodes: 5})
	l := &Lab{State: &State{Name: "abc", Plan: p}, Plan: p}
	f := l.Expand(Fault{Request: Request{From: "pod/default/client-{new}"}, Cause: "{new} has {new-ip} and {new-cidr}",
		Flows: []Flow{{From: "pod/default/client-{new}", To: "{lab}"}}})
	if f.Request.From != "pod/default/client-node5" || f.Cause != "node5 has 192.168.56.15 and 10.244.4.0/24" || f.Flows[0].From != "pod/default/client-node5" || f.Flows[0].To != "abc" {
		t.Errorf("expanded: %+v", f)
	}
}
