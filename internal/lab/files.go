package lab

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// EtcNetns is where `ip netns exec` finds per-namespace /etc files (bind-mounted over /etc).
const EtcNetns = "/etc/netns"

// resolvPath is the resolv.conf a pod's processes see (through `ip netns exec`).
func resolvPath(podNetns string) string { return filepath.Join(EtcNetns, podNetns, "resolv.conf") }

// ResolvConf is the resolv.conf the kubelet writes for a pod with dnsPolicy ClusterFirst.
func (p *Plan) ResolvConf(pod *PodPlan) string {
	if pod.DNS {
		// dnsPolicy: Default — CoreDNS uses the node's resolver (the router, which serves nothing).
		return "nameserver " + RouterUnderlay.String() + "\n"
	}
	search := p.Resolv.Search
	if search == nil {
		search = []string{pod.Namespace + ".svc." + DNSDomain, "svc." + DNSDomain, DNSDomain}
	}
	return fmt.Sprintf("search %s\nnameserver %s\noptions ndots:%d\n", strings.Join(search, " "), KubeDNSIP, p.Resolv.Ndots)
}

// DNSRecords is the cluster.local zone the lab's DNS server answers: name (FQDN) → A records.
func (p *Plan) DNSRecords() map[string][]string {
	rr := map[string][]string{}
	for _, s := range p.Services {
		rr[s.Name+"."+s.Namespace+".svc."+DNSDomain+"."] = []string{s.ClusterIP.String()}
	}
	for _, pod := range p.Pods {
		if pod.Sandboxed() {
			name := strings.ReplaceAll(pod.IP.String(), ".", "-") + "." + pod.Namespace + ".pod." + DNSDomain + "."
			rr[name] = []string{pod.IP.String()}
		}
	}
	return rr
}

// writeNodeRoot lays out a host-like directory for node n: CNI config, host-local IPAM state,
// flannel's subnet.env and the kubelet config, as the real components write them.
func (p *Plan) writeNodeRoot(n *NodePlan) error {
	files := map[string]string{
		"etc/cni/net.d/10-flannel.conflist": `{
  "name": "cbr0",
  "cniVersion": "0.3.1",
  "plugins": [
    {
      "type": "flannel",
      "delegate": {
        "hairpinMode": true,
        "isDefaultGateway": true
      }
    },
    {
      "type": "portmap",
      "capabilities": {
        "portMappings": true
      }
    }
  ]
}
`,
		"run/flannel/subnet.env": fmt.Sprintf("FLANNEL_NETWORK=%s\nFLANNEL_SUBNET=%s/%d\nFLANNEL_MTU=%d\nFLANNEL_IPMASQ=true\n",
			ClusterCIDR, nthAddr(n.PodCIDR, 1), n.PodCIDR.Bits(), VXLANMTU),
		"var/lib/kubelet/config.yaml": fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous:
    enabled: false
cgroupDriver: systemd
clusterDNS:
- %s
clusterDomain: %s
resolvConf: /run/systemd/resolve/resolv.conf
staticPodPath: /etc/kubernetes/manifests
`, KubeDNSIP, DNSDomain),
	}
	if p.K8s {
		delete(files, "run/flannel/subnet.env") // real flanneld writes it
	}
	// host-local IPAM: one file per allocated IP holding "containerID\r\nifname", and the last
	// reserved IP. A full range has a file for every address (leaked by sandboxes that are gone).
	ipam := "var/lib/cni/networks/cbr0/"
	last := netip.Addr{}
	for _, pod := range p.Pods {
		if pod.Node == n.Name && pod.Sandboxed() {
			files[ipam+pod.IP.String()] = pod.ContainerID + "\r\neth0"
			if !last.IsValid() || last.Less(pod.IP) {
				last = pod.IP
			}
		}
	}
	if n.IPAMFull {
		for i := 2; i <= 254; i++ {
			a := nthAddr(n.PodCIDR, i)
			if _, ok := files[ipam+a.String()]; !ok {
				files[ipam+a.String()] = containerID(p.Name, "leaked/"+a.String()) + "\r\neth0"
			}
			last = a
		}
	}
	if last.IsValid() {
		files[ipam+"last_reserved_ip.0"] = last.String()
	}
	names := make([]string, 0, len(files))
	for k := range files {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, rel := range names {
		path := filepath.Join(n.Root, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("lab: node root: %w", err)
		}
		if err := os.WriteFile(path, []byte(files[rel]), 0o644); err != nil {
			return fmt.Errorf("lab: node root: %w", err)
		}
	}
	return nil
}

// writeRecords writes the DNS zone for the lab's DNS servers.
func (p *Plan) writeRecords(path string) error {
	b, err := json.MarshalIndent(p.DNSRecords(), "", "  ")
	if err != nil {
		return fmt.Errorf("lab: dns records: %w", err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("lab: dns records: %w", err)
	}
	return nil
}

// nthAddr is the i-th address of an IPv4 prefix.
func nthAddr(p netip.Prefix, i int) netip.Addr {
	b := p.Masked().Addr().As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v += uint32(i)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
