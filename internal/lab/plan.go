// Package lab builds netdoctor's miniature Kubernetes cluster inside network namespaces and injects
// faults into it. It is the only package of netdoctor that changes networking, and it changes it only
// inside namespaces whose names start with the lab's name.
//
// A lab is described first by a Plan (pure data: nodes, pods, services, addresses, knobs a fault may
// turn), then built by Up, which records everything it made in a State (state.json) and writes the
// cluster view as a `kubectl get -o yaml`-style v1 List (dump.yaml). Down removes it by PID and by
// namespace name; it is idempotent. The diagnoser finds a running lab with Current and DumpPath.
package lab

import (
	"crypto/sha256"
	"fmt"
	networkingv1 "k8s.io/api/networking/v1"
	"net"
	"net/netip"
	"strings"
)

// Fixed addresses. Every lab uses the same ones: its namespaces are isolated from the root namespace
// and from other labs, so two labs never see each other's addresses.
var (
	UnderlayPrefix = netip.MustParsePrefix("192.168.56.0/24") // the node network (the "underlay")
	RouterUnderlay = netip.MustParseAddr("192.168.56.1")      // the router's address on the underlay
	OutsidePrefix  = netip.MustParsePrefix("198.51.100.0/24") // the network of the outside VM
	RouterOutside  = netip.MustParseAddr("198.51.100.1")      // the router's address towards the VM
	VMAddr         = netip.MustParseAddr("198.51.100.10")     // the outside VM
	ClusterCIDR    = netip.MustParsePrefix("10.244.0.0/16")   // flannel's network: one /24 per node
	ServiceCIDR    = netip.MustParsePrefix("10.96.0.0/12")    // ClusterIPs
	KubeDNSIP      = netip.MustParseAddr("10.96.0.10")        // the kube-dns Service
	WebIP          = netip.MustParseAddr("10.96.0.100")       // the default/web Service
	IngressIP      = netip.MustParseAddr("10.96.0.200")       // the ingress-nginx/ingress-nginx-controller Service
)

// Well-known values of the lab's cluster.
const (
	DNSDomain       = "cluster.local"
	VXLANDevice     = "flannel.1"
	VXLANPort       = 8472
	VXLANVNI        = 1
	VXLANMTU        = 1450
	UnderlayMTU     = 1500
	WebPort         = 80    // default/web Service port
	WebTargetPort   = 8080  // the web pods' containerPort
	WebNodePort     = 30080 // default/web NodePort
	VMPort          = 8080  // the outside VM's HTTP server
	WebEchoPort     = 9000  // UDP echo port of the web (and client) pods, also a port of Service web
	IngressPort     = 80    // the hostNetwork ingress controller's HTTP port on its node
	IngressNodePort = 30880 // NodePort of the ingress controller Service
	MaxNodes        = 100
	// DynamicAddrLifetime is the valid_lft in seconds of a DHCP-style address (finite, so `dynamic`).
	DynamicAddrLifetime = 86400
)

// Options choose the size of a lab.
type Options struct {
	Name        string // lab name; prefixes every namespace; default DefaultName
	Nodes       int    // node count, 3..MaxNodes; the last one is "the new node"
	PodsPerNode int    // extra application pods per node (for scale benchmarks), 0..50
	// K8s runs real Kubernetes under the lab (package lab/k8s): a control-plane node with etcd,
	// kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and containerd; real
	// kube-proxy and flanneld on every node; real CoreDNS with the kubernetes plugin.
	K8s bool
}

// Plan is the complete description of a lab before it is built. Faults may change it (Fault.Mutate)
// before Up builds it. It is stored in state.json, so it also describes the running lab.
type Plan struct {
	Name     string      `json:"name"`                 // the lab name, prefix of every namespace
	Nodes    []*NodePlan `json:"nodes"`                // in order; the last one is the new node
	Pods     []*PodPlan  `json:"pods"`                 // workload pods (DaemonSet pods exist only in the dump)
	Services []*Service  `json:"services"`             // kube-dns and web
	Router   string      `json:"routerNetns"`          // netns name of the router
	VM       string      `json:"vmNetns"`              // netns name of the outside VM
	Underlay string      `json:"underlayNetns"`        // netns name of the underlay bridge
	VMPID    int         `json:"vmPID,omitempty"`      // the outside VM's HTTP server (port VMPort)
	Extra    []ExtraHost `json:"extraHosts,omitempty"` // other machines on the underlay
	Events   []Event     `json:"events,omitempty"`     // extra Events for the dump (faults add them)
	// NetworkPolicies are networking.k8s.io/v1 NetworkPolicies for the dump (faults add them; the
	// fault that adds one also writes the rules that enforce it, as the CNI's policy agent would).
	NetworkPolicies []networkingv1.NetworkPolicy `json:"networkPolicies,omitempty"`
	Resolv          ResolvOptions                `json:"resolv"` // what the kubelet writes into pods' resolv.conf
	// K8s: real Kubernetes runs the lab (see Options.K8s); ControlPlane is then its control-plane
	// node, which hosts no lab pod (kubelet runs real pods there).
	K8s          bool      `json:"k8s,omitempty"`
	ControlPlane *NodePlan `json:"controlPlane,omitempty"`
}

