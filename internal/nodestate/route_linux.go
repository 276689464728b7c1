//go:build linux

package nodestate

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/netdoctor/netdoctor/internal/netns"
)

func routeLookup(ctx context.Context, ns *netns.NS, q RouteQuery) (*RouteResult, error) {
	if !q.Dst.IsValid() {
		return nil, errors.New("nodestate: route look-up needs a destination")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("nodestate: %w", context.Cause(ctx))
	}
	h, err := ns.Netlink()
	if err != nil {
		return nil, fmt.Errorf("nodestate: %w", err)
	}
	defer h.Close()
	_ = h.SetSocketTimeout(5 * time.Second)
	opts := &netlink.RouteGetOptions{Iif: q.Iif, Mark: q.Mark}
	if q.Src.IsValid() {
		opts.SrcAddr = net.IP(q.Src.AsSlice())
	}
	if q.Iif != "" {
		if _, err := h.LinkByName(q.Iif); err != nil {
			return nil, fmt.Errorf("nodestate: route look-up: no interface %q in %s", q.Iif, ns)
		}
	}
	res := &RouteResult{Query: q}
	routes, err := h.RouteGetWithOptions(net.IP(q.Dst.AsSlice()), opts)
	if err != nil {
		var errno unix.Errno
		if !errors.As(err, &errno) {
			return nil, fmt.Errorf("nodestate: route look-up %s: %w", q.Dst, err)
		}
		switch errno {
		case unix.EHOSTUNREACH:
			res.Type = "unreachable"
		case unix.ENETUNREACH:
			res.Type = "unreachable"
		case unix.EACCES:
			res.Type = "prohibit"
		case unix.EINVAL:
			res.Type = "blackhole"
		case unix.EXDEV:
			res.Type = "unreachable" // rp_filter / martian source
		default:
			return nil, fmt.Errorf("nodestate: route look-up %s: %w", q.Dst, err)
		}
		res.Error = errno.Error()
		if q.Iif != "" && errno == unix.EHOSTUNREACH {
			// A forwarded look-up on an interface with forwarding off fails like this.
			if fwd, ok := forwardingOn(ns, q.Iif); ok && !fwd {
				res.Error = fmt.Sprintf("forwarding is disabled on %s (net.ipv4.conf.%s.forwarding=0): the kernel does not route packets arriving there", q.Iif, q.Iif)
				return res, nil
			}
		}
		// The kernel refuses unreachable/prohibit/blackhole look-ups with an errno; tell which
		// route did it from the FIB match when possible.
		if fib, ferr := h.RouteGetWithOptions(net.IP(q.Dst.AsSlice()), &netlink.RouteGetOptions{Iif: q.Iif, Mark: q.Mark, SrcAddr: opts.SrcAddr, FIBMatch: true}); ferr == nil && len(fib) > 0 {
			res.Type = routeType(fib[0].Type)
			res.Table = fib[0].Table
		}
		return res, nil
	}
	if len(routes) == 0 {
		return nil, fmt.Errorf("nodestate: route look-up %s: empty answer", q.Dst)
	}
	r := routes[0]
	res.Type = routeType(r.Type)
	res.Gw = ipAddr(r.Gw)
	res.Src = ipAddr(r.Src)
	res.Table = r.Table
	res.MTU = r.MTU
	if r.LinkIndex > 0 {
		if l, err := h.LinkByIndex(r.LinkIndex); err == nil {
			res.Dev = l.Attrs().Name
			if vx, ok := l.(*netlink.Vxlan); ok {
				res.VTEP = vtepInfo(h, vx, res)
			}
		}
	}
	// A blackhole/unreachable/prohibit route found through a forwarded look-up comes back without error.
	if res.Type != "unicast" && res.Type != "local" {
		res.Dev = ""
	}
	return res, nil
}

// forwardingOn reads net.ipv4.conf.IF.forwarding inside ns.
func forwardingOn(ns *netns.NS, iface string) (on, ok bool) {
	var v int
	err := ns.Do(func() (err error) {
		v, err = readInt("/proc/sys/net/ipv4/conf/" + strings.ReplaceAll(iface, "/", ".") + "/forwarding")
		return err
	})
	return v == 1, err == nil
}

// vtepInfo finds the neighbour and FDB entries the VXLAN device would use for the next hop.
func vtepInfo(h *netlink.Handle, vx *netlink.Vxlan, res *RouteResult) *VTEPInfo {
	v := &VTEPInfo{Device: VXLAN{VNI: vx.VxlanId, Port: vx.Port, Learning: vx.Learning,
		Local: ipAddr(vx.SrcAddr), Group: ipAddr(vx.Group)}}
	if vx.VtepDevIndex > 0 {
		if l, err := h.LinkByIndex(vx.VtepDevIndex); err == nil {
			v.Device.Dev = l.Attrs().Name
		}
	}
	v.NextHop = res.Gw
	if !v.NextHop.IsValid() {
		v.NextHop = res.Query.Dst
	}
	name := vx.Attrs().Name
	neighs, err := h.NeighList(vx.Attrs().Index, netlink.FAMILY_V4)
	if v.NextHop.Is6() {
		neighs, err = h.NeighList(vx.Attrs().Index, netlink.FAMILY_V6)
	}
	if err != nil {
		v.Problem = fmt.Sprintf("list neighbours of %s: %v", name, err)
		return v
	}
	var mac string
	for _, n := range neighs {
		if ipAddr(n.IP) == v.NextHop {
			nb := convertNeighbors([]netlink.Neigh{n}, map[int]string{n.LinkIndex: name})
			if len(nb) == 1 {
				v.Neighbor = &nb[0]
				mac = nb[0].MAC
			}
		}
	}
	fdb, err := h.NeighList(vx.Attrs().Index, unix.AF_BRIDGE)
	if err != nil {
		v.Problem = fmt.Sprintf("list fdb of %s: %v", name, err)
		return v
	}
	entries := convertFDB(fdb, map[int]string{vx.Attrs().Index: name})
	var deflt *FDBEntry
	for i := range entries {
		e := &entries[i]
		if mac != "" && e.MAC == mac && e.Dst.IsValid() {
			v.FDB = e
			break
		}
		if e.MAC == "00:00:00:00:00:00" && e.Dst.IsValid() && deflt == nil {
			deflt = e
		}
	}
	if v.FDB == nil && deflt != nil {
		v.FDB = deflt
	}
	switch {
	case v.FDB != nil:
		v.RemoteVTEP = v.FDB.Dst
	case v.Device.Group.IsValid():
		v.RemoteVTEP = v.Device.Group
	}
	switch {
	case v.Neighbor == nil || mac == "":
		v.Problem = fmt.Sprintf("no neighbour entry for %s on %s: the inner packet gets no destination MAC", v.NextHop, name)
		if vx.Proxy || vx.L3miss {
			v.Problem += " (the device resolves misses through proxy/l3miss)"
		}
	case !v.RemoteVTEP.IsValid():
		v.Problem = fmt.Sprintf("no FDB entry for %s on %s: the kernel does not know the remote VTEP", strings.ToLower(mac), name)
	}
	return v
}
