//go:build linux

package nodestate

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/netdoctor/netdoctor/internal/netns"
)

func take(ctx context.Context, ns *netns.NS, opt Options) (*Snapshot, error) {
	if err := ns.Alive(); err != nil {
		return nil, fmt.Errorf("nodestate: %w", err)
	}
	h, err := ns.Netlink()
	if err != nil {
		return nil, fmt.Errorf("nodestate: %w", err)
	}
	defer h.Close()
	// Netlink dumps are fast but must not hang forever on a wedged kernel.
	_ = h.SetSocketTimeout(5 * time.Second)

	s := &Snapshot{Netns: ns.String(), Taken: time.Now()}
	var mu sync.Mutex
	errf := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		s.Errors = append(s.Errors, fmt.Sprintf(format, args...))
	}

	// The external commands (iptables-save of a big node takes most of a snapshot's time) run
	// while netlink is read.
	var (
		ipt       *Iptables
		ipsets    map[string]*IPSet
		tables    [][2]string
		tablesErr error
		ext       = make(chan struct{})
	)
	go func() {
		defer close(ext)
		var wg sync.WaitGroup
		if !opt.SkipIptables {
			wg.Add(1)
			go func() { defer wg.Done(); ipsets = readIPSets(ctx, ns, opt, errf) }()
			ipt = readIptables(ctx, ns, opt, errf)
		}
		if !opt.SkipNft {
			tables, tablesErr = nftTables(ns)
		}
		wg.Wait()
	}()

	nlLinks, err := h.LinkList()
	if err != nil {
		<-ext
		return nil, fmt.Errorf("nodestate: list links in %s: %w", ns, err)
	}
	names := map[int]string{}
	for _, l := range nlLinks {
		names[l.Attrs().Index] = l.Attrs().Name
	}
	s.Links = convertLinks(nlLinks, names)
	if addrs, err := h.AddrList(nil, netlink.FAMILY_ALL); err != nil {
		errf("addresses: %v", err)
	} else {
		attachAddrs(s, addrs)
	}
	if routes, err := h.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE); err != nil {
		errf("routes: %v", err)
	} else {
		s.Routes = convertRoutes(routes, names)
	}
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		rules, err := h.RuleList(fam)
		if err != nil {
			errf("rules: %v", err)
			continue
		}
		s.Rules = append(s.Rules, convertRules(rules, fam)...)
	}
	if neighs, err := h.NeighList(0, netlink.FAMILY_ALL); err != nil {
		errf("neighbours: %v", err)
	} else {
		s.Neighbors = convertNeighbors(neighs, names)
	}
	if fdb, err := h.NeighList(0, unix.AF_BRIDGE); err != nil {
		errf("fdb: %v", err)
	} else {
		s.FDB = convertFDB(fdb, names)
	}
	if err := ctx.Err(); err != nil {
		<-ext
		return nil, fmt.Errorf("nodestate: %w", context.Cause(ctx))
	}
	if s.Sysctls, err = readSysctls(ns); err != nil {
		errf("sysctls: %v", err)
	}
	if !opt.SkipSockets {
		s.Sockets, err = listSockets(ns)
		if err != nil {
			errf("sockets: %v", err)
		}
	}
	<-ext
	s.Iptables, s.IPSets = ipt, ipsets
	if !opt.SkipNft {
		if tablesErr != nil {
			errf("nft tables: %v", tablesErr)
		} else {
			s.Nft = readNft(ctx, ns, opt, tables, s.Iptables, errf)
		}
	}
	if !opt.SkipHostFiles {
		readHostFiles(s, opt.Root, errf)
	}
	// The namespace vanishing mid-read makes the whole snapshot meaningless.
	if err := ns.Alive(); err != nil {
		return nil, fmt.Errorf("nodestate: %w", err)
	}
	return s, nil
}