// ControlPlaneIP and ControlPlanePodCIDR are the control-plane node's addresses in a --k8s lab.
var (
	ControlPlaneIP      = netip.MustParseAddr("192.168.56.10")
	ControlPlanePodCIDR = netip.MustParsePrefix("10.244.250.0/24")
)

// AllNodes is the control-plane node (in a --k8s lab) followed by Nodes.
func (p *Plan) AllNodes() []*NodePlan {
	if p.ControlPlane == nil {
		return p.Nodes
	}
	return append([]*NodePlan{p.ControlPlane}, p.Nodes...)
}

// ExtraHost is another machine on the underlay (e.g. the holder of a conflicting IP).
type ExtraHost struct {
	Netns string       `json:"netns"`
	Addr  netip.Prefix `json:"addr"`
}

// Event is a Kubernetes Event the dump carries.
type Event struct {
	Namespace string `json:"namespace"`
	Object    string `json:"object"` // "Pod/NAME" or "Node/NAME"
	Type      string `json:"type"`   // Normal or Warning
	Reason    string `json:"reason"`
	Message   string `json:"message"`
}

// ResolvOptions is what the kubelet writes into pods' resolv.conf.
type ResolvOptions struct {
	Search []string `json:"search,omitempty"` // default: NS.svc.cluster.local svc.cluster.local cluster.local
	Ndots  int      `json:"ndots"`
}

// NodePlan is one node.
type NodePlan struct {
	Name      string            `json:"name"`
	Netns     string            `json:"netns"`
	IP        netip.Addr        `json:"ip"`                 // InternalIP, static on eth0
	Dynamic   []netip.Prefix    `json:"dynamic,omitempty"`  // DHCP-style addresses on eth0 (valid_lft finite)
	VTEP      netip.Addr        `json:"vtep"`               // flannel.1 local address and public-ip annotation
	PodCIDR   netip.Prefix      `json:"podCIDR"`            //
	VtepMAC   string            `json:"vtepMAC"`            // flannel.1 MAC
	New       bool              `json:"new,omitempty"`      // the last node, joined recently
	KubeProxy KubeProxyState    `json:"kubeProxy"`          // kube-proxy pod state on this node
	Sysctls   map[string]string `json:"sysctls,omitempty"`  // extra sysctls (key under /proc/sys, dotted)
	Root      string            `json:"root"`               // host-like directory (etc/cni/net.d, ...)
	IPAMFull  bool              `json:"ipamFull,omitempty"` // host-local IPAM has no free address left
}

// KubeProxyState is how the kube-proxy DaemonSet pod of a node is doing.
type KubeProxyState struct {
	Running           bool   `json:"running"`
	Phase             string `json:"phase"`            // Running, Failed
	Reason            string `json:"reason,omitempty"` // Evicted
	Message           string `json:"message,omitempty"`
	PriorityClassName string `json:"priorityClassName,omitempty"`
}

// Port is a port a container declares or a process listens on.
type Port struct {
	Name  string `json:"name,omitempty"`
	Port  int    `json:"port"`
	Proto string `json:"proto"` // tcp, udp
}

