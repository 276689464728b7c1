package lab_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/netdoctor/netdoctor/internal/lab"
	"github.com/netdoctor/netdoctor/internal/netns"
	"github.com/netdoctor/netdoctor/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func up(t testing.TB, o lab.Options) *lab.Lab {
	t.Helper()
	testenv.RequireRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	l, err := lab.Up(ctx, lab.UpOptions{Options: o, Exe: testenv.Binary(t)})
	if err != nil {
		t.Fatalf("lab.Up: %v", err)
	}
	t.Cleanup(func() { _ = lab.Down(context.Background(), o.Name) })
	return l
}

func setLabDir(t *testing.T) {
	t.Helper()
	t.Setenv(lab.EnvDir, filepath.Join(testenv.TempDir(t), "labs-inproc"))
}

// TestUpWiresFlannelLikeFlanneld checks, through netlink in the node namespaces, what Up built: the
// VXLAN device, routes, neighbour and FDB entries exactly as flanneld writes them, and the bridge.
func TestUpWiresFlannelLikeFlanneld(t *testing.T) {
	setLabDir(t)
	name := testenv.Name("lab")
	l := up(t, lab.Options{Name: name})

	s, err := lab.Current(name)
	if err != nil || !s.Ready || s.Plan.Name != name {
		t.Fatalf("Current(%s) = %+v, %v", name, s, err)
	}
	if _, err := os.Stat(lab.DumpPath(name)); err != nil {
		t.Errorf("dump: %v", err)
	}
	found := false
	for _, n := range lab.Labs() {
		found = found || n == name
	}
	if !found {
		t.Errorf("Labs() = %v, want %s in it", lab.Labs(), name)
	}

	n1, n2 := l.Plan.Nodes[0], l.Plan.Nodes[1]
	ns, err := netns.OpenPath(n1.Netns)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	h, err := ns.Netlink()
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	fl, err := h.LinkByName("flannel.1")
	if err != nil {
		t.Fatal(err)
	}
	vx, ok := fl.(*netlink.Vxlan)
	if !ok || vx.VxlanId != 1 || vx.Port != 8472 || vx.Learning || vx.MTU != 1450 || !vx.SrcAddr.Equal(n1.IP.AsSlice()) || vx.HardwareAddr.String() != n1.VtepMAC {
		t.Errorf("flannel.1 = %+v", fl)
	}
	routes, _ := h.RouteList(fl, unix.AF_INET)
	var onlink bool
	for _, r := range routes {
		if r.Dst != nil && r.Dst.String() == n2.PodCIDR.String() && r.Gw.Equal(n2.PodCIDR.Addr().AsSlice()) && r.Flags&int(netlink.FLAG_ONLINK) != 0 {
			onlink = true
		}
	}
	if !onlink {
		t.Errorf("no route %s via %s dev flannel.1 onlink in %v", n2.PodCIDR, n2.PodCIDR.Addr(), routes)
	}
	neighs, _ := h.NeighList(fl.Attrs().Index, unix.AF_INET)
	fdb, _ := h.NeighList(fl.Attrs().Index, unix.AF_BRIDGE)
	if !hasNeigh(neighs, n2.PodCIDR.Addr().AsSlice(), n2.VtepMAC) {
		t.Errorf("no permanent neighbour %s lladdr %s: %v", n2.PodCIDR.Addr(), n2.VtepMAC, neighs)
	}
	if !hasNeigh(fdb, n2.IP.AsSlice(), n2.VtepMAC) {
		t.Errorf("no permanent fdb %s dst %s: %v", n2.VtepMAC, n2.IP, fdb)
	}
	cni, err := h.LinkByName("cni0")
	if err != nil || cni.Attrs().MTU != 1450 {
		t.Errorf("cni0: %v %v", cni, err)
	}
	pod := l.Plan.Client("node1")
	veth, err := h.LinkByName(pod.HostVeth)
	if err != nil || veth.Attrs().MasterIndex != cni.Attrs().Index || veth.Attrs().MTU != 1450 {
		t.Errorf("pod veth %s: %v %v", pod.HostVeth, veth, err)
	}
	if got := readFile(t, filepath.Join(n1.Root, "run/flannel/subnet.env")); !strings.Contains(got, "FLANNEL_SUBNET=10.244.0.1/24\nFLANNEL_MTU=1450") {
		t.Errorf("subnet.env:\n%s", got)
	}
	if got := readFile(t, filepath.Join(n1.Root, "var/lib/cni/networks/cbr0", pod.IP.String())); got != pod.ContainerID+"\r\neth0" {
		t.Errorf("IPAM file of %s = %q", pod.IP, got)
	}

	if err := lab.Down(context.Background(), name); err != nil {
		t.Fatal(err)
	}
	if _, err := lab.Current(name); !errors.Is(err, lab.ErrNoLab) {
		t.Errorf("after Down, Current = %v, want ErrNoLab", err)
	}
	if left := testenv.LeakedNamespaces(name + "-"); len(left) > 0 {
		t.Errorf("namespaces left: %v", left)
	}
}