func convertLinks(nl []netlink.Link, names map[int]string) []Link {
	out := make([]Link, 0, len(nl))
	for _, l := range nl {
		a := l.Attrs()
		lk := Link{
			Index: a.Index, Name: a.Name, Alias: a.Alias, Type: l.Type(), MTU: a.MTU,
			State: a.OperState.String(), Up: a.Flags&net.FlagUp != 0, Master: names[a.MasterIndex],
			PeerNetnsID: -1,
		}
		if len(a.HardwareAddr) > 0 {
			lk.MAC = a.HardwareAddr.String()
		}
		if lk.Type == "veth" {
			lk.PeerIndex = a.ParentIndex
			if a.NetNsID >= 0 {
				lk.PeerNetnsID = a.NetNsID
			}
		}
		if vx, ok := l.(*netlink.Vxlan); ok {
			v := &VXLAN{VNI: vx.VxlanId, Port: vx.Port, Learning: vx.Learning, Dev: names[vx.VtepDevIndex]}
			v.Local = ipAddr(vx.SrcAddr)
			v.Group = ipAddr(vx.Group)
			lk.VXLAN = v
		}
		out = append(out, lk)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out
}

const lftForever = 0xFFFFFFFF

func attachAddrs(s *Snapshot, addrs []netlink.Addr) {
	for _, a := range addrs {
		l := s.LinkByIndex(a.LinkIndex)
		if l == nil || a.IPNet == nil {
			continue
		}
		ip := ipAddr(a.IP)
		ones, _ := a.Mask.Size()
		ad := Addr{
			IP: ip, Prefix: netip.PrefixFrom(ip, ones),
			Secondary: a.Flags&unix.IFA_F_SECONDARY != 0,
			Permanent: a.Flags&unix.IFA_F_PERMANENT != 0,
		}
		// iproute2 prints "dynamic" for every address without IFA_F_PERMANENT.
		ad.Dynamic = !ad.Permanent
		if a.ValidLft > 0 && uint32(a.ValidLft) != lftForever {
			ad.ValidLft = time.Duration(a.ValidLft) * time.Second
		}
		if a.PreferedLft > 0 && uint32(a.PreferedLft) != lftForever {
			ad.PreferredLft = time.Duration(a.PreferedLft) * time.Second
		}
		if a.Label != l.Name {
			ad.Label = a.Label
		}
		l.Addrs = append(l.Addrs, ad)
	}
}

var routeTypes = map[int]string{
	unix.RTN_UNICAST: "unicast", unix.RTN_LOCAL: "local", unix.RTN_BROADCAST: "broadcast",
	unix.RTN_ANYCAST: "anycast", unix.RTN_MULTICAST: "multicast", unix.RTN_BLACKHOLE: "blackhole",
	unix.RTN_UNREACHABLE: "unreachable", unix.RTN_PROHIBIT: "prohibit", unix.RTN_THROW: "throw",
	unix.RTN_NAT: "nat",
}

func routeType(t int) string {
	if s, ok := routeTypes[t]; ok {
		return s
	}
	return fmt.Sprintf("type%d", t)
}

var routeProtos = map[int]string{
	unix.RTPROT_KERNEL: "kernel", unix.RTPROT_BOOT: "boot", unix.RTPROT_STATIC: "static",
	unix.RTPROT_DHCP: "dhcp", unix.RTPROT_RA: "ra", unix.RTPROT_BIRD: "bird", unix.RTPROT_ZEBRA: "zebra",
	unix.RTPROT_REDIRECT: "redirect",
}

func convertRoutes(rs []netlink.Route, names map[int]string) []Route {
	out := make([]Route, 0, len(rs))
	for _, r := range rs {
		ro := Route{
			Table: r.Table, Type: routeType(r.Type), Dev: names[r.LinkIndex], Gw: ipAddr(r.Gw),
			Src: ipAddr(r.Src), Onlink: r.Flags&unix.RTNH_F_ONLINK != 0, MTU: r.MTU, Metric: r.Priority,
			Scope: r.Scope.String(),
		}
		if p, ok := routeProtos[int(r.Protocol)]; ok {
			ro.Proto = p
		} else {
			ro.Proto = fmt.Sprint(int(r.Protocol))
		}
		if r.Dst != nil {
			ones, _ := r.Dst.Mask.Size()
			ro.Dst = netip.PrefixFrom(ipAddr(r.Dst.IP), ones)
		} else if r.Family == netlink.FAMILY_V6 {
			ro.Dst = netip.MustParsePrefix("::/0")
		} else {
			ro.Dst = netip.MustParsePrefix("0.0.0.0/0")
		}
		for i, nh := range r.MultiPath {
			gw := ipAddr(nh.Gw)
			if i == 0 && !ro.Gw.IsValid() {
				ro.Gw = gw
				if ro.Dev == "" {
					ro.Dev = names[nh.LinkIndex]
				}
			}
			ro.Multipath = append(ro.Multipath, fmt.Sprintf("via %s dev %s", gw, names[nh.LinkIndex]))
		}
		out = append(out, ro)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Table != out[j].Table {
			return out[i].Table < out[j].Table
		}
		if out[i].Dst.Addr().Is4() != out[j].Dst.Addr().Is4() {
			return out[i].Dst.Addr().Is4()
		}
		if c := out[i].Dst.Addr().Compare(out[j].Dst.Addr()); c != 0 {
			return c < 0
		}
		return out[i].Dst.Bits() < out[j].Dst.Bits()
	})
	return out
}

