package lab

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// Annotations the lab puts on Nodes and Pods so the diagnoser can reach their namespaces and files.
const (
	AnnotationNetns = "netdoctor.dev/netns" // Node, Pod: path of the network namespace
	AnnotationRoot  = "netdoctor.dev/root"  // Node: directory laid out like the node's filesystem
	AnnotationPID   = "netdoctor.dev/pid"   // Pod: PID of a process in the pod
)

// WriteDump writes the lab's cluster view to DumpPath.
func (l *Lab) WriteDump() error {
	b, err := l.Dump()
	if err != nil {
		return err
	}
	path := filepath.Join(l.State.Dir, "dump.yaml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("lab: write dump: %w", err)
	}
	return nil
}

// Dump renders the cluster view as YAML: a v1 List like `kubectl get -A -o yaml` prints, holding
// Nodes, Pods (workloads, kube-proxy and kube-flannel DaemonSet pods, CoreDNS), Services,
// EndpointSlices, DaemonSets, PriorityClasses and Events.
func (l *Lab) Dump() ([]byte, error) {
	if l.apiObjects != nil {
		return encodeList(l.apiObjects)
	}
	return encodeList(l.Objects())
}

func encodeList(objs []any) ([]byte, error) {
	list := metav1.List{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "List"}, ListMeta: metav1.ListMeta{ResourceVersion: ""}}
	for _, o := range objs {
		raw, err := json.Marshal(o)
		if err != nil {
			return nil, fmt.Errorf("lab: dump: %w", err)
		}
		list.Items = append(list.Items, runtime.RawExtension{Raw: raw})
	}
	b, err := yaml.Marshal(list)
	if err != nil {
		return nil, fmt.Errorf("lab: dump: %w", err)
	}
	return b, nil
}

// Objects returns the lab's Kubernetes objects, TypeMeta set, in a stable order.
func (l *Lab) Objects() []any {
	p, created := l.Plan, l.State.Created
	old := metav1.NewTime(created.Add(-30 * 24 * time.Hour).Truncate(time.Second))
	recent := metav1.NewTime(created.Add(-2 * time.Hour).Truncate(time.Second))
	now := metav1.NewTime(created.Truncate(time.Second))
	var objs []any
	for _, n := range p.Nodes {
		ts := old
		if n.New {
			ts = recent
		}
		backend, _ := json.Marshal(map[string]any{"VNI": VXLANVNI, "VtepMAC": n.VtepMAC})
		labels := map[string]string{"kubernetes.io/hostname": n.Name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}
		if n.Name == "node1" {
			labels["node-role.kubernetes.io/control-plane"] = ""
		}
		objs = append(objs, &corev1.Node{
			TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Node"},
			ObjectMeta: metav1.ObjectMeta{Name: n.Name, CreationTimestamp: ts, Labels: labels, Annotations: map[string]string{
				"flannel.alpha.coreos.com/backend-data":        string(backend),
				"flannel.alpha.coreos.com/backend-type":        "vxlan",
				"flannel.alpha.coreos.com/kube-subnet-manager": "true",
				"flannel.alpha.coreos.com/public-ip":           n.VTEP.String(),
				"node.alpha.kubernetes.io/ttl":                 "0",
				AnnotationNetns:                                NetnsPath(n.Netns),
				AnnotationRoot:                                 n.Root,
			}},
			Spec: corev1.NodeSpec{PodCIDR: n.PodCIDR.String(), PodCIDRs: []string{n.PodCIDR.String()}},
			Status: corev1.NodeStatus{
				Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: n.IP.String()}, {Type: corev1.NodeHostName, Address: n.Name}},
				Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
					Message: "kubelet is posting ready status", LastHeartbeatTime: now, LastTransitionTime: ts}},
				NodeInfo: corev1.NodeSystemInfo{KubeletVersion: "v1.31.4", KubeProxyVersion: "v1.31.4", ContainerRuntimeVersion: "containerd://1.7.24",
					OSImage: "Debian GNU/Linux 12 (bookworm)", OperatingSystem: "linux", Architecture: "amd64"},
			},
		})
	}
	for _, pod := range p.Pods {
		objs = append(objs, l.podObject(pod, old))
	}
	objs = append(objs, l.daemonSetPods(old, recent)...)
	for _, s := range p.Services {
		objs = append(objs, serviceObject(s, old))
	}
	for _, s := range p.Services {
		objs = append(objs, l.endpointSlice(s, old))
	}
	objs = append(objs, l.daemonSets(old)...)
	for _, pc := range []struct {
		name  string
		value int32
	}{{"system-cluster-critical", 2000000000}, {"system-node-critical", 2000001000}} {
		objs = append(objs, &schedulingv1.PriorityClass{TypeMeta: metav1.TypeMeta{APIVersion: "scheduling.k8s.io/v1", Kind: "PriorityClass"},
			ObjectMeta: metav1.ObjectMeta{Name: pc.name, CreationTimestamp: old}, Value: pc.value,
			Description: "Used for system critical pods that must not be moved from their current node."})
	}
	for _, np := range p.NetworkPolicies {
		np := np
		np.TypeMeta = metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"}
		np.CreationTimestamp = recent
		objs = append(objs, &np)
	}
	for i, e := range p.Events {
		kind, name, _ := strings.Cut(e.Object, "/")
		objs = append(objs, &corev1.Event{
			TypeMeta:       metav1.TypeMeta{APIVersion: "v1", Kind: "Event"},
			ObjectMeta:     metav1.ObjectMeta{Name: fmt.Sprintf("%s.%x", name, 0x180000000+i), Namespace: e.Namespace, CreationTimestamp: recent},
			InvolvedObject: corev1.ObjectReference{Kind: kind, Name: name, Namespace: e.Namespace, APIVersion: "v1"},
			Reason:         e.Reason, Message: e.Message, Type: e.Type, Count: 1,
			FirstTimestamp: recent, LastTimestamp: now, Source: corev1.EventSource{Component: eventSource(e.Reason), Host: l.eventHost(kind, name)},
		})
	}
	return objs
}

