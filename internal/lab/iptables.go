package lab

import (
	"fmt"
	"strings"

	"github.com/netdoctor/netdoctor/internal/lab/kubeproxy"
)

// Endpoints returns the endpoints of a service port the way the EndpointSlice controller sees them:
// every pod selected by the service that has an IP, with its readiness.
func (p *Plan) Endpoints(s *Service, sp ServicePort) []kubeproxy.Endpoint {
	var out []kubeproxy.Endpoint
	for _, pod := range p.PodsByApp(s.App) {
		if pod.Namespace != s.Namespace || !pod.IP.IsValid() || pod.Phase != "Running" {
			continue
		}
		out = append(out, kubeproxy.Endpoint{IP: pod.IP, Port: sp.TargetPort, Ready: pod.Ready})
	}
	return out
}

// KubeProxyConfig is what kube-proxy on any node of the plan knows.
func (p *Plan) KubeProxyConfig() kubeproxy.Config {
	cfg := kubeproxy.Config{ClusterCIDR: ClusterCIDR}
	for _, s := range p.Services {
		for _, sp := range s.Ports {
			ksp := kubeproxy.ServicePort{Namespace: s.Namespace, Name: s.Name, PortName: sp.Name, ClusterIP: s.ClusterIP,
				Port: sp.Port, Proto: sp.Proto, Endpoints: p.Endpoints(s, sp)}
			if s.Type == "NodePort" {
				ksp.NodePort = sp.NodePort
			}
			cfg.Services = append(cfg.Services, ksp)
		}
	}
	return cfg
}

// NodeIPTables renders the iptables-restore input of a node: the kubelet's chains (KUBE-FIREWALL,
// KUBE-KUBELET-CANARY), flannel's forward and masquerade chains, and kube-proxy's chains when
// kube-proxy runs there.
func (p *Plan) NodeIPTables(n *NodePlan) string {
	var kp kubeproxy.Tables
	if n.KubeProxy.Running {
		kp = kubeproxy.Render(p.KubeProxyConfig())
	}
	cidr := ClusterCIDR.String()
	own := n.PodCIDR.String()
	var b strings.Builder
	w := func(lines ...string) {
		for _, l := range lines {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	w("*mangle", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ":POSTROUTING ACCEPT [0:0]",
		":KUBE-KUBELET-CANARY - [0:0]")
	w(kp.MangleChains...)
	w("COMMIT")
	// The kubelet's chains exist on every node, whether kube-proxy runs or not.
	w("*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ":FLANNEL-FWD - [0:0]",
		":KUBE-FIREWALL - [0:0]", ":KUBE-KUBELET-CANARY - [0:0]")
	w(kp.FilterChains...)
	w("-A INPUT -j KUBE-FIREWALL", "-A OUTPUT -j KUBE-FIREWALL",
		`-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "block incoming localnet connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP`)
	w(kp.Filter...)
	w(`-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD`,
		fmt.Sprintf(`-A FLANNEL-FWD -s %s -m comment --comment "flanneld forward" -j ACCEPT`, cidr),
		fmt.Sprintf(`-A FLANNEL-FWD -d %s -m comment --comment "flanneld forward" -j ACCEPT`, cidr),
		"COMMIT")
	w("*nat", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ":POSTROUTING ACCEPT [0:0]", ":FLANNEL-POSTRTG - [0:0]",
		":KUBE-KUBELET-CANARY - [0:0]")
	w(kp.NatChains...)
	w(kp.Nat...)
	w(`-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG`,
		`-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment "flanneld masq" -j RETURN`,
		fmt.Sprintf(`-A FLANNEL-POSTRTG -s %s -d %s -m comment --comment "flanneld masq" -j RETURN`, own, cidr),
		fmt.Sprintf(`-A FLANNEL-POSTRTG -s %s -d %s -m comment --comment "flanneld masq" -j RETURN`, cidr, own),
		fmt.Sprintf(`-A FLANNEL-POSTRTG ! -s %s -d %s -m comment --comment "flanneld masq" -j RETURN`, cidr, own),
		fmt.Sprintf(`-A FLANNEL-POSTRTG -s %s ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully`, cidr),
		fmt.Sprintf(`-A FLANNEL-POSTRTG ! -s %s -d %s -m comment --comment "flanneld masq" -j MASQUERADE --random-fully`, cidr, cidr),
		"COMMIT")
	return b.String()
}
