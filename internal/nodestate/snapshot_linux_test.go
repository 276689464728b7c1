//go:build linux

package nodestate_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netdoctor/netdoctor/internal/netns"
	"github.com/netdoctor/netdoctor/internal/nodestate"
	"github.com/netdoctor/netdoctor/internal/testenv"
)

func take(t *testing.T, n *node) *nodestate.Snapshot {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := nodestate.Take(ctx, n.ns.NS, nodestate.Options{Root: n.root})
	if err != nil {
		t.Fatalf("Take: %v", err)
	}
	return s
}

func TestSnapshotNode(t *testing.T) {
	n := buildNode(t, "nft")
	listen(t, n.ns, "0.0.0.0:10250")
	before := testenv.CaptureNetNS(t, n.ns)
	s := take(t, n)
	if after := testenv.CaptureNetNS(t, n.ns); after != before {
		t.Fatalf("Take changed the namespace:\n%s", testenv.DiffCaptures(before, after))
	}
	if len(s.Errors) > 0 {
		t.Errorf("snapshot errors: %q", s.Errors)
	}

	eth0 := s.Link("eth0")
	if eth0 == nil || eth0.Type != "veth" || !eth0.Up || eth0.MTU != 1500 {
		t.Fatalf("eth0 = %+v, want an up veth with MTU 1500", eth0)
	}
	if eth0.PeerIndex == 0 || eth0.PeerNetnsID < 0 {
		t.Errorf("eth0 peer index %d netns id %d: want the peer in another namespace", eth0.PeerIndex, eth0.PeerNetnsID)
	}
	var v4 []nodestate.Addr
	for _, a := range eth0.Addrs {
		if a.IP.Is4() {
			v4 = append(v4, a)
		}
	}
	if len(v4) != 2 {
		t.Fatalf("eth0 IPv4 addrs = %+v, want 2", v4)
	}
	prim, sec := v4[0], v4[1]
	if prim.IP != netip.MustParseAddr("192.168.50.10") || prim.Secondary || prim.Dynamic || !prim.Permanent {
		t.Errorf("primary = %+v, want 192.168.50.10 permanent, not secondary", prim)
	}
	if sec.IP != netip.MustParseAddr("192.168.50.20") || !sec.Secondary || !sec.Dynamic || sec.Permanent ||
		sec.ValidLft <= 3500*time.Second || sec.ValidLft > 3600*time.Second || sec.Prefix.String() != "192.168.50.20/24" {
		t.Errorf("secondary = %+v, want 192.168.50.20/24 secondary dynamic with ~3600s lifetime", sec)
	}
	if v := s.Link("vethpod1"); v == nil || v.Master != "cni0" {
		t.Errorf("vethpod1 = %+v, want master cni0", v)
	}
	if b := s.Link("cni0"); b == nil || b.Type != "bridge" {
		t.Errorf("cni0 = %+v, want a bridge", b)
	}
	fl := s.Link("flannel.1")
	want := nodestate.VXLAN{VNI: 1, Local: netip.MustParseAddr("192.168.50.10"), Dev: "eth0", Port: 8472, Learning: false}
	if fl == nil || fl.VXLAN == nil || *fl.VXLAN != want || fl.MTU != 1450 {
		t.Fatalf("flannel.1 = %+v, want VXLAN %+v MTU 1450", fl, want)
	}

	hasRoute := func(table int, dst, typ, dev string) bool {
		for _, r := range s.Routes {
			if r.Table == table && r.Dst.String() == dst && r.Type == typ && r.Dev == dev {
				return true
			}
		}
		return false
	}
	for _, c := range []struct {
		table         int
		dst, typ, dev string
	}{
		{254, "0.0.0.0/0", "unicast", "eth0"}, {254, "10.244.2.0/24", "unicast", "flannel.1"},
		{100, "10.99.0.0/16", "blackhole", ""}, {254, "10.98.0.0/16", "unreachable", ""},
		{254, "10.97.0.0/16", "prohibit", ""}, {255, "192.168.50.10/32", "local", "eth0"},
	} {
		if !hasRoute(c.table, c.dst, c.typ, c.dev) {
			t.Errorf("no %s route %s dev %q in table %d; routes: %+v", c.typ, c.dst, c.dev, c.table, s.Routes)
		}
	}
	for _, r := range s.Routes {
		if r.Dst.String() == "10.244.2.0/24" && (!r.Onlink || r.Gw != netip.MustParseAddr("10.244.2.0")) {
			t.Errorf("flannel route = %+v, want onlink via 10.244.2.0", r)
		}
	}
	foundRule := false
	for _, r := range s.Rules {
		if r.Priority == 1000 && r.Table == 100 && r.Action == "lookup" && r.Src.String() == "10.244.1.0/24" && r.Dst.String() == "10.99.0.0/16" {
			foundRule = true
		}
	}
	if !foundRule {
		t.Errorf("rule 1000 from 10.244.1.0/24 to 10.99.0.0/16 lookup 100 missing: %+v", s.Rules)
	}
	foundNeigh := false
	for _, nb := range s.Neighbors {
		if nb.Dev == "flannel.1" && nb.IP.String() == "10.244.2.0" && nb.MAC == "aa:bb:cc:dd:ee:02" && nb.State == "PERMANENT" {
			foundNeigh = true
		}
	}
	if !foundNeigh {
		t.Errorf("flannel.1 neighbour missing: %+v", s.Neighbors)
	}
	foundFDB := false
	for _, e := range s.FDB {
		if e.Dev == "flannel.1" && e.MAC == "aa:bb:cc:dd:ee:02" && e.Dst.String() == "192.168.50.11" && e.Permanent && e.Self {
			foundFDB = true
		}
	}
	if !foundFDB {
		t.Errorf("flannel.1 FDB entry missing: %+v", s.FDB)
	}

	if !s.Sysctls.IPForward || s.Sysctls.RPFilter["eth0"] != 2 || s.Sysctls.Forwarding["eth0"] != 1 {
		t.Errorf("sysctls = %+v, want ip_forward on, eth0 rp_filter 2, forwarding 1", s.Sysctls)
	}
	// Read inside the namespace, not the test's own: these devices exist only there.
	for _, dev := range []string{"vethpod1", "cni0", "flannel.1"} {
		if _, ok := s.Sysctls.RPFilter[dev]; !ok {
			t.Errorf("no rp_filter for %s: %v", dev, s.Sysctls.RPFilter)
		}
	}
	if !s.ListensOn("tcp", 10250) || s.ListensOn("tcp", 10251) {
		t.Errorf("ListensOn tcp 10250 = %v, 10251 = %v; sockets %+v", s.ListensOn("tcp", 10250), s.ListensOn("tcp", 10251), s.Sockets)
	}

	if s.Iptables == nil || s.Iptables.Backend != "nft" || s.Iptables.Other != nil {
		t.Fatalf("iptables = %+v, want the nft backend alone", s.Iptables)
	}
	svc := s.Iptables.Chain("nat", "KUBE-SVC-7EJNTS7AENER2WX5")
	if svc == nil || len(svc.Rules) != 4 {
		t.Fatalf("KUBE-SVC-7EJNTS7AENER2WX5 = %+v, want 4 rules", svc)
	}
	r := svc.Rules[1]
	if r.Num != 2 || r.Target != "KUBE-SEP-2ZJ6HH2Y4H3VFQEL" || r.Comment != "default/web:http -> 10.244.1.3:8080" {
		t.Errorf("rule 2 = %+v", r)
	}
	if s.Nft == nil || s.Nft.Table("ip", "nat") == nil || !s.Nft.Table("ip", "nat").IptablesNft {
		t.Errorf("nft ruleset should show iptables-nft's ip nat table: %+v", s.Nft)
	}
	if set := s.IPSets["cali40masq-ipam-pools"]; set == nil || set.Type != "hash:net" || len(set.Members) != 1 {
		t.Errorf("ipset = %+v", set)
	}

	if s.Flannel == nil || s.Flannel.MTU != 1450 || s.Flannel.Subnet.String() != "10.244.1.1/24" || !s.Flannel.IPMasq {
		t.Errorf("flannel = %+v", s.Flannel)
	}
	if s.Kubelet == nil || len(s.Kubelet.ClusterDNS) != 1 || s.Kubelet.ClusterDNS[0] != "10.96.0.10" || s.Kubelet.ClusterDomain != "cluster.local" {
		t.Errorf("kubelet = %+v", s.Kubelet)
	}
	if s.CNI == nil || len(s.CNI.Configs) != 3 {
		t.Fatalf("cni = %+v, want 3 configs", s.CNI)
	}
	c0 := s.CNI.Configs[0]
	if c0.Name != "cbr0" || c0.Type != "flannel" || strings.Join(c0.Plugins, ",") != "flannel,portmap" {
		t.Errorf("config 0 = %+v", c0)
	}
	if c := s.CNI.Configs[1]; c.Type != "bridge" || c.Bridge != "cni1" || c.MTU != 1400 || c.Subnet != "10.22.0.0/28" {
		t.Errorf("config 1 = %+v", c)
	}
	if c := s.CNI.Configs[2]; c.Error == "" {
		t.Errorf("bad.conf parsed without error: %+v", c)
	}
	ipam := map[string]nodestate.IPAMRange{}
	for _, r := range s.CNI.IPAM {
		ipam[r.Network] = r
	}
	if r := ipam["cbr0"]; r.Range != "10.244.1.0/24" || r.Used != 2 || r.Free != 251 || len(r.Addresses) != 2 {
		t.Errorf("cbr0 IPAM = %+v, want 10.244.1.0/24 2 used 251 free", r)
	}
	if r := ipam["mynet"]; r.Range != "10.22.0.0/28" || r.Used != 1 || r.Free != 12 {
		t.Errorf("mynet IPAM = %+v, want 1 used 12 free", r)
	}
}

