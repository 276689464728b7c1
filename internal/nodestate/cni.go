package nodestate

// CNIState is the CNI configuration and host-local IPAM state of a node.
type CNIState struct {
	// Dir is the config directory read (Root + /etc/cni/net.d).
	Dir string `json:"dir"`
	// Configs are the .conf / .conflist / .json files in Dir, in the order the runtime picks them
	// (lexical): the first valid one is the one in use.
	Configs []CNIConfig `json:"configs"`
	// IPAM are the host-local ranges with their usage, one per range of each network.
	IPAM []IPAMRange `json:"ipam,omitempty"`
}

// CNIConfig is one CNI config file.
type CNIConfig struct {
	File string `json:"file"`
	Name string `json:"name"`
	// Type is the first plugin's type (flannel, bridge, calico, …).
	Type string `json:"type"`
	// Plugins are the types of every plugin of a conflist, in order.
	Plugins []string `json:"plugins"`
	// Bridge is the bridge name of a bridge plugin (or flannel's delegate), "" otherwise.
	Bridge string `json:"bridge,omitempty"`
	// Subnet is the host-local IPAM subnet when given in the file.
	Subnet string `json:"subnet,omitempty"`
	// MTU is the mtu setting when given, 0 otherwise.
	MTU int `json:"mtu,omitempty"`
	// IPAMType is the ipam plugin type (host-local, calico-ipam, …).
	IPAMType string `json:"ipamType,omitempty"`
	// Error says why the file could not be parsed; the other fields are then empty.
	Error string `json:"error,omitempty"`
}

// IPAMRange is the usage of one host-local range (var/lib/cni/networks/NETWORK).
type IPAMRange struct {
	// Network is the CNI network name (the directory name).
	Network string `json:"network"`
	// Range is the subnet or range start-end.
	Range string `json:"range"`
	// Used counts reserved addresses in the range; Free counts the rest usable ones (the network,
	// the gateway and the broadcast address excluded).
	Used int `json:"used"`
	Free int `json:"free"`
	// Addresses are the reserved addresses with the container ID that holds each ("10.244.1.5 abc…").
	Addresses []string `json:"addresses,omitempty"`
}
