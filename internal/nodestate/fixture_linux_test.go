//go:build linux

package nodestate_test

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/netdoctor/netdoctor/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// node is a miniature flannel node built in test namespaces: eth0 (192.168.50.10/24 plus a
// secondary dynamic 192.168.50.20/24) towards an "underlay" namespace, cni0 with one pod behind a
// veth, flannel.1 (VNI 1, local 192.168.50.10, port 8472, nolearning) with a static neighbour and
// FDB entry for node 2, a policy rule with a blackhole route, and kube-proxy's NAT rules loaded with
// the real iptables-restore of backend ("nft" or "legacy").
type node struct {
	ns, pod, under *testenv.NetNS
	root           string
}

func buildNode(t *testing.T, backend string) *node {
	t.Helper()
	testenv.RequireRoot(t)
	testenv.RequireTool(t, "ip")
	testenv.RequireTool(t, "bridge")
	n := &node{ns: testenv.NewNetNS(t), pod: testenv.NewNetNS(t), under: testenv.NewNetNS(t)}
	x := n.ns.Exec
	testenv.Veth(t, n.ns, "eth0", "192.168.50.10/24", n.under, "uplink", "192.168.50.1/24")
	x(t, "ip", "addr", "add", "192.168.50.20/24", "dev", "eth0", "valid_lft", "3600", "preferred_lft", "3600")
	x(t, "ip", "route", "add", "default", "via", "192.168.50.1")
	x(t, "ip", "link", "add", "cni0", "type", "bridge")
	x(t, "ip", "addr", "add", "10.244.1.1/24", "dev", "cni0")
	x(t, "ip", "link", "set", "cni0", "up")
	testenv.Veth(t, n.ns, "vethpod1", "", n.pod, "eth0", "10.244.1.5/24")
	x(t, "ip", "link", "set", "vethpod1", "master", "cni0")
	n.pod.Exec(t, "ip", "route", "add", "default", "via", "10.244.1.1")
	x(t, "ip", "link", "add", "flannel.1", "type", "vxlan", "id", "1", "local", "192.168.50.10", "dev", "eth0", "dstport", "8472", "nolearning")
	x(t, "ip", "link", "set", "flannel.1", "mtu", "1450", "up")
	x(t, "ip", "addr", "add", "10.244.1.0/32", "dev", "flannel.1")
	x(t, "ip", "route", "add", "10.244.2.0/24", "via", "10.244.2.0", "dev", "flannel.1", "onlink")
	x(t, "ip", "route", "add", "10.244.3.0/24", "via", "10.244.3.0", "dev", "flannel.1", "onlink")
	x(t, "ip", "neigh", "add", "10.244.2.0", "lladdr", "aa:bb:cc:dd:ee:02", "dev", "flannel.1", "nud", "permanent")
	x(t, "bridge", "fdb", "append", "aa:bb:cc:dd:ee:02", "dev", "flannel.1", "dst", "192.168.50.11", "self", "permanent")
	x(t, "ip", "rule", "add", "from", "10.244.1.0/24", "to", "10.99.0.0/16", "table", "100", "pref", "1000")
	x(t, "ip", "route", "add", "blackhole", "10.99.0.0/16", "table", "100")
	x(t, "ip", "route", "add", "unreachable", "10.98.0.0/16")
	x(t, "ip", "route", "add", "prohibit", "10.97.0.0/16")
	x(t, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	x(t, "sysctl", "-qw", "net.ipv4.conf.eth0.rp_filter=2")
	if backend != "" {
		loadKubeProxy(t, n.ns, backend)
	}
	n.root = hostFiles(t)
	return n
}

// loadKubeProxy loads testdata/kube-proxy-nat.rules (kube-proxy's iptables-save shape, plus a
// flannel masquerade rule and two calico-style rules) with the real iptables-restore.
func loadKubeProxy(t *testing.T, ns *testenv.NetNS, backend string) {
	t.Helper()
	testenv.RequireTool(t, "ipset")
	restore := testenv.RequireTool(t, "iptables-"+backend+"-restore")
	ns.Exec(t, "ipset", "create", "cali40masq-ipam-pools", "hash:net")
	ns.Exec(t, "ipset", "add", "cali40masq-ipam-pools", "10.244.0.0/16")
	ns.Exec(t, "sh", "-c", restore+" < testdata/kube-proxy-nat.rules")
}

// hostFiles writes a node's host files (flannel CNI config, host-local IPAM state, subnet.env,
// kubelet config) under a temporary root.
func hostFiles(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	files := map[string]string{
		"etc/cni/net.d/10-flannel.conflist":            `{"name":"cbr0","cniVersion":"0.3.1","plugins":[{"type":"flannel","delegate":{"hairpinMode":true,"isDefaultGateway":true}},{"type":"portmap","capabilities":{"portMappings":true}}]}`,
		"etc/cni/net.d/99-bridge.conf":                 `{"cniVersion":"0.4.0","name":"mynet","type":"bridge","bridge":"cni1","mtu":1400,"ipam":{"type":"host-local","subnet":"10.22.0.0/28"}}`,
		"etc/cni/net.d/bad.conf":                       `{"name": "broken"`,
		"var/lib/cni/networks/cbr0/10.244.1.5":         "c0ffee0000000000000000000000000000000000000000000000000000000001\neth0",
		"var/lib/cni/networks/cbr0/10.244.1.6":         "c0ffee0000000000000000000000000000000000000000000000000000000002\neth0",
		"var/lib/cni/networks/cbr0/last_reserved_ip.0": "10.244.1.6",
		"var/lib/cni/networks/mynet/10.22.0.2":         "abc\neth0",
		"run/flannel/subnet.env":                       "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n",
		"var/lib/kubelet/config.yaml":                  "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nclusterDNS:\n- 10.96.0.10\nclusterDomain: cluster.local\nresolvConf: /run/systemd/resolve/resolv.conf\n",
	}
	for name, body := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// listen opens a TCP listener on port inside ns (closed when the test ends).
func listen(t *testing.T, ns *testenv.NetNS, addr string) {
	t.Helper()
	var l net.Listener
	if err := ns.NS.Do(func() (err error) { l, err = net.Listen("tcp", addr); return err }); err != nil {
		t.Fatalf("listen %s in %s: %v", addr, ns.Name, err)
	}
	t.Cleanup(func() { l.Close() })
}
