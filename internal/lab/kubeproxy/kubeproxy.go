// Package kubeproxy writes the iptables rules kube-proxy's iptables mode would write for a node: the
// same chain names (KUBE-SERVICES, KUBE-SVC-*, KUBE-SEP-*, KUBE-EXT-*, KUBE-NODEPORTS, KUBE-MARK-MASQ,
// KUBE-POSTROUTING), the same sha256/base32 chain-name hashes and the same comments, as
// iptables-restore input. It is pure: it renders text and touches nothing.
package kubeproxy

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"net/netip"
	"strings"
)

// MasqueradeMark is kube-proxy's default masquerade bit (--iptables-masquerade-bit 14).
const MasqueradeMark = "0x4000"

// Endpoint is one backend of a service port.
type Endpoint struct {
	IP    netip.Addr
	Port  int
	Ready bool
}

// String is the endpoint as kube-proxy hashes it: "IP:PORT".
func (e Endpoint) String() string { return netip.AddrPortFrom(e.IP, uint16(e.Port)).String() }

// ServicePort is one port of a Service with its endpoints.
type ServicePort struct {
	Namespace, Name string
	PortName        string // may be empty
	ClusterIP       netip.Addr
	Port            int
	NodePort        int    // 0 when the service is not a NodePort
	Proto           string // tcp or udp (lower case)
	Endpoints       []Endpoint
}

// PortName is the ServicePortName string kube-proxy hashes and prints: "ns/name:port" or "ns/name".
func (s ServicePort) PortNameString() string {
	if s.PortName == "" {
		return s.Namespace + "/" + s.Name
	}
	return s.Namespace + "/" + s.Name + ":" + s.PortName
}

// Config is what one node's kube-proxy knows.
type Config struct {
	ClusterCIDR netip.Prefix // --cluster-cidr: traffic from outside it to a ClusterIP is masqueraded
	Services    []ServicePort
}

// portProtoHash is kube-proxy's chain-name hash: base32(sha256(name+proto))[:16].
func portProtoHash(servicePortName, protocol string) string {
	sum := sha256.Sum256([]byte(servicePortName + protocol))
	return base32.StdEncoding.EncodeToString(sum[:])[:16]
}

// SVCChain is the KUBE-SVC-* chain of a service port.
func SVCChain(servicePortName, protocol string) string {
	return "KUBE-SVC-" + portProtoHash(servicePortName, protocol)
}

// EXTChain is the KUBE-EXT-* chain of a service port (NodePort/external traffic).
func EXTChain(servicePortName, protocol string) string {
	return "KUBE-EXT-" + portProtoHash(servicePortName, protocol)
}

// SEPChain is the KUBE-SEP-* chain of one endpoint of a service port.
func SEPChain(servicePortName, protocol, endpoint string) string {
	sum := sha256.Sum256([]byte(servicePortName + protocol + endpoint))
	return "KUBE-SEP-" + base32.StdEncoding.EncodeToString(sum[:])[:16]
}

// Tables holds the kube-proxy part of the nat and filter tables: chain declarations and rules,
// each a slice of iptables-restore lines without the table header or COMMIT.
type Tables struct {
	MangleChains         []string // kube-proxy's canary chain
	NatChains, Nat       []string
	FilterChains, Filter []string
}