// TestSnapshotByPID reads a pod's namespace through a process inside it, as --pid does.
func TestSnapshotByPID(t *testing.T) {
	n := buildNode(t, "")
	cmd := n.pod.Start(t, "sleep", "60")
	// ip netns exec forks sleep: wait until the child is in the pod's namespace.
	var pid int
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, _ := exec.Command("pgrep", "-P", strconv.Itoa(cmd.Process.Pid)).Output()
		if p, err := strconv.Atoi(strings.TrimSpace(string(out))); err == nil {
			pid = p
		} else {
			pid = cmd.Process.Pid // ip netns exec may exec sleep in place
		}
		if target, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid)); err == nil && strings.Contains(target, strconv.FormatUint(n.pod.NS.Inode(), 10)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d never entered %s", pid, n.pod.Name)
		}
		time.Sleep(20 * time.Millisecond) // polling /proc: no event exists for "entered a namespace"
	}
	ns, err := netns.OpenPID(pid)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	s, err := nodestate.Take(context.Background(), ns, nodestate.Options{SkipHostFiles: true})
	if err != nil {
		t.Fatal(err)
	}
	eth0 := s.Link("eth0")
	if eth0 == nil || len(eth0.Addrs) == 0 || eth0.Addrs[0].IP.String() != "10.244.1.5" || s.Link("cni0") != nil {
		t.Errorf("pod snapshot eth0 = %+v (cni0 %v): want the pod's 10.244.1.5 and no cni0", eth0, s.Link("cni0") != nil)
	}
	if s.Netns != fmt.Sprintf("process %d", pid) {
		t.Errorf("Netns = %q", s.Netns)
	}
}