func hasNeigh(list []netlink.Neigh, ip net.IP, mac string) bool {
	for _, n := range list {
		if n.IP.Equal(ip) && n.HardwareAddr.String() == mac && n.State&netlink.NUD_PERMANENT != 0 {
			return true
		}
	}
	return false
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Down finds a lab by its namespace names when state.json is gone, and kills its processes.
func TestDownWithoutState(t *testing.T) {
	setLabDir(t)
	name := testenv.Name("lab")
	l := up(t, lab.Options{Name: name})
	pid := l.Plan.Client("node1").PID
	if err := os.Remove(lab.StatePath(name)); err != nil {
		t.Fatal(err)
	}
	if err := lab.Down(context.Background(), name); err != nil {
		t.Fatal(err)
	}
	if left := testenv.LeakedNamespaces(name + "-"); len(left) > 0 {
		t.Errorf("namespaces left: %v", left)
	}
	if _, err := os.Stat("/proc/" + itoa(pid) + "/ns/net"); err == nil {
		t.Errorf("pod process %d survived", pid)
	}
}

// A failed Up (here: the pod servers cannot start) removes everything it made.
func TestUpFailureCleansUp(t *testing.T) {
	testenv.RequireRoot(t)
	setLabDir(t)
	name := testenv.Name("lab")
	_, err := lab.Up(context.Background(), lab.UpOptions{Options: lab.Options{Name: name}, Exe: "/nonexistent/netdoctor"})
	if err == nil {
		_ = lab.Down(context.Background(), name)
		t.Fatal("Up with a missing binary succeeded")
	}
	if left := testenv.LeakedNamespaces(name + "-"); len(left) > 0 {
		t.Errorf("namespaces left after a failed Up: %v", left)
	}
	if _, err := os.Stat(lab.Dir(name)); err == nil {
		t.Errorf("state dir left after a failed Up")
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func benchUp(b *testing.B, o lab.Options) {
	testenv.RequireRoot(b)
	b.Setenv(lab.EnvDir, filepath.Join(testenv.TempDir(b), "labs-bench"))
	exe := testenv.Binary(b)
	o.Name = testenv.Name("lab")
	for b.Loop() {
		if _, err := lab.Up(context.Background(), lab.UpOptions{Options: o, Exe: exe}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := lab.Down(context.Background(), o.Name); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkUp3 is `lab up` of the default 3-node lab (goal ≤ 3 s).
func BenchmarkUp3(b *testing.B) { benchUp(b, lab.Options{Nodes: 3}) }

// BenchmarkUp20x10 is `lab up` of 20 nodes with 10 extra pods each (goal ≤ 30 s).
func BenchmarkUp20x10(b *testing.B) { benchUp(b, lab.Options{Nodes: 20, PodsPerNode: 10}) }
