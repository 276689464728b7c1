//go:build linux

package lab

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/netdoctor/netdoctor/internal/netns"
)

// handles holds an open namespace and netlink handle per lab namespace name, for one build.
type handles struct {
	ns map[string]*netns.NS
	nl map[string]*netlink.Handle
}

func openHandles(names []string) (*handles, error) {
	h := &handles{ns: map[string]*netns.NS{}, nl: map[string]*netlink.Handle{}}
	for _, n := range names {
		ns, err := netns.OpenPath(n)
		if err != nil {
			h.close()
			return nil, fmt.Errorf("lab: open netns %s: %w", n, err)
		}
		h.ns[n] = ns
		nl, err := ns.Netlink()
		if err != nil {
			h.close()
			return nil, fmt.Errorf("lab: %w", err)
		}
		h.nl[n] = nl
	}
	return h, nil
}

func (h *handles) close() {
	for _, nl := range h.nl {
		nl.Close()
	}
	for _, ns := range h.ns {
		ns.Close()
	}
}

// link returns the link name in netns ns.
func (h *handles) link(ns, name string) (netlink.Link, error) {
	l, err := h.nl[ns].LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("lab: %s: link %s: %w", ns, name, err)
	}
	return l, nil
}

// veth creates a veth pair: name in netns a (enslaved to master when not empty), peer in netns b.
// No end ever exists in the root namespace: the pair is created inside a, the peer straight into b.
func (h *handles) veth(a, name, master, b, peer string, mtu int) error {
	attrs := netlink.NewLinkAttrs()
	attrs.Name, attrs.MTU = name, mtu
	if master != "" {
		m, err := h.link(a, master)
		if err != nil {
			return err
		}
		attrs.MasterIndex = m.Attrs().Index
	}
	v := &netlink.Veth{LinkAttrs: attrs, PeerName: peer, PeerNamespace: netlink.NsFd(h.ns[b].Handle())}
	if err := h.nl[a].LinkAdd(v); err != nil {
		return fmt.Errorf("lab: %s: veth %s (peer %s in %s): %w", a, name, peer, b, err)
	}
	return h.up(a, name)
}

func (h *handles) up(ns, name string) error {
	l, err := h.link(ns, name)
	if err != nil {
		return err
	}
	if err := h.nl[ns].LinkSetUp(l); err != nil {
		return fmt.Errorf("lab: %s: set %s up: %w", ns, name, err)
	}
	return nil
}

func (h *handles) bridge(ns, name string, mtu int) error {
	attrs := netlink.NewLinkAttrs()
	attrs.Name, attrs.MTU = name, mtu
	if err := h.nl[ns].LinkAdd(&netlink.Bridge{LinkAttrs: attrs}); err != nil {
		return fmt.Errorf("lab: %s: bridge %s: %w", ns, name, err)
	}
	return h.up(ns, name)
}

// addr adds p to link; validLft > 0 makes it a DHCP-style dynamic address.
func (h *handles) addr(ns, link string, p netip.Prefix, validLft int) error {
	l, err := h.link(ns, link)
	if err != nil {
		return err
	}
	a := &netlink.Addr{IPNet: ipnet(p)}
	if validLft > 0 {
		a.ValidLft, a.PreferedLft = validLft, validLft
	}
	if err := h.nl[ns].AddrAdd(l, a); err != nil {
		return fmt.Errorf("lab: %s: address %s on %s: %w", ns, p, link, err)
	}
	return nil
}

func (h *handles) defaultRoute(ns string, gw netip.Addr) error {
	r := &netlink.Route{Dst: &net.IPNet{IP: net.IPv4zero, Mask: net.CIDRMask(0, 32)}, Gw: gw.AsSlice()}
	if err := h.nl[ns].RouteAdd(r); err != nil {
		return fmt.Errorf("lab: %s: default route via %s: %w", ns, gw, err)
	}
	return nil
}