// PodPlan is one pod.
type PodPlan struct {
	Namespace   string     `json:"namespace"`
	Name        string     `json:"name"`
	App         string     `json:"app"`   // label app=
	Owner       string     `json:"owner"` // ReplicaSet/Deployment name, for the dump
	Node        string     `json:"node"`
	Netns       string     `json:"netns"`             // netns name; empty when the pod has no sandbox
	HostVeth    string     `json:"hostVeth"`          // the veth end on the node, in cni0
	IP          netip.Addr `json:"ip,omitzero"`       // zero when no IP was allocated
	MTU         int        `json:"mtu"`               // eth0 MTU inside the pod
	Ports       []Port     `json:"ports"`             // containerPorts
	Listen      []Port     `json:"listen"`            // what the process really listens on
	DNS         bool       `json:"dns,omitempty"`     // runs the cluster DNS server
	Ready       bool       `json:"ready"`             // readiness as the kubelet reports it
	Phase       string     `json:"phase"`             // Running, Pending, Failed
	Waiting     string     `json:"waiting,omitempty"` // container waiting reason (ContainerCreating)
	Stopped     bool       `json:"stopped,omitempty"` // the netns exists but no process runs
	PID         int        `json:"pid,omitempty"`     // the server process, once started
	DNSPID      int        `json:"dnsPID,omitempty"`  // the real CoreDNS process of a DNS pod, when the lab runs it
	ContainerID string     `json:"containerID"`
	Priority    string     `json:"priorityClassName,omitempty"`
	// HostNetwork pods run in their node's netns (Netns is the node's) with the node IP: no veth,
	// no IPAM, no resolv.conf of their own.
	HostNetwork bool `json:"hostNetwork,omitempty"`
}

// Sandboxed reports whether the pod has a network namespace of its own (a pod network sandbox).
func (p *PodPlan) Sandboxed() bool { return !p.HostNetwork && p.Netns != "" && p.IP.IsValid() }

// ServicePort is one port of a Service.
type ServicePort struct {
	Name       string `json:"name"`
	Port       int    `json:"port"`
	TargetPort int    `json:"targetPort"`
	NodePort   int    `json:"nodePort,omitempty"`
	Proto      string `json:"proto"` // tcp, udp
}

// Service is a Kubernetes Service of the lab.
type Service struct {
	Namespace string        `json:"namespace"`
	Name      string        `json:"name"`
	ClusterIP netip.Addr    `json:"clusterIP"`
	Type      string        `json:"type"` // ClusterIP, NodePort
	App       string        `json:"app"`  // selector app=
	Ports     []ServicePort `json:"ports"`
}

