package nodestate

// walkNft is replaced below when the nftables walker lands.
func walkNft(s *Snapshot, w *NATWalk, p Packet) {}
