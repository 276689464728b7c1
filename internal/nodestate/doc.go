// Package nodestate takes a read-only snapshot of one network namespace (a node's or a pod's) and
// answers questions about it: what a NAT table does to a packet (WalkNAT), which route a forwarded
// packet gets (RouteLookup), which addresses are local, which ports listen.
//
// A Snapshot is plain data with JSON tags: checks test it without root by building one by hand. Take
// fills it from the kernel through a per-namespace netlink handle, from /proc/sys read on a thread
// inside the namespace, and from iptables-save / nft run inside the namespace. Host files (CNI
// config, IPAM state, flannel's subnet.env, the kubelet config) are read under Options.Root.
//
// Nothing here changes the namespace: no link, address, route, rule, neighbour, FDB entry, iptables
// or nft rule, sysctl or file is written. Errors are prefixed "nodestate: ".
package nodestate