// NewPlan returns the healthy plan for o.
func NewPlan(o Options) (*Plan, error) {
	if o.Name == "" {
		o.Name = DefaultName
	}
	if err := ValidName(o.Name); err != nil {
		return nil, err
	}
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	if o.Nodes < 3 || o.Nodes > MaxNodes {
		return nil, fmt.Errorf("lab: --nodes %d: want 3..%d (the seed faults need two old nodes and a new one)", o.Nodes, MaxNodes)
	}
	if o.PodsPerNode < 0 || o.PodsPerNode > 50 {
		return nil, fmt.Errorf("lab: --pods %d: want 0..50", o.PodsPerNode)
	}
	p := &Plan{
		Name: o.Name, Router: o.Name + "-router", VM: o.Name + "-vm", Underlay: o.Name + "-underlay",
		Resolv: ResolvOptions{Ndots: 5},
	}
	for i := 1; i <= o.Nodes; i++ {
		name := fmt.Sprintf("node%d", i)
		ip := netip.AddrFrom4([4]byte{192, 168, 56, byte(10 + i)})
		n := &NodePlan{
			Name: name, Netns: o.Name + "-" + name, IP: ip, VTEP: ip,
			PodCIDR: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 244, byte(i - 1), 0}), 24),
			VtepMAC: vtepMAC(o.Name, name).String(), New: i == o.Nodes,
			KubeProxy: KubeProxyState{Running: true, Phase: "Running", PriorityClassName: "system-node-critical"},
		}
		p.Nodes = append(p.Nodes, n)
	}
	// Two CoreDNS replicas and two web replicas on the first two nodes; a client pod on every node.
	dnsPorts := []Port{{Name: "dns", Port: 53, Proto: "udp"}, {Name: "dns-tcp", Port: 53, Proto: "tcp"}, {Name: "metrics", Port: 9153, Proto: "tcp"}}
	webPorts := []Port{{Name: "http", Port: WebTargetPort, Proto: "tcp"}, {Name: "echo", Port: WebEchoPort, Proto: "udp"}}
	for i := 0; i < 2; i++ {
		p.addPod("kube-system", "coredns", p.Nodes[i].Name, dnsPorts, i).DNS = true
	}
	for i := 0; i < 2; i++ {
		p.addPod("default", "web", p.Nodes[i].Name, webPorts, i)
	}
	// A hostNetwork ingress controller on the first two nodes, exposed by a NodePort Service: the
	// node's own stack answers (MTU 1500, MSS 1460), as on bare-metal clusters.
	for i := 0; i < 2; i++ {
		ing := p.addPod("ingress-nginx", "ingress-nginx-controller", p.Nodes[i].Name, []Port{{Name: "http", Port: IngressPort, Proto: "tcp"}}, i)
		ing.HostNetwork, ing.Netns, ing.HostVeth, ing.MTU = true, p.Nodes[i].Netns, "", UnderlayMTU
	}
	for _, n := range p.Nodes {
		c := p.addPod("default", "client", n.Name, webPorts, 0)
		c.Name, c.Owner = "client-"+n.Name, ""
		c.Netns = p.Name + "-pod-" + c.Name
		c.HostVeth = hostVeth(p.Name, c.Namespace, c.Name)
		c.ContainerID = containerID(p.Name, c.Name)
	}
	for _, n := range p.Nodes {
		for j := 0; j < o.PodsPerNode; j++ {
			a := p.addPod("default", "app", n.Name, webPorts, 0)
			a.Name = fmt.Sprintf("app-%s-%d", n.Name, j)
			a.Netns = p.Name + "-pod-" + a.Name
			a.HostVeth = hostVeth(p.Name, a.Namespace, a.Name)
			a.ContainerID = containerID(p.Name, a.Name)
		}
	}
	p.Services = []*Service{
		{Namespace: "kube-system", Name: "kube-dns", ClusterIP: KubeDNSIP, Type: "ClusterIP", App: "kube-dns", Ports: []ServicePort{
			{Name: "dns", Port: 53, TargetPort: 53, Proto: "udp"},
			{Name: "dns-tcp", Port: 53, TargetPort: 53, Proto: "tcp"},
			{Name: "metrics", Port: 9153, TargetPort: 9153, Proto: "tcp"}}},
		{Namespace: "default", Name: "web", ClusterIP: WebIP, Type: "NodePort", App: "web", Ports: []ServicePort{
			{Name: "http", Port: WebPort, TargetPort: WebTargetPort, NodePort: WebNodePort, Proto: "tcp"},
			{Name: "echo", Port: WebEchoPort, TargetPort: WebEchoPort, NodePort: WebNodePort + 1, Proto: "udp"}}},
		{Namespace: "ingress-nginx", Name: "ingress-nginx-controller", ClusterIP: IngressIP, Type: "NodePort", App: "ingress-nginx-controller", Ports: []ServicePort{
			{Name: "http", Port: 80, TargetPort: IngressPort, NodePort: IngressNodePort, Proto: "tcp"}}},
	}
	if o.K8s {
		p.K8s = true
		p.ControlPlane = &NodePlan{Name: "control-plane", Netns: o.Name + "-control-plane", IP: ControlPlaneIP, VTEP: ControlPlaneIP,
			PodCIDR: ControlPlanePodCIDR, VtepMAC: vtepMAC(o.Name, "control-plane").String(),
			KubeProxy: KubeProxyState{Running: true, Phase: "Running", PriorityClassName: "system-node-critical"}}
	}
	if err := p.AllocateIPs(); err != nil {
		return nil, err
	}
	return p, nil
}

// addPod adds a pod of a Deployment-like owner; replica i gets a stable, Kubernetes-looking name.
func (p *Plan) addPod(ns, app, node string, ports []Port, i int) *PodPlan {
	rs := app + "-" + nameHash(p.Name+"/"+app, 10)
	name := rs + "-" + nameHash(fmt.Sprintf("%s/%s/%d", p.Name, app, i), 5)
	label := app
	if app == "coredns" {
		label = "kube-dns"
	}
	pod := &PodPlan{
		Namespace: ns, Name: name, App: label, Owner: rs, Node: node, Netns: p.Name + "-pod-" + name,
		HostVeth: hostVeth(p.Name, ns, name), MTU: VXLANMTU, Ports: ports, Listen: append([]Port(nil), ports...),
		Ready: true, Phase: "Running", ContainerID: containerID(p.Name, name),
	}
	if app == "coredns" {
		pod.Priority = "system-cluster-critical"
	}
	p.Pods = append(p.Pods, pod)
	return pod
}