// Render computes kube-proxy's rules for cfg.
func Render(cfg Config) Tables {
	var t Tables
	// KUBE-PROXY-CANARY: empty chains kube-proxy creates in each table to notice a flush.
	t.MangleChains = []string{":KUBE-PROXY-CANARY - [0:0]"}
	t.NatChains = []string{":KUBE-SERVICES - [0:0]", ":KUBE-NODEPORTS - [0:0]", ":KUBE-POSTROUTING - [0:0]", ":KUBE-MARK-MASQ - [0:0]", ":KUBE-PROXY-CANARY - [0:0]"}
	t.FilterChains = []string{":KUBE-FORWARD - [0:0]", ":KUBE-SERVICES - [0:0]", ":KUBE-EXTERNAL-SERVICES - [0:0]", ":KUBE-NODEPORTS - [0:0]",
		":KUBE-PROXY-FIREWALL - [0:0]", ":KUBE-PROXY-CANARY - [0:0]"}
	t.Nat = []string{
		`-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES`,
		`-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES`,
		`-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING`,
		"-A KUBE-MARK-MASQ -j MARK --or-mark " + MasqueradeMark,
		"-A KUBE-POSTROUTING -m mark ! --mark " + MasqueradeMark + "/" + MasqueradeMark + " -j RETURN",
		"-A KUBE-POSTROUTING -j MARK --xor-mark " + MasqueradeMark,
		`-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully`,
	}
	t.Filter = []string{
		`-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL`,
		`-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES`,
		`-A INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS`,
		`-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL`,
		`-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD`,
		`-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES`,
		`-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES`,
		`-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL`,
		`-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES`,
		`-A KUBE-FORWARD -m conntrack --ctstate INVALID -m comment --comment "kubernetes forwarding invalid packets" -j DROP`,
		`-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark ` + MasqueradeMark + "/" + MasqueradeMark + ` -j ACCEPT`,
		`-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
	}
	var nodePorts []string
	for _, sp := range cfg.Services {
		name := sp.PortNameString()
		proto := strings.ToLower(sp.Proto)
		svc := SVCChain(name, proto)
		var ready []Endpoint
		for _, e := range sp.Endpoints {
			if e.Ready {
				ready = append(ready, e)
			}
		}
		match := fmt.Sprintf("-p %s -m comment --comment %q -m %s --dport %d", proto, name+" cluster IP", proto, sp.Port)
		if len(ready) == 0 {
			t.Filter = append(t.Filter, fmt.Sprintf("-A KUBE-SERVICES -d %s/32 -p %s -m comment --comment %q -m %s --dport %d -j REJECT --reject-with icmp-port-unreachable",
				sp.ClusterIP, proto, name+" has no endpoints", proto, sp.Port))
			if sp.NodePort != 0 {
				t.Filter = append(t.Filter, fmt.Sprintf("-A KUBE-EXTERNAL-SERVICES -p %s -m comment --comment %q -m addrtype --dst-type LOCAL -m %s --dport %d -j REJECT --reject-with icmp-port-unreachable",
					proto, name+" has no endpoints", proto, sp.NodePort))
			}
			continue
		}
		t.NatChains = append(t.NatChains, ":"+svc+" - [0:0]")
		t.Nat = append(t.Nat, fmt.Sprintf("-A KUBE-SERVICES -d %s/32 %s -j %s", sp.ClusterIP, match, svc))
		t.Nat = append(t.Nat, fmt.Sprintf("-A %s ! -s %s -d %s/32 %s -j KUBE-MARK-MASQ", svc, cfg.ClusterCIDR, sp.ClusterIP, match))
		if sp.NodePort != 0 {
			ext := EXTChain(name, proto)
			t.NatChains = append(t.NatChains, ":"+ext+" - [0:0]")
			nodePorts = append(nodePorts, fmt.Sprintf("-A KUBE-NODEPORTS -p %s -m comment --comment %q -m %s --dport %d -j %s", proto, name, proto, sp.NodePort, ext))
			t.Nat = append(t.Nat,
				fmt.Sprintf("-A %s -m comment --comment %q -j KUBE-MARK-MASQ", ext, "masquerade traffic for "+name+" external destinations"),
				fmt.Sprintf("-A %s -j %s", ext, svc))
		}
		for i, e := range ready {
			sep := SEPChain(name, proto, e.String())
			t.NatChains = append(t.NatChains, ":"+sep+" - [0:0]")
			rule := fmt.Sprintf("-A %s -m comment --comment %q", svc, name+" -> "+e.String())
			if left := len(ready) - i; left > 1 {
				rule += fmt.Sprintf(" -m statistic --mode random --probability %0.11f", 1.0/float64(left))
			}
			t.Nat = append(t.Nat, rule+" -j "+sep,
				fmt.Sprintf("-A %s -s %s/32 -m comment --comment %q -j KUBE-MARK-MASQ", sep, e.IP, name),
				fmt.Sprintf("-A %s -p %s -m comment --comment %q -m %s -j DNAT --to-destination %s", sep, proto, name, proto, e.String()))
		}
	}
	t.Nat = append(t.Nat, nodePorts...)
	t.Nat = append(t.Nat, `-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS`)
	return t
}
