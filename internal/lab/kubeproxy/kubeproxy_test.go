package kubeproxy

import (
	"net/netip"
	"strings"
	"testing"
)

// The hashes below are the chain names a real kubeadm cluster shows for kube-dns and the API service.
func TestChainNamesMatchKubeProxy(t *testing.T) {
	for _, tc := range []struct{ name, proto, want string }{
		{"kube-system/kube-dns:dns", "udp", "KUBE-SVC-TCOU7JCQXEZGVUNU"},
		{"kube-system/kube-dns:dns-tcp", "tcp", "KUBE-SVC-ERIFXISQEP7F7OF4"},
		{"kube-system/kube-dns:metrics", "tcp", "KUBE-SVC-JD5MR3NA4I4DYORP"},
		{"default/kubernetes:https", "tcp", "KUBE-SVC-NPX46M4PTMTKRN6Y"},
	} {
		if got := SVCChain(tc.name, tc.proto); got != tc.want {
			t.Errorf("SVCChain(%q, %q) = %s, want %s", tc.name, tc.proto, got, tc.want)
		}
	}
}

func TestRender(t *testing.T) {
	ep := func(s string) Endpoint { return Endpoint{IP: netip.MustParseAddr(s), Port: 53, Ready: true} }
	cfg := Config{ClusterCIDR: netip.MustParsePrefix("10.244.0.0/16"), Services: []ServicePort{
		{Namespace: "kube-system", Name: "kube-dns", PortName: "dns", ClusterIP: netip.MustParseAddr("10.96.0.10"), Port: 53, Proto: "udp",
			Endpoints: []Endpoint{ep("10.244.0.2"), ep("10.244.1.2")}},
		{Namespace: "default", Name: "web", PortName: "http", ClusterIP: netip.MustParseAddr("10.96.0.100"), Port: 80, NodePort: 30080, Proto: "tcp"},
	}}
	tb := Render(cfg)
	nat := strings.Join(tb.Nat, "\n")
	for _, want := range []string{
		`-A KUBE-SERVICES -d 10.96.0.10/32 -p udp -m comment --comment "kube-system/kube-dns:dns cluster IP" -m udp --dport 53 -j KUBE-SVC-TCOU7JCQXEZGVUNU`,
		`-A KUBE-SVC-TCOU7JCQXEZGVUNU -m comment --comment "kube-system/kube-dns:dns -> 10.244.0.2:53" -m statistic --mode random --probability 0.50000000000 -j ` + SEPChain("kube-system/kube-dns:dns", "udp", "10.244.0.2:53"),
		`-j DNAT --to-destination 10.244.1.2:53`,
	} {
		if !strings.Contains(nat, want) {
			t.Errorf("nat rules lack %q:\n%s", want, nat)
		}
	}
	if strings.Contains(nat, "default/web:http cluster IP") {
		t.Errorf("a service without endpoints got a nat rule:\n%s", nat)
	}
	filter := strings.Join(tb.Filter, "\n")
	if !strings.Contains(filter, `--comment "default/web:http has no endpoints"`) {
		t.Errorf("no REJECT for the service without endpoints:\n%s", filter)
	}
}
