// Package kube is the cluster view: what the API server knows about Nodes, Pods, Services,
// EndpointSlices, DaemonSets, Events, PriorityClasses and NetworkPolicies.
//
// A Cluster is loaded from a dump (what `kubectl get -A -o yaml|json` prints, a `v1 List`, or
// several YAML documents) or, in a later version, fetched from a live API server. It is read-only and
// its look-ups never reason from names netdoctor's own lab uses: kube-proxy is found by what its pods
// run, the DNS service by the address pods use as nameserver.
package kube

import (
	"net/netip"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
)

// Annotations netdoctor reads on Nodes and Pods to find their namespaces and host files.
const (
	// AnnotationNetns on a Node or Pod: path of its network namespace (or a name under /run/netns).
	AnnotationNetns = "netdoctor.dev/netns"
	// AnnotationPID on a Pod: a process inside the pod's network namespace.
	AnnotationPID = "netdoctor.dev/pid"
	// AnnotationRoot on a Node: a directory where the node's host files are visible (etc/cni/net.d…).
	AnnotationRoot = "netdoctor.dev/root"
	// AnnotationFlannelPublicIP is the address flannel announces as the node's VTEP.
	AnnotationFlannelPublicIP = "flannel.alpha.coreos.com/public-ip"
	// AnnotationFlannelBackendData holds {"VNI":1,"VtepMAC":"…"}.
	AnnotationFlannelBackendData = "flannel.alpha.coreos.com/backend-data"
)

// Cluster is a read-only snapshot of the objects a diagnosis needs.
type Cluster struct {
	Nodes           []corev1.Node
	Pods            []corev1.Pod
	Services        []corev1.Service
	EndpointSlices  []discoveryv1.EndpointSlice
	DaemonSets      []appsv1.DaemonSet
	Events          []corev1.Event
	PriorityClasses []schedulingv1.PriorityClass
	NetworkPolicies []networkingv1.NetworkPolicy
	// Namespaces are the Namespace objects a dump holds (their labels feed NetworkPolicy
	// namespaceSelectors); may be empty.
	Namespaces []corev1.Namespace
	// Source says where the view came from: a dump path or an API server URL.
	Source string
}

// Node returns the named node or nil.
func (c *Cluster) Node(name string) *corev1.Node {
	for i := range c.Nodes {
		if c.Nodes[i].Name == name {
			return &c.Nodes[i]
		}
	}
	return nil
}

// Namespace returns the named Namespace object or nil.
func (c *Cluster) Namespace(name string) *corev1.Namespace {
	for i := range c.Namespaces {
		if c.Namespaces[i].Name == name {
			return &c.Namespaces[i]
		}
	}
	return nil
}

// Pod returns the pod namespace/name or nil.
func (c *Cluster) Pod(namespace, name string) *corev1.Pod {
	for i := range c.Pods {
		if c.Pods[i].Namespace == namespace && c.Pods[i].Name == name {
			return &c.Pods[i]
		}
	}
	return nil
}

// Service returns the service namespace/name or nil.
func (c *Cluster) Service(namespace, name string) *corev1.Service {
	for i := range c.Services {
		if c.Services[i].Namespace == namespace && c.Services[i].Name == name {
			return &c.Services[i]
		}
	}
	return nil
}

// ServiceByIP returns the service whose ClusterIP (any family) is ip, or nil.
func (c *Cluster) ServiceByIP(ip netip.Addr) *corev1.Service {
	for i := range c.Services {
		s := &c.Services[i]
		for _, a := range append([]string{s.Spec.ClusterIP}, s.Spec.ClusterIPs...) {
			if p, err := netip.ParseAddr(a); err == nil && p == ip {
				return s
			}
		}
	}
	return nil
}

// PodByIP returns the running (not finished) pod that holds ip and does not use the host network.
func (c *Cluster) PodByIP(ip netip.Addr) *corev1.Pod {
	for i := range c.Pods {
		p := &c.Pods[i]
		if p.Spec.HostNetwork || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		for _, a := range PodIPs(p) {
			if a == ip {
				return p
			}
		}
	}
	return nil
}

// NodeByIP returns the node with ip among its addresses, or nil.
func (c *Cluster) NodeByIP(ip netip.Addr) *corev1.Node {
	for i := range c.Nodes {
		for _, a := range c.Nodes[i].Status.Addresses {
			if p, err := netip.ParseAddr(a.Address); err == nil && p == ip {
				return &c.Nodes[i]
			}
		}
	}
	return nil
}

