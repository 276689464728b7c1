package nodestate

import "net/netip"

// Link returns the link named name, or nil.
func (s *Snapshot) Link(name string) *Link {
	if s == nil {
		return nil
	}
	for i := range s.Links {
		if s.Links[i].Name == name {
			return &s.Links[i]
		}
	}
	return nil
}

// LinkByIndex returns the link with ifindex idx, or nil.
func (s *Snapshot) LinkByIndex(idx int) *Link {
	if s == nil {
		return nil
	}
	for i := range s.Links {
		if s.Links[i].Index == idx {
			return &s.Links[i]
		}
	}
	return nil
}

// LocalAddrs returns every address assigned to a link of the namespace (what addrtype LOCAL and
// "is this IP mine" mean), in link order, plus the local-table routes' addresses not on a link.
func (s *Snapshot) LocalAddrs() []netip.Addr {
	if s == nil {
		return nil
	}
	seen := map[netip.Addr]bool{}
	var out []netip.Addr
	for _, l := range s.Links {
		for _, a := range l.Addrs {
			if !seen[a.IP] {
				seen[a.IP] = true
				out = append(out, a.IP)
			}
		}
	}
	for _, r := range s.Routes {
		if r.Type == "local" && r.Dst.IsSingleIP() && !seen[r.Dst.Addr()] {
			seen[r.Dst.Addr()] = true
			out = append(out, r.Dst.Addr())
		}
	}
	return out
}

// IsLocal reports whether ip is an address of this namespace: assigned to a link, inside a local
// route (127.0.0.0/8 on lo) or in the local table.
func (s *Snapshot) IsLocal(ip netip.Addr) bool {
	if s == nil || !ip.IsValid() {
		return false
	}
	ip = ip.Unmap()
	for _, r := range s.Routes {
		if r.Type == "local" && r.Dst.Contains(ip) {
			return true
		}
	}
	for _, a := range s.LocalAddrs() {
		if a == ip {
			return true
		}
	}
	return false
}

// ListensOn reports whether some socket of proto ("tcp" or "udp") listens on port, on any address.
func (s *Snapshot) ListensOn(proto string, port uint16) bool {
	if s == nil {
		return false
	}
	for _, so := range s.Sockets {
		if so.Proto == proto && so.Local.Port() == port {
			return true
		}
	}
	return false
}

// AddrsOf returns the addresses of the link named name (nil when there is no such link).
func (s *Snapshot) AddrsOf(name string) []Addr {
	if l := s.Link(name); l != nil {
		return l.Addrs
	}
	return nil
}
