package testenv

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"strings"
)

// KubeProxyService describes service i of KubeProxyRules: its ClusterIP, port, node port (0 when
// it is not a NodePort service) and endpoints.
type KubeProxyService struct {
	Name      string // "ns/name:port", kube-proxy's service port name
	ClusterIP string
	Port      int
	NodePort  int
	Endpoints []string // IP:port
}

// KubeProxyServiceN returns service i (0-based) of a ruleset with endpointsPer endpoints each:
// ClusterIP in 10.96.0.0/16, endpoints in 10.244.0.0/16 port 8080, every tenth service a NodePort
// service (30000 + i/10).
func KubeProxyServiceN(i, endpointsPer int) KubeProxyService {
	s := KubeProxyService{
		Name:      fmt.Sprintf("ns%d/svc%d:http", i%50, i),
		ClusterIP: fmt.Sprintf("10.96.%d.%d", (i+1)/250, (i+1)%250+1),
		Port:      80,
	}
	if i%10 == 0 {
		s.NodePort = 30000 + i/10
	}
	for e := 0; e < endpointsPer; e++ {
		n := i*endpointsPer + e + 1
		s.Endpoints = append(s.Endpoints, fmt.Sprintf("10.244.%d.%d:8080", n/250, n%250+1))
	}
	return s
}

// kubeProxyHash is kube-proxy's chain-name hash: base32(sha256(s))[:16].
func kubeProxyHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return base32.StdEncoding.EncodeToString(h[:])[:16]
}

// KubeProxyRules returns iptables-restore input in the shape kube-proxy's iptables mode writes
// (chain names KUBE-SVC-/KUBE-SEP-/KUBE-EXT- with kube-proxy's hashes, its comments, statistic
// probabilities, KUBE-MARK-MASQ / KUBE-POSTROUTING, KUBE-NODEPORTS) for the given number of
// services with endpointsPer endpoints each; podCIDR is the cluster CIDR of the masquerade rule.
// 5,000 services × 3 endpoints is about 60,000 rules.
func KubeProxyRules(services, endpointsPer int, podCIDR string) string {
	var decl, rules, nodeports strings.Builder
	decl.WriteString("*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n")
	decl.WriteString(":KUBE-MARK-MASQ - [0:0]\n:KUBE-NODEPORTS - [0:0]\n:KUBE-POSTROUTING - [0:0]\n:KUBE-SERVICES - [0:0]\n")
	rules.WriteString(`-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
`)
	for i := 0; i < services; i++ {
		s := KubeProxyServiceN(i, endpointsPer)
		h := kubeProxyHash(s.Name + "tcp")
		svc := "KUBE-SVC-" + h
		fmt.Fprintf(&decl, ":%s - [0:0]\n", svc)
		fmt.Fprintf(&rules, "-A KUBE-SERVICES -d %s/32 -p tcp -m comment --comment \"%s cluster IP\" -m tcp --dport %d -j %s\n", s.ClusterIP, s.Name, s.Port, svc)
		fmt.Fprintf(&rules, "-A %s ! -s %s -d %s/32 -p tcp -m comment --comment \"%s cluster IP\" -m tcp --dport %d -j KUBE-MARK-MASQ\n", svc, podCIDR, s.ClusterIP, s.Name, s.Port)
		if s.NodePort != 0 {
			ext := "KUBE-EXT-" + h
			fmt.Fprintf(&decl, ":%s - [0:0]\n", ext)
			fmt.Fprintf(&nodeports, "-A KUBE-NODEPORTS -p tcp -m comment --comment \"%s\" -m tcp --dport %d -j %s\n", s.Name, s.NodePort, ext)
			fmt.Fprintf(&rules, "-A %s -m comment --comment \"masquerade traffic for %s external destinations\" -j KUBE-MARK-MASQ\n-A %s -j %s\n", ext, s.Name, ext, svc)
		}
		for e, ep := range s.Endpoints {
			sep := "KUBE-SEP-" + kubeProxyHash(s.Name+"tcp"+ep)
			ip := strings.Split(ep, ":")[0]
			fmt.Fprintf(&decl, ":%s - [0:0]\n", sep)
			if left := len(s.Endpoints) - e; left > 1 {
				fmt.Fprintf(&rules, "-A %s -m comment --comment \"%s -> %s\" -m statistic --mode random --probability %0.10f -j %s\n", svc, s.Name, ep, 1/float64(left), sep)
			} else {
				fmt.Fprintf(&rules, "-A %s -m comment --comment \"%s -> %s\" -j %s\n", svc, s.Name, ep, sep)
			}
			fmt.Fprintf(&rules, "-A %s -s %s/32 -m comment --comment \"%s\" -j KUBE-MARK-MASQ\n", sep, ip, s.Name)
			fmt.Fprintf(&rules, "-A %s -p tcp -m comment --comment \"%s\" -m tcp -j DNAT --to-destination %s\n", sep, s.Name, ep)
		}
	}
	rules.WriteString("-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\n")
	return decl.String() + nodeports.String() + rules.String() + "COMMIT\n"
}
