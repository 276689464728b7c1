// Package k8s runs real Kubernetes under a lab (`netdoctor lab up --k8s`): etcd and kube-apiserver,
// kube-controller-manager and kube-scheduler on a control-plane node, real kube-proxy (iptables mode)
// and real flanneld (VXLAN) on every node, real CoreDNS with the kubernetes plugin, and kubelet with
// containerd and runc on the control-plane node so that real pods (the netdoctor agent DaemonSet)
// run there. It knows nothing of the lab's plan: package lab describes the cluster to it with the
// plain types below and writes the cluster's objects itself.
//
// Every process runs inside a lab network namespace (nsenter --net), is recorded by PID in the
// lab's state, and is killed by PID (and by namespace) when the lab goes down; every file lives
// under the lab's state directory.
package k8s

import (
	"net/netip"
)

// Version is the Kubernetes release the lab runs (the one test/k8s/build.sh builds).
const Version = "v1.37.2"

// Proc is a long-running component process the lab started.
type Proc struct {
	Name  string `json:"name"`  // component, e.g. "kube-proxy/node1"
	PID   int    `json:"pid"`   //
	Netns string `json:"netns"` // netns path it runs in
	Log   string `json:"log"`   // its stdout and stderr
	Exe   string `json:"exe"`   // argv[0]: Kill checks the PID still runs it
}

// KubeletSpec describes containerd + kubelet on one node of a lab.
type KubeletSpec struct {
	Node    string       // node name (the Node object kubelet registers)
	Netns   string       // path of the node's network namespace, e.g. /run/netns/ndlab-control-plane
	NodeIP  netip.Addr   // the node's InternalIP (on its eth0)
	PodCIDR netip.Prefix // the node's pod CIDR (spec.podCIDR); the bridge CNI allocates from PodRange
	// PodRange is the part of PodCIDR the kubelet's IPAM (host-local) may hand out, so that it never
	// collides with addresses the lab gave its own pods on the same bridge.
	PodRange [2]netip.Addr
	PodMTU   int // MTU of pods' eth0 (the flannel VXLAN MTU)
	// Dir holds everything of this node's kubelet and containerd: configs, containerd root and state,
	// kubelet root, CNI config and IPAM state, logs. It lives under the lab's state directory.
	Dir string
	// CgroupRoot is the cgroup (in every v1 hierarchy) that holds the node's pods, e.g. /ndlab-control-plane.
	CgroupRoot string
	// APIServer is the URL kubelet talks to (https://IP:6443), CAFile the CA that signed it.
	APIServer, CAFile string
	// Token is a bearer token of user system:node:NODE in group system:nodes.
	Token string
	// ClientCAFile is the CA whose client certificates kubelet accepts (the API server's kubelet client).
	ClientCAFile string
	// ClusterDNS and ClusterDomain go into pods' resolv.conf.
	ClusterDNS    netip.Addr
	ClusterDomain string
	// Images are docker-save/OCI archives imported into containerd's k8s.io namespace before kubelet starts.
	Images []string
	// SandboxImage is the pause image reference (one of Images).
	SandboxImage string
	// Bins are the binaries to run.
	Kubelet, Containerd, Runc, CNIBinDir string
}
