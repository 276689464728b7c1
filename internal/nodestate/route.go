package nodestate

import "net/netip"

// RouteQuery is a FIB look-up: where the kernel sends Dst. With Iif set the packet is looked up
// as a forwarded one arriving on Iif from Src (ip route get DST from SRC iif IIF); without it as a
// locally generated one (Src then selects the source, as ip route get DST from SRC).
type RouteQuery struct {
	Dst  netip.Addr `json:"dst"`
	Src  netip.Addr `json:"src,omitempty"`
	Iif  string     `json:"iif,omitempty"`
	Mark uint32     `json:"mark,omitempty"`
}

// RouteResult is the route the kernel picked.
type RouteResult struct {
	Query RouteQuery `json:"query"`
	// Type is unicast, local, broadcast, multicast, blackhole, unreachable, prohibit or throw.
	// A look-up the kernel refused (EHOSTUNREACH, ENETUNREACH, EACCES…) has the matching Type and Error.
	Type string `json:"type"`
	// Dev is the output interface, "" for blackhole / unreachable / prohibit.
	Dev string     `json:"dev,omitempty"`
	Gw  netip.Addr `json:"gw,omitempty"`
	// Src is the source address the kernel would use (prefsrc), invalid when none.
	Src   netip.Addr `json:"src,omitempty"`
	Table int        `json:"table"`
	MTU   int        `json:"mtu,omitempty"`
	// Error is the kernel's answer when it refused the look-up ("network is unreachable").
	Error string `json:"error,omitempty"`
	// VTEP is set when Dev is a VXLAN device: how the next hop is encapsulated.
	VTEP *VTEPInfo `json:"vtep,omitempty"`
}

// VTEPInfo is how a VXLAN device would encapsulate the packet.
type VTEPInfo struct {
	// Device is the VXLAN device's parameters (VNI, local, dev, port).
	Device VXLAN `json:"device"`
	// NextHop is the inner next hop (Gw, or Dst when on-link).
	NextHop netip.Addr `json:"nextHop"`
	// Neighbor is the ARP entry of NextHop on the VXLAN device (its MAC), nil when none.
	Neighbor *Neighbor `json:"neighbor,omitempty"`
	// FDB is the FDB entry for that MAC (or the all-zeros default entry), nil when none.
	FDB *FDBEntry `json:"fdb,omitempty"`
	// RemoteVTEP is the underlay address the encapsulated packet goes to, invalid when unknown.
	RemoteVTEP netip.Addr `json:"remoteVtep,omitempty"`
	// Problem says why the packet cannot be encapsulated ("no neighbour entry for 10.244.2.0 on
	// flannel.1"), "" when it can.
	Problem string `json:"problem,omitempty"`
}