// flannelPeer writes what flanneld writes for a remote node: the route to its pod CIDR through
// flannel.1 (onlink, via the remote's .0 address), the permanent neighbour entry of that .0 address
// with the remote VTEP MAC, and the permanent FDB entry sending that MAC to the remote VTEP IP.
func (h *handles) flannelPeer(ns string, peer *NodePlan, withRoute, withNeigh, withFDB bool) error {
	fl, err := h.link(ns, VXLANDevice)
	if err != nil {
		return err
	}
	mac, err := net.ParseMAC(peer.VtepMAC)
	if err != nil {
		return fmt.Errorf("lab: vtep mac of %s: %w", peer.Name, err)
	}
	gw := peer.PodCIDR.Addr()
	if withNeigh {
		n := &netlink.Neigh{LinkIndex: fl.Attrs().Index, Family: unix.AF_INET, State: netlink.NUD_PERMANENT,
			Type: unix.RTN_UNICAST, IP: gw.AsSlice(), HardwareAddr: mac}
		if err := h.nl[ns].NeighSet(n); err != nil {
			return fmt.Errorf("lab: %s: neighbour %s on %s: %w", ns, gw, VXLANDevice, err)
		}
	}
	if withFDB {
		f := &netlink.Neigh{LinkIndex: fl.Attrs().Index, Family: unix.AF_BRIDGE, State: netlink.NUD_PERMANENT,
			Flags: netlink.NTF_SELF, IP: peer.VTEP.AsSlice(), HardwareAddr: mac}
		if err := h.nl[ns].NeighSet(f); err != nil {
			return fmt.Errorf("lab: %s: fdb %s dst %s: %w", ns, mac, peer.VTEP, err)
		}
	}
	if withRoute {
		r := &netlink.Route{LinkIndex: fl.Attrs().Index, Dst: ipnet(peer.PodCIDR), Gw: gw.AsSlice(), Flags: int(netlink.FLAG_ONLINK)}
		if err := h.nl[ns].RouteAdd(r); err != nil {
			return fmt.Errorf("lab: %s: route %s via %s: %w", ns, peer.PodCIDR, gw, err)
		}
	}
	return nil
}

// vxlan creates flannel.1 the way flanneld's vxlan backend does.
func (h *handles) vxlan(ns string, n *NodePlan) error {
	eth, err := h.link(ns, "eth0")
	if err != nil {
		return err
	}
	mac, err := net.ParseMAC(n.VtepMAC)
	if err != nil {
		return fmt.Errorf("lab: vtep mac of %s: %w", n.Name, err)
	}
	attrs := netlink.NewLinkAttrs()
	attrs.Name, attrs.MTU, attrs.HardwareAddr = VXLANDevice, VXLANMTU, mac
	v := &netlink.Vxlan{LinkAttrs: attrs, VxlanId: VXLANVNI, VtepDevIndex: eth.Attrs().Index,
		SrcAddr: n.VTEP.AsSlice(), Port: VXLANPort, Learning: false}
	if err := h.nl[ns].LinkAdd(v); err != nil {
		return fmt.Errorf("lab: %s: vxlan %s: %w", ns, VXLANDevice, err)
	}
	if err := h.addr(ns, VXLANDevice, netip.PrefixFrom(n.PodCIDR.Addr(), 32), 0); err != nil {
		return err
	}
	return h.up(ns, VXLANDevice)
}

// sysctl writes /proc/sys/KEY (dotted or slashed) inside netns ns.
func (h *handles) sysctl(ns, key, value string) error {
	return writeSysctl(h.ns[ns], key, value)
}

func writeSysctl(ns *netns.NS, key, value string) error {
	path := filepath.Join("/proc/sys", filepath.FromSlash(dotted(key)))
	return ns.Do(func() error {
		if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
			return fmt.Errorf("lab: %s: sysctl %s=%s: %w", ns, key, value, err)
		}
		return nil
	})
}

func readSysctl(ns *netns.NS, key string) (string, error) {
	path := filepath.Join("/proc/sys", filepath.FromSlash(dotted(key)))
	var out []byte
	err := ns.Do(func() error {
		var err error
		out, err = os.ReadFile(path)
		return err
	})
	return string(out), err
}

// dotted turns net.ipv4.ip_forward into net/ipv4/ip_forward; interface names with dots (flannel.1)
// must be given with slashes.
func dotted(key string) string {
	out := []byte(key)
	for i, c := range out {
		if c == '.' {
			out[i] = '/'
		}
	}
	return string(out)
}

func ipnet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func netip4Prefix(a netip.Addr, bits int) netip.Prefix { return netip.PrefixFrom(a, bits) }