func convertRules(rs []netlink.Rule, fam int) []Rule {
	out := make([]Rule, 0, len(rs))
	f := 4
	if fam == netlink.FAMILY_V6 {
		f = 6
	}
	for _, r := range rs {
		ru := Rule{Family: f, Priority: r.Priority, Table: r.Table, Iif: r.IifName, Oif: r.OifName,
			Mark: r.Mark, Invert: r.Invert, SuppressPrefixlen: r.SuppressPrefixlen}
		// The netlink library does not decode the rule's action (fib_rule_hdr.action); a rule
		// with a table looks it up, one with a goto target jumps, anything else is a
		// blackhole / unreachable / prohibit / nop rule ("other").
		switch {
		case r.Goto > 0:
			ru.Action = "goto"
		case r.Table != 0:
			ru.Action = "lookup"
		default:
			ru.Action = "other"
		}
		if r.Mask != nil {
			ru.Mask = *r.Mask
		} else if r.Mark != 0 {
			ru.Mask = 0xffffffff
		}
		if r.Src != nil {
			ones, _ := r.Src.Mask.Size()
			ru.Src = netip.PrefixFrom(ipAddr(r.Src.IP), ones)
		}
		if r.Dst != nil {
			ones, _ := r.Dst.Mask.Size()
			ru.Dst = netip.PrefixFrom(ipAddr(r.Dst.IP), ones)
		}
		out = append(out, ru)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Priority < out[j].Priority })
	return out
}

func nudState(st int) string {
	var parts []string
	for _, n := range []struct {
		bit  int
		name string
	}{{unix.NUD_INCOMPLETE, "INCOMPLETE"}, {unix.NUD_REACHABLE, "REACHABLE"}, {unix.NUD_STALE, "STALE"},
		{unix.NUD_DELAY, "DELAY"}, {unix.NUD_PROBE, "PROBE"}, {unix.NUD_FAILED, "FAILED"},
		{unix.NUD_NOARP, "NOARP"}, {unix.NUD_PERMANENT, "PERMANENT"}} {
		if st&n.bit != 0 {
			parts = append(parts, n.name)
		}
	}
	if len(parts) == 0 {
		return "NONE"
	}
	return strings.Join(parts, ",")
}

func convertNeighbors(ns []netlink.Neigh, names map[int]string) []Neighbor {
	out := make([]Neighbor, 0, len(ns))
	for _, n := range ns {
		if n.IP == nil {
			continue
		}
		nb := Neighbor{Dev: names[n.LinkIndex], IP: ipAddr(n.IP), State: nudState(n.State)}
		if len(n.HardwareAddr) > 0 {
			nb.MAC = n.HardwareAddr.String()
		}
		out = append(out, nb)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Dev != out[j].Dev {
			return out[i].Dev < out[j].Dev
		}
		return out[i].IP.Less(out[j].IP)
	})
	return out
}

func convertFDB(ns []netlink.Neigh, names map[int]string) []FDBEntry {
	out := make([]FDBEntry, 0, len(ns))
	for _, n := range ns {
		e := FDBEntry{Dev: names[n.LinkIndex], Master: names[n.MasterIndex], Dst: ipAddr(n.IP),
			Self: n.Flags&unix.NTF_SELF != 0, Permanent: n.State&unix.NUD_PERMANENT != 0,
			VNI: n.VNI, Vlan: n.Vlan}
		if len(n.HardwareAddr) > 0 {
			e.MAC = n.HardwareAddr.String()
		}
		out = append(out, e)
	}
	return out
}

// listSockets dumps sockets through a sock_diag socket opened inside ns: a per-netns netlink
// handle only covers NETLINK_ROUTE, other protocols would silently read the caller's namespace.
func listSockets(ns *netns.NS) ([]Socket, error) {
	var out []Socket
	err := ns.Do(func() error {
		h, err := netlink.NewHandle(unix.NETLINK_INET_DIAG)
		if err != nil {
			return err
		}
		defer h.Close()
		_ = h.SetSocketTimeout(5 * time.Second)
		out, err = dumpSockets(h)
		return err
	})
	return out, err
}

func dumpSockets(h *netlink.Handle) ([]Socket, error) {
	var out []Socket
	for _, fam := range []uint8{unix.AF_INET, unix.AF_INET6} {
		tcp, err := h.SocketDiagTCP(fam)
		if err != nil {
			return out, fmt.Errorf("tcp: %w", err)
		}
		for _, so := range tcp {
			if so.State == 10 { // TCP_LISTEN
				out = append(out, Socket{Proto: "tcp", Local: sockAddr(so), State: "LISTEN", Inode: so.INode})
			}
		}
		udp, err := h.SocketDiagUDP(fam)
		if err != nil {
			return out, fmt.Errorf("udp: %w", err)
		}
		for _, so := range udp {
			if so.State == 7 { // TCP_CLOSE: bound, not connected
				out = append(out, Socket{Proto: "udp", Local: sockAddr(so), State: "UNCONN", Inode: so.INode})
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Proto != out[j].Proto {
			return out[i].Proto < out[j].Proto
		}
		return out[i].Local.Port() < out[j].Local.Port()
	})
	return out, nil
}

func sockAddr(so *netlink.Socket) netip.AddrPort {
	return netip.AddrPortFrom(ipAddr(so.ID.Source), so.ID.SourcePort)
}

// ipAddr converts a net.IP to netip.Addr, IPv4 unmapped; the zero Addr for nil or unspecified-nil.
func ipAddr(ip net.IP) netip.Addr {
	if ip == nil {
		return netip.Addr{}
	}
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Addr{}
	}
	return a.Unmap()
}
