//go:build linux

package netns_test

import (
	"errors"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/netdoctor/netdoctor/internal/netns"
	"github.com/netdoctor/netdoctor/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestDoEntersAndRestores(t *testing.T) {
	n := testenv.NewNetNS(t)
	here := (*netns.NS)(nil).Inode()
	var inside uint64
	var ifaces []net.Interface
	if err := n.NS.Do(func() error {
		cur, err := netns.OpenPath("/proc/thread-self/ns/net")
		if err != nil {
			return err
		}
		defer cur.Close()
		inside = cur.Inode()
		ifaces, err = net.Interfaces()
		return err
	}); err != nil {
		t.Fatalf("Do: %v", err)
	}
	if inside != n.NS.Inode() {
		t.Fatalf("inside Do the thread is in netns inode %d, want %d", inside, n.NS.Inode())
	}
	if len(ifaces) != 1 || ifaces[0].Name != "lo" {
		t.Fatalf("interfaces inside a fresh netns = %v, want only lo", ifaces)
	}
	if got := (*netns.NS)(nil).Inode(); got != here {
		t.Fatalf("caller's netns changed: %d, want %d", got, here)
	}
}

func TestOpenErrors(t *testing.T) {
	testenv.RequireRoot(t)
	_, err := netns.OpenPath(testenv.Name("no"))
	if !errors.Is(err, netns.ErrNotFound) {
		t.Fatalf("open missing netns: err = %v, want ErrNotFound", err)
	}
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if _, err := netns.OpenPID(cmd.Process.Pid); !errors.Is(err, netns.ErrProcessGone) {
		t.Fatalf("open dead pid: err = %v, want ErrProcessGone", err)
	}
	if _, err := netns.Open(netns.Spec{Netns: "x", PID: 1}); err == nil {
		t.Fatal("--netns with --pid accepted")
	}
	if _, err := netns.OpenPath("/etc/hostname"); err == nil {
		t.Fatal("a regular file accepted as a netns")
	}
}

func TestZombieIsGone(t *testing.T) {
	testenv.RequireRoot(t)
	cmd := exec.Command("sh", "-c", "exit 0")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	// Not reaped yet: a zombie. Wait until the kernel marks it so.
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := netns.OpenPID(cmd.Process.Pid)
		if errors.Is(err, netns.ErrProcessGone) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("zombie pid %d: err = %v, want ErrProcessGone", cmd.Process.Pid, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestAliveNoticesDeletion(t *testing.T) {
	testenv.RequireRoot(t)
	name := testenv.Name("gon")
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v %s", err, out)
	}
	ns, err := netns.OpenPath(name)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	if err := ns.Alive(); err != nil {
		t.Fatalf("Alive on a live netns: %v", err)
	}
	if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns del: %v %s", err, out)
	}
	if err := ns.Alive(); !errors.Is(err, netns.ErrGone) {
		t.Fatalf("Alive after delete = %v, want ErrGone", err)
	}
}

func TestStartRunsInNamespace(t *testing.T) {
	n := testenv.NewNetNS(t)
	cmd := exec.Command("ip", "-o", "link")
	out := &limitedBuf{}
	cmd.Stdout = out
	if err := n.NS.Start(cmd); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); !containsOnlyLo(got) {
		t.Fatalf("ip link inside netns printed %q, want only lo", got)
	}
}

type limitedBuf struct{ b []byte }

func (l *limitedBuf) Write(p []byte) (int, error) { l.b = append(l.b, p...); return len(p), nil }
func (l *limitedBuf) String() string              { return string(l.b) }

func containsOnlyLo(s string) bool {
	return strings.Contains(s, "lo:") && !strings.Contains(s, "eth0")
}
