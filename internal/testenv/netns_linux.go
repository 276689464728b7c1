//go:build linux

package testenv

import (
	"bytes"
	"context"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/netdoctor/netdoctor/internal/netns"
)

// NetNS is a named network namespace a test created; it is deleted when the test ends, after every
// process started in it with Start has been killed.
type NetNS struct {
	Name string    // the name under /run/netns
	Path string    // /run/netns/Name
	NS   *netns.NS // an open handle, closed at cleanup
}

// NewNetNS creates a fresh named namespace with lo up, and registers its removal.
func NewNetNS(t testing.TB) *NetNS {
	t.Helper()
	RequireRoot(t)
	name := Name("ns")
	if _, err := run("ip", "netns", "add", name); err != nil {
		t.Fatalf("create netns: %v", err)
	}
	n := &NetNS{Name: name, Path: "/run/netns/" + name}
	t.Cleanup(func() {
		n.NS.Close()
		if _, err := run("ip", "netns", "del", name); err != nil {
			t.Errorf("delete netns %s: %v", name, err)
		}
	})
	var err error
	if n.NS, err = netns.OpenPath(name); err != nil {
		t.Fatalf("open netns %s: %v", name, err)
	}
	n.Exec(t, "ip", "link", "set", "lo", "up")
	return n
}

// Exec runs a command inside the namespace and returns its combined output; failure fails the test.
func (n *NetNS) Exec(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := n.Try(name, args...)
	if err != nil {
		t.Fatalf("in netns %s: %v", n.Name, err)
	}
	return out
}

// Try runs a command inside the namespace and returns its combined output and error.
func (n *NetNS) Try(name string, args ...string) (string, error) {
	return run("ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// Output runs a command inside the namespace and returns stdout only (stderr goes into the error).
func (n *NetNS) Output(ctx context.Context, name string, args ...string) (string, string, error) {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	return so.String(), se.String(), err
}

// Start starts a long-running command inside the namespace (through `ip netns exec`, so it sees
// /etc/netns/NAME files) and kills it by PID when the test ends.
func (n *NetNS) Start(t testing.TB, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s in %s: %v", name, n.Name, err)
	}
	t.Cleanup(func() { Kill(cmd) })
	return cmd
}

// Kill kills a started command by PID and reaps it. Safe to call twice.
func Kill(cmd *exec.Cmd) {
	if cmd == nil || cmd.Process == nil || cmd.ProcessState != nil {
		return
	}
	_ = cmd.Process.Kill()
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
}

// Veth creates a veth pair with one end in a (named aName) and the other in b (named bName), both up.
// No link ever exists in the root namespace. addrA/addrB, when not empty, are CIDRs to assign.
func Veth(t testing.TB, a *NetNS, aName, addrA string, b *NetNS, bName, addrB string) {
	t.Helper()
	a.Exec(t, "ip", "link", "add", aName, "type", "veth", "peer", "name", bName, "netns", b.Name)
	a.Exec(t, "ip", "link", "set", aName, "up")
	b.Exec(t, "ip", "link", "set", bName, "up")
	if addrA != "" {
		a.Exec(t, "ip", "addr", "add", addrA, "dev", aName)
	}
	if addrB != "" {
		b.Exec(t, "ip", "addr", "add", addrB, "dev", bName)
	}
}

// Line is a chain of namespaces joined by veth pairs: Hosts[0] — Hosts[1] — … — Hosts[n-1], each
// link a /30 from 10.K.I.0/24 style addresses given by Addr. Forwarding is on in the middle ones and
// every host has routes to every other link, so any host reaches any other.
type Line struct {
	Hosts []*NetNS
	// Links[i] joins Hosts[i] and Hosts[i+1]; LeftIf/RightIf are the interface names on each side.
	Links []LineLink
}

// LineLink is one veth of a Line.
type LineLink struct {
	LeftIf, RightIf     string
	LeftAddr, RightAddr string // IPv4 addresses without prefix
}

// NewLine builds n namespaces in a line with link i using 10.(200+i%50).X.0/24 — private to these
// namespaces, never seen by the root namespace. mtus, when given, sets the MTU of each link.
func NewLine(t testing.TB, n int, mtus ...int) *Line {
	t.Helper()
	l := &Line{}
	for i := 0; i < n; i++ {
		l.Hosts = append(l.Hosts, NewNetNS(t))
	}
	for i := 0; i+1 < n; i++ {
		lk := LineLink{LeftIf: "r" + itoa(i) + "a", RightIf: "r" + itoa(i) + "b",
			LeftAddr: "10.250." + itoa(i) + ".1", RightAddr: "10.250." + itoa(i) + ".2"}
		Veth(t, l.Hosts[i], lk.LeftIf, lk.LeftAddr+"/24", l.Hosts[i+1], lk.RightIf, lk.RightAddr+"/24")
		if i < len(mtus) && mtus[i] > 0 {
			l.Hosts[i].Exec(t, "ip", "link", "set", lk.LeftIf, "mtu", itoa(mtus[i]))
			l.Hosts[i+1].Exec(t, "ip", "link", "set", lk.RightIf, "mtu", itoa(mtus[i]))
		}
		l.Links = append(l.Links, lk)
	}
	for i, h := range l.Hosts {
		if i > 0 && i < n-1 {
			h.Exec(t, "sysctl", "-qw", "net.ipv4.ip_forward=1")
		}
		for j := range l.Links {
			if j == i || j+1 == i {
				continue // directly connected
			}
			var via string
			if j > i {
				via = l.Links[i].RightAddr // go right
			} else {
				via = l.Links[i-1].LeftAddr // go left
			}
			h.Exec(t, "ip", "route", "add", "10.250."+itoa(j)+".0/24", "via", via)
		}
	}
	return l
}

// Addr returns the address host i has on the link towards the next host (or the previous one for the
// last host): the address others use to reach it.
func (l *Line) Addr(i int) string {
	if i < len(l.Links) {
		return l.Links[i].LeftAddr
	}
	return l.Links[i-1].RightAddr
}

func itoa(i int) string { return strconv.Itoa(i) }