// eventHost is the node whose kubelet posts an event: the Node itself, or the node a pod runs on.
func (l *Lab) eventHost(kind, name string) string {
	if kind == "Node" {
		return name
	}
	for _, n := range l.Plan.Nodes {
		if l.Plan.KubeProxyPodName(n.Name) == name {
			return n.Name
		}
	}
	for _, p := range l.Plan.Pods {
		if p.Name == name {
			return p.Node
		}
	}
	return ""
}

func eventSource(reason string) string {
	if reason == "Evicted" {
		return "kubelet"
	}
	return "kubelet"
}

func (l *Lab) podObject(pod *PodPlan, ts metav1.Time) *corev1.Pod {
	var ports []corev1.ContainerPort
	for _, pt := range pod.Ports {
		ports = append(ports, corev1.ContainerPort{Name: pt.Name, ContainerPort: int32(pt.Port), Protocol: corev1.Protocol(strings.ToUpper(pt.Proto))})
	}
	image, cname := "registry.k8s.io/e2e-test-images/agnhost:2.53", pod.App
	if pod.HostNetwork {
		image, cname = "registry.k8s.io/ingress-nginx/controller:v1.11.3", "controller"
	}
	if pod.DNS {
		image, cname = "registry.k8s.io/coredns/coredns:v1.11.3", "coredns"
	}
	ann := map[string]string{}
	if pod.Netns != "" && pod.IP.IsValid() {
		ann[AnnotationNetns] = NetnsPath(pod.Netns)
	}
	if pod.PID > 0 {
		ann[AnnotationPID] = fmt.Sprint(pod.PID)
	}
	o := &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, CreationTimestamp: ts,
			Labels: map[string]string{"app": pod.App}, Annotations: ann},
		Spec: corev1.PodSpec{NodeName: pod.Node, PriorityClassName: pod.Priority, HostNetwork: pod.HostNetwork,
			Containers: []corev1.Container{{Name: cname, Image: image, Ports: ports}}},
		Status: corev1.PodStatus{Phase: corev1.PodPhase(pod.Phase), HostIP: l.Plan.Node(pod.Node).IP.String()},
	}
	if pod.DNS {
		o.Spec.DNSPolicy = corev1.DNSDefault
		o.Labels["k8s-app"] = "kube-dns"
	} else {
		o.Spec.DNSPolicy = corev1.DNSClusterFirst
	}
	if pod.Owner != "" {
		o.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: pod.Owner}}
	}
	if pod.IP.IsValid() {
		o.Status.PodIP = pod.IP.String()
		o.Status.PodIPs = []corev1.PodIP{{IP: pod.IP.String()}}
	}
	cs := corev1.ContainerStatus{Name: cname, Image: image, Ready: pod.Ready}
	switch {
	case pod.Waiting != "":
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: pod.Waiting}
		if pod.Waiting == "CrashLoopBackOff" {
			cs.RestartCount = 7
			cs.State.Waiting.Message = "back-off 5m0s restarting failed container=" + cname + " pod=" + pod.Name
		}
	default:
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: ts}
		cs.ContainerID = "containerd://" + pod.ContainerID
	}
	o.Status.ContainerStatuses = []corev1.ContainerStatus{cs}
	ready := corev1.ConditionFalse
	if pod.Ready {
		ready = corev1.ConditionTrue
	}
	o.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: ready}, {Type: corev1.ContainersReady, Status: ready}}
	return o
}