// AllocateIPs gives every pod that has a sandbox the next free address of its node's pod CIDR, the way
// host-local IPAM does (.1 is the gateway on cni0, allocation starts at .2). A pod on a node whose IPAM
// is full gets no IP and stays ContainerCreating.
func (p *Plan) AllocateIPs() error {
	next := map[string]int{}
	for _, pod := range p.Pods {
		n := p.Node(pod.Node)
		if n == nil {
			return fmt.Errorf("lab: pod %s on unknown node %s", pod.Name, pod.Node)
		}
		if pod.HostNetwork {
			pod.IP = n.IP
			continue
		}
		if n.IPAMFull && pod.Netns != "" && pod.Namespace == "default" && strings.HasPrefix(pod.Name, "client-") {
			pod.IP, pod.Phase, pod.Waiting, pod.Ready = netip.Addr{}, "Pending", "ContainerCreating", false
			continue
		}
		if _, ok := next[n.Name]; !ok {
			next[n.Name] = 2
		}
		if next[n.Name] > 254 {
			return fmt.Errorf("lab: node %s: pod CIDR %s exhausted", n.Name, n.PodCIDR)
		}
		b := n.PodCIDR.Addr().As4()
		b[3] = byte(next[n.Name])
		pod.IP = netip.AddrFrom4(b)
		next[n.Name]++
	}
	return nil
}

// Node returns the node named name, or nil.
func (p *Plan) Node(name string) *NodePlan {
	for _, n := range p.AllNodes() {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// NewNode returns the last node ("the new node").
func (p *Plan) NewNode() *NodePlan { return p.Nodes[len(p.Nodes)-1] }

// Pod returns the pod ns/name, or nil. name may also be a prefix up to the ReplicaSet hash, like
// "web-0" for the first web replica (see PodByApp).
func (p *Plan) Pod(ns, name string) *PodPlan {
	for _, pod := range p.Pods {
		if pod.Namespace == ns && pod.Name == name {
			return pod
		}
	}
	return nil
}

// PodsByApp returns the pods labelled app=app, in plan order.
func (p *Plan) PodsByApp(app string) []*PodPlan {
	var out []*PodPlan
	for _, pod := range p.Pods {
		if pod.App == app {
			out = append(out, pod)
		}
	}
	return out
}

// Client returns the client pod of a node.
func (p *Plan) Client(node string) *PodPlan { return p.Pod("default", "client-"+node) }

// Service returns the service ns/name, or nil.
func (p *Plan) Service(ns, name string) *Service {
	for _, s := range p.Services {
		if s.Namespace == ns && s.Name == name {
			return s
		}
	}
	return nil
}

// Namespaces lists every network namespace the plan needs, in creation order.
func (p *Plan) Namespaces() []string {
	out := []string{p.Underlay, p.Router, p.VM}
	for _, e := range p.Extra {
		out = append(out, e.Netns)
	}
	for _, n := range p.AllNodes() {
		out = append(out, n.Netns)
	}
	for _, pod := range p.Pods {
		if pod.Sandboxed() {
			out = append(out, pod.Netns)
		}
	}
	return out
}

// ValidName checks a lab name: 1-20 characters of [a-z0-9-], starting with a letter.
func ValidName(name string) error {
	if len(name) == 0 || len(name) > 20 {
		return fmt.Errorf("lab: name %q: want 1 to 20 characters", name)
	}
	for i, c := range name {
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' && i > 0 || c == '-' && i > 0
		if !ok {
			return fmt.Errorf("lab: name %q: use lower-case letters, digits and '-', starting with a letter", name)
		}
	}
	return nil
}

// nameHash is a stable, Kubernetes-looking suffix (the alphabet of rand.SafeEncodeString).
func nameHash(seed string, n int) string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	sum := sha256.Sum256([]byte(seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[int(sum[i])%len(alphabet)]
	}
	return string(b)
}

// hostVeth names the node end of a pod's veth like the bridge CNI plugin does: "veth" + 8 hex digits.
func hostVeth(lab, ns, pod string) string {
	sum := sha256.Sum256([]byte(lab + "/" + ns + "/" + pod))
	return fmt.Sprintf("veth%x", sum[:4])
}

// containerID is a stable 64-hex-digit sandbox ID.
func containerID(lab, pod string) string {
	sum := sha256.Sum256([]byte("sandbox/" + lab + "/" + pod))
	return fmt.Sprintf("%x", sum[:])
}

// vtepMAC is a stable locally administered unicast MAC for a node's flannel.1.
func vtepMAC(lab, node string) net.HardwareAddr {
	sum := sha256.Sum256([]byte("vtep/" + lab + "/" + node))
	mac := net.HardwareAddr(sum[:6])
	mac[0] = (mac[0] | 0x02) &^ 0x01
	return mac
}
