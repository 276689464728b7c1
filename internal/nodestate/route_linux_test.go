//go:build linux

package nodestate_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/netdoctor/netdoctor/internal/nodestate"
	"github.com/netdoctor/netdoctor/internal/testenv"
)

// ipRouteGet runs `ip route get` in the namespace and returns its fields by keyword ("dev", "via",
// "src", "type" — the first word when it names a route type), or the error text.
func ipRouteGet(t *testing.T, n *testenv.NetNS, args ...string) (map[string]string, string) {
	t.Helper()
	out, serr, err := n.Output(context.Background(), "ip", append([]string{"route", "get"}, args...)...)
	if err != nil {
		return nil, strings.TrimSpace(serr)
	}
	f := strings.Fields(strings.SplitN(out, "\n", 2)[0])
	m := map[string]string{"type": "unicast"}
	if len(f) > 0 {
		switch f[0] {
		case "local", "broadcast", "multicast", "blackhole", "unreachable", "prohibit":
			m["type"] = f[0]
		}
	}
	for i := 0; i+1 < len(f); i++ {
		switch f[i] {
		case "dev", "via", "src", "table":
			m[f[i]] = f[i+1]
		}
	}
	return m, ""
}

func TestRouteLookup(t *testing.T) {
	n := buildNode(t, "")
	cases := []struct {
		name      string
		q         nodestate.RouteQuery
		ipArgs    []string
		typ, dev  string
		gw, src   string
		vtep      string // remote VTEP expected
		problem   string // substring of VTEP.Problem
		errnoText string
	}{
		{name: "default route", q: nodestate.RouteQuery{Dst: netip.MustParseAddr("203.0.113.9")}, ipArgs: []string{"203.0.113.9"},
			typ: "unicast", dev: "eth0", gw: "192.168.50.1", src: "192.168.50.10"},
		{name: "pod on node 2 through VXLAN", q: nodestate.RouteQuery{Dst: netip.MustParseAddr("10.244.2.7")}, ipArgs: []string{"10.244.2.7"},
			typ: "unicast", dev: "flannel.1", gw: "10.244.2.0", src: "10.244.1.0", vtep: "192.168.50.11"},
		{name: "pod on node 3: no neighbour", q: nodestate.RouteQuery{Dst: netip.MustParseAddr("10.244.3.7"), Src: netip.MustParseAddr("10.244.1.5"), Iif: "cni0"},
			ipArgs: []string{"10.244.3.7", "from", "10.244.1.5", "iif", "cni0"},
			typ:    "unicast", dev: "flannel.1", gw: "10.244.3.0", problem: "no neighbour entry for 10.244.3.0 on flannel.1"},
		{name: "local pod", q: nodestate.RouteQuery{Dst: netip.MustParseAddr("10.244.1.9"), Src: netip.MustParseAddr("192.168.50.99"), Iif: "eth0"},
			ipArgs: []string{"10.244.1.9", "from", "192.168.50.99", "iif", "eth0"}, typ: "unicast", dev: "cni0"},
		{name: "policy rule to a blackhole", q: nodestate.RouteQuery{Dst: netip.MustParseAddr("10.99.1.1"), Src: netip.MustParseAddr("10.244.1.5"), Iif: "cni0"},
			ipArgs: []string{"10.99.1.1", "from", "10.244.1.5", "iif", "cni0"}, typ: "blackhole"},
		{name: "unreachable", q: nodestate.RouteQuery{Dst: netip.MustParseAddr("10.98.1.1")}, ipArgs: []string{"10.98.1.1"}, typ: "unreachable"},
		{name: "prohibit", q: nodestate.RouteQuery{Dst: netip.MustParseAddr("10.97.1.1")}, ipArgs: []string{"10.97.1.1"}, typ: "prohibit"},
		{name: "local address", q: nodestate.RouteQuery{Dst: netip.MustParseAddr("192.168.50.20")}, ipArgs: []string{"192.168.50.20"}, typ: "local", dev: "lo"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			r, err := nodestate.RouteLookup(ctx, n.ns.NS, c.q)
			if err != nil {
				t.Fatalf("RouteLookup: %v", err)
			}
			if r.Type != c.typ || r.Dev != c.dev || (c.gw != "" && r.Gw.String() != c.gw) || (c.src != "" && r.Src.String() != c.src) {
				t.Errorf("got type %s dev %q gw %v src %v (error %q), want %s %q %s %s", r.Type, r.Dev, r.Gw, r.Src, r.Error, c.typ, c.dev, c.gw, c.src)
			}
			// ip route get, the reference, must agree.
			ref, refErr := ipRouteGet(t, n.ns, c.ipArgs...)
			if ref == nil {
				if r.Error == "" {
					t.Errorf("ip route get failed (%s) but RouteLookup says %+v", refErr, r)
				}
			} else {
				if ref["type"] != r.Type || ref["dev"] != r.Dev || (ref["via"] != "" && ref["via"] != r.Gw.String()) {
					t.Errorf("ip route get says %v; RouteLookup says type %s dev %s gw %v", ref, r.Type, r.Dev, r.Gw)
				}
			}
			switch {
			case c.vtep != "":
				if r.VTEP == nil || r.VTEP.RemoteVTEP.String() != c.vtep || r.VTEP.Problem != "" || r.VTEP.Neighbor == nil ||
					r.VTEP.Neighbor.MAC != "aa:bb:cc:dd:ee:02" || r.VTEP.Device.VNI != 1 || r.VTEP.Device.Dev != "eth0" {
					t.Errorf("VTEP = %+v, want remote %s via MAC aa:bb:cc:dd:ee:02", r.VTEP, c.vtep)
				}
			case c.problem != "":
				if r.VTEP == nil || !strings.Contains(r.VTEP.Problem, c.problem) {
					t.Errorf("VTEP = %+v, want problem %q", r.VTEP, c.problem)
				}
			case r.VTEP != nil:
				t.Errorf("unexpected VTEP %+v", r.VTEP)
			}
		})
	}
	if _, err := nodestate.RouteLookup(context.Background(), n.ns.NS, nodestate.RouteQuery{Dst: netip.MustParseAddr("10.1.1.1"), Iif: "nosuch0"}); err == nil ||
		!strings.Contains(err.Error(), `no interface "nosuch0"`) {
		t.Errorf("unknown iif: err = %v", err)
	}
}