// daemonSetPods are the hostNetwork pods of kube-proxy and kube-flannel, one per node.
func (l *Lab) daemonSetPods(old, recent metav1.Time) []any {
	var out []any
	for _, n := range l.Plan.Nodes {
		ts := old
		if n.New {
			ts = recent
		}
		kp := n.KubeProxy
		proxy := &corev1.Pod{
			TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{Name: l.Plan.KubeProxyPodName(n.Name), Namespace: "kube-system",
				CreationTimestamp: ts, Labels: map[string]string{"k8s-app": "kube-proxy"},
				Annotations:     map[string]string{AnnotationNetns: NetnsPath(n.Netns)},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "kube-proxy"}}},
			Spec: corev1.PodSpec{NodeName: n.Name, HostNetwork: true, PriorityClassName: kp.PriorityClassName,
				Containers: []corev1.Container{{Name: "kube-proxy", Image: "registry.k8s.io/kube-proxy:v1.31.4",
					Command: []string{"/usr/local/bin/kube-proxy", "--config=/var/lib/kube-proxy/config.conf", "--hostname-override=$(NODE_NAME)"}}}},
			Status: corev1.PodStatus{Phase: corev1.PodPhase(kp.Phase), Reason: kp.Reason, Message: kp.Message, HostIP: n.IP.String()},
		}
		if kp.Running {
			proxy.Status.PodIP = n.IP.String()
			proxy.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "kube-proxy", Ready: true,
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: ts}}}}
		}
		flannel := &corev1.Pod{
			TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{Name: "kube-flannel-ds-" + nameHash(l.Plan.Name+"/flannel/"+n.Name, 5), Namespace: "kube-flannel",
				CreationTimestamp: ts, Labels: map[string]string{"app": "flannel", "k8s-app": "flannel"},
				Annotations:     map[string]string{AnnotationNetns: NetnsPath(n.Netns)},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "kube-flannel-ds"}}},
			Spec: corev1.PodSpec{NodeName: n.Name, HostNetwork: true, PriorityClassName: "system-node-critical",
				Containers: []corev1.Container{{Name: "kube-flannel", Image: "ghcr.io/flannel-io/flannel:v0.26.1",
					Command: []string{"/opt/bin/flanneld", "--ip-masq", "--kube-subnet-mgr"}}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, HostIP: n.IP.String(), PodIP: n.IP.String(),
				ContainerStatuses: []corev1.ContainerStatus{{Name: "kube-flannel", Ready: true,
					State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: ts}}}}},
		}
		out = append(out, proxy, flannel)
	}
	return out
}