// NodeForPodCIDR returns the node whose podCIDR(s) contain ip, or nil.
func (c *Cluster) NodeForPodCIDR(ip netip.Addr) *corev1.Node {
	for i := range c.Nodes {
		n := &c.Nodes[i]
		for _, s := range append([]string{n.Spec.PodCIDR}, n.Spec.PodCIDRs...) {
			if p, err := netip.ParsePrefix(s); err == nil && p.Contains(ip) {
				return n
			}
		}
	}
	return nil
}

// PodIPs returns the pod's addresses (status.podIPs, else status.podIP).
func PodIPs(p *corev1.Pod) []netip.Addr {
	var out []netip.Addr
	seen := map[netip.Addr]bool{}
	add := func(s string) {
		if a, err := netip.ParseAddr(s); err == nil && !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	for _, ip := range p.Status.PodIPs {
		add(ip.IP)
	}
	add(p.Status.PodIP)
	return out
}

// InternalIP returns the node's first InternalIP (IPv4 preferred).
func InternalIP(n *corev1.Node) netip.Addr {
	var v6 netip.Addr
	for _, a := range n.Status.Addresses {
		if a.Type != corev1.NodeInternalIP {
			continue
		}
		if p, err := netip.ParseAddr(a.Address); err == nil {
			if p.Is4() {
				return p
			}
			if !v6.IsValid() {
				v6 = p
			}
		}
	}
	return v6
}

// PodsOnNode lists the pods scheduled to node.
func (c *Cluster) PodsOnNode(node string) []*corev1.Pod {
	var out []*corev1.Pod
	for i := range c.Pods {
		if c.Pods[i].Spec.NodeName == node {
			out = append(out, &c.Pods[i])
		}
	}
	return out
}

// EndpointSlicesFor lists the EndpointSlices of a service (label kubernetes.io/service-name).
func (c *Cluster) EndpointSlicesFor(s *corev1.Service) []*discoveryv1.EndpointSlice {
	var out []*discoveryv1.EndpointSlice
	for i := range c.EndpointSlices {
		e := &c.EndpointSlices[i]
		if e.Namespace == s.Namespace && e.Labels[discoveryv1.LabelServiceName] == s.Name {
			out = append(out, e)
		}
	}
	return out
}

// EventsFor lists the events whose involved object is kind namespace/name.
func (c *Cluster) EventsFor(kind, namespace, name string) []*corev1.Event {
	var out []*corev1.Event
	for i := range c.Events {
		e := &c.Events[i]
		if e.InvolvedObject.Kind == kind && e.InvolvedObject.Namespace == namespace && e.InvolvedObject.Name == name {
			out = append(out, e)
		}
	}
	return out
}

// IsKubeProxy reports whether the pod runs kube-proxy: a container whose image or command is
// kube-proxy. Names and labels are not trusted; what runs is.
func IsKubeProxy(p *corev1.Pod) bool {
	for _, ct := range p.Spec.Containers {
		img := ct.Image
		if i := strings.LastIndexByte(img, '/'); i >= 0 {
			img = img[i+1:]
		}
		if strings.HasPrefix(img, "kube-proxy:") || img == "kube-proxy" {
			return true
		}
		for _, a := range append(append([]string{}, ct.Command...), ct.Args...) {
			if strings.HasSuffix(strings.Fields(a + " x")[0], "kube-proxy") {
				return true
			}
		}
	}
	return false
}

// KubeProxyDaemonSet returns the DaemonSet whose pod template runs kube-proxy, or nil.
func (c *Cluster) KubeProxyDaemonSet() *appsv1.DaemonSet {
	for i := range c.DaemonSets {
		d := &c.DaemonSets[i]
		p := corev1.Pod{Spec: d.Spec.Template.Spec}
		if IsKubeProxy(&p) {
			return d
		}
	}
	return nil
}

// KubeProxyPods lists the kube-proxy pods on node (any phase).
func (c *Cluster) KubeProxyPods(node string) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range c.PodsOnNode(node) {
		if IsKubeProxy(p) {
			out = append(out, p)
		}
	}
	return out
}

// PodReady reports whether the pod's Ready condition is True.
func PodReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
