//go:build linux

package testenv

import (
	"strconv"
	"testing"
)

// NewLine6 is NewLine for IPv6: n namespaces in a line, link i using fd00:250:i::1/64 (left) and
// fd00:250:i::2/64 (right), added without duplicate address detection so they are usable at once,
// forwarding on in the middle namespaces and routes everywhere. mtus, when given, sets each link's MTU.
// It returns once every link has passed a ping (neighbours resolved).
func NewLine6(t testing.TB, n int, mtus ...int) *Line {
	t.Helper()
	l := &Line{}
	for i := 0; i < n; i++ {
		l.Hosts = append(l.Hosts, NewNetNS(t))
	}
	for i := 0; i+1 < n; i++ {
		p := "fd00:250:" + strconv.Itoa(i) + "::"
		lk := LineLink{LeftIf: "s" + itoa(i) + "a", RightIf: "s" + itoa(i) + "b", LeftAddr: p + "1", RightAddr: p + "2"}
		Veth(t, l.Hosts[i], lk.LeftIf, "", l.Hosts[i+1], lk.RightIf, "")
		l.Hosts[i].Exec(t, "ip", "-6", "addr", "add", lk.LeftAddr+"/64", "dev", lk.LeftIf, "nodad")
		l.Hosts[i+1].Exec(t, "ip", "-6", "addr", "add", lk.RightAddr+"/64", "dev", lk.RightIf, "nodad")
		if i < len(mtus) && mtus[i] > 0 {
			l.Hosts[i].Exec(t, "ip", "link", "set", lk.LeftIf, "mtu", itoa(mtus[i]))
			l.Hosts[i+1].Exec(t, "ip", "link", "set", lk.RightIf, "mtu", itoa(mtus[i]))
		}
		l.Links = append(l.Links, lk)
	}
	for i, h := range l.Hosts {
		if i > 0 && i < n-1 {
			h.Exec(t, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
		}
		for j := range l.Links {
			if j == i || j+1 == i {
				continue
			}
			var via string
			if j > i {
				via = l.Links[i].RightAddr // go right
			} else {
				via = l.Links[i-1].LeftAddr // go left
			}
			h.Exec(t, "ip", "-6", "route", "add", "fd00:250:"+strconv.Itoa(j)+"::/64", "via", via)
		}
	}
	// Readiness: resolve the neighbours on every link (the first IPv6 packet to an unresolved
	// neighbour otherwise waits up to a second), so tests time the path, not neighbour discovery.
	for i, lk := range l.Links {
		l.Hosts[i].Exec(t, "ping", "-6", "-n", "-q", "-c", "1", "-W", "5", lk.RightAddr)
	}
	return l
}