func (l *Lab) daemonSets(ts metav1.Time) []any {
	n := int32(len(l.Plan.Nodes))
	var proxyReady int32
	for _, node := range l.Plan.Nodes {
		if node.KubeProxy.Running {
			proxyReady++
		}
	}
	ds := func(ns, name, prio string, ready int32, container, image string) *appsv1.DaemonSet {
		sel := map[string]string{"k8s-app": strings.TrimSuffix(name, "-ds")}
		return &appsv1.DaemonSet{
			TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "DaemonSet"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, CreationTimestamp: ts},
			Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: sel},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: sel}, Spec: corev1.PodSpec{HostNetwork: true, PriorityClassName: prio,
					Containers: []corev1.Container{{Name: container, Image: image}}}}},
			Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: n, CurrentNumberScheduled: n, NumberReady: ready, NumberAvailable: ready,
				NumberUnavailable: n - ready, UpdatedNumberScheduled: n},
		}
	}
	prio := l.Plan.Nodes[0].KubeProxy.PriorityClassName
	return []any{ds("kube-system", "kube-proxy", prio, proxyReady, "kube-proxy", "registry.k8s.io/kube-proxy:v1.31.4"),
		ds("kube-flannel", "kube-flannel-ds", "system-node-critical", n, "kube-flannel", "ghcr.io/flannel-io/flannel:v0.26.1")}
}

func serviceObject(s *Service, ts metav1.Time) *corev1.Service {
	o := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: s.Name, Namespace: s.Namespace, CreationTimestamp: ts, Labels: map[string]string{"app": s.App}},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceType(s.Type), ClusterIP: s.ClusterIP.String(), ClusterIPs: []string{s.ClusterIP.String()},
			Selector: map[string]string{"app": s.App}},
	}
	if s.Name == "kube-dns" {
		o.Labels = map[string]string{"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"}
		o.Spec.Selector = map[string]string{"k8s-app": "kube-dns"}
	}
	for _, sp := range s.Ports {
		o.Spec.Ports = append(o.Spec.Ports, corev1.ServicePort{Name: sp.Name, Port: int32(sp.Port), TargetPort: intstr.FromInt32(int32(sp.TargetPort)),
			NodePort: int32(sp.NodePort), Protocol: corev1.Protocol(strings.ToUpper(sp.Proto))})
	}
	return o
}

func (l *Lab) endpointSlice(s *Service, ts metav1.Time) *discoveryv1.EndpointSlice {
	o := &discoveryv1.EndpointSlice{
		TypeMeta: metav1.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSlice"},
		ObjectMeta: metav1.ObjectMeta{Name: s.Name + "-" + nameHash(l.Plan.Name+"/eps/"+s.Name, 5), Namespace: s.Namespace, CreationTimestamp: ts,
			Labels: map[string]string{discoveryv1.LabelServiceName: s.Name, discoveryv1.LabelManagedBy: "endpointslice-controller.k8s.io"}},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	for _, sp := range s.Ports {
		name, port, proto := sp.Name, int32(sp.TargetPort), corev1.Protocol(strings.ToUpper(sp.Proto))
		o.Ports = append(o.Ports, discoveryv1.EndpointPort{Name: &name, Port: &port, Protocol: &proto})
	}
	for _, pod := range l.Plan.PodsByApp(s.App) {
		if pod.Namespace != s.Namespace || !pod.IP.IsValid() || pod.Phase != "Running" {
			continue
		}
		ready, node := pod.Ready, pod.Node
		serving, term := ready, false
		o.Endpoints = append(o.Endpoints, discoveryv1.Endpoint{Addresses: []string{pod.IP.String()},
			Conditions: discoveryv1.EndpointConditions{Ready: &ready, Serving: &serving, Terminating: &term},
			NodeName:   &node, TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name}})
	}
	return o
}
