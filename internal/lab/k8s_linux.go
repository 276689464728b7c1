//go:build linux

package lab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/retry"

	"github.com/netdoctor/netdoctor/internal/kube/live"
	"github.com/netdoctor/netdoctor/internal/lab/k8s"
)

// LabelKubelet marks the Nodes of a --k8s lab: "real" where kubelet and containerd run, "lab" where
// the lab itself plays the kubelet (it writes the Node's and its pods' status once, at Up). The lab's
// DaemonSets use it: kube-proxy and flannel pods exist on "lab" nodes; the agent DaemonSet belongs
// on "real" ones.
const LabelKubelet = "lab.netdoctor.io/kubelet"

// k8sTimeout bounds each wait of a --k8s Up (API server ready, data plane, kubelet).
const k8sTimeout = 90 * time.Second

// upK8s brings real Kubernetes up on the lab's namespaces: control plane, the lab's objects in the
// API, flanneld and kube-proxy on every node, CoreDNS, kubelet + containerd on the control-plane
// node. It records every process in st.K8s as it goes, so Down can always clean up.
func (l *Lab) upK8s(ctx context.Context, progress func(string, ...any)) error {
	st, p := l.State, l.Plan
	progress("lab %s: real Kubernetes %s: finding (or building) the components", p.Name, k8s.Version)
	bins, err := k8s.EnsureBins(ctx, progress)
	if err != nil {
		return err
	}
	if st.CoreDNS == "" {
		return fmt.Errorf("lab: --k8s needs real CoreDNS (with the kubernetes plugin): %w", errNoCoreDNS)
	}
	bins.CoreDNS = st.CoreDNS
	dir := filepath.Join(st.Dir, "k8s")
	st.K8s = &K8sState{Dir: dir}
	cp := p.ControlPlane
	spec := k8s.Spec{Name: p.Name, Dir: dir, ControlPlane: l.nodeSpec(cp), ServiceCIDR: ServiceCIDR, ClusterCIDR: ClusterCIDR,
		DNSDomain: DNSDomain, Bins: bins}
	for _, n := range p.Nodes {
		spec.NodeNames = append(spec.NodeNames, n.Name)
	}
	c, err := k8s.StartControlPlane(ctx, spec, progress)
	if c != nil {
		st.K8s.Procs = append(st.K8s.Procs, c.Procs...)
		st.K8s.InnerURL = c.URL
	}
	if serr := st.save(); err == nil {
		err = serr
	}
	if err != nil {
		return err
	}
	if err := l.startRelay(c); err != nil {
		return err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", st.K8s.Kubeconfig)
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	progress("lab %s: writing the lab's nodes, pods, services and DaemonSets into the API", p.Name)
	if err := l.createObjects(ctx, cs); err != nil {
		return err
	}

	progress("lab %s: real flanneld and kube-proxy on %d nodes", p.Name, len(p.AllNodes()))
	var all []k8s.NodeSpec
	for _, n := range p.AllNodes() {
		all = append(all, l.nodeSpec(n))
	}
	for _, n := range all {
		fl, err := c.StartFlanneld(n)
		if err != nil {
			return err
		}
		st.K8s.Procs = append(st.K8s.Procs, fl)
		if n.NoKubeProxy {
			continue
		}
		kp, err := c.StartKubeProxy(n)
		if err != nil {
			return err
		}
		st.K8s.Procs = append(st.K8s.Procs, kp)
	}
	if err := st.save(); err != nil {
		return err
	}
	vips := []string{nthAddr(ServiceCIDR, 1).String()} // the kubernetes Service
	for _, s := range p.Services {
		vips = append(vips, s.ClusterIP.String())
	}
	for _, n := range all {
		// Every node's components are watched while waiting for this one: a peer's flanneld that
		// died is why a route never comes.
		if err := k8s.WaitDataPlane(ctx, n, all, vips, st.K8s.Procs, k8sTimeout); err != nil {
			return err
		}
	}

	progress("lab %s: real CoreDNS (kubernetes plugin) in the CoreDNS pods", p.Name)
	kc, err := c.KubeconfigFor("coredns", "coredns", c.URL, "")
	if err != nil {
		return err
	}
	if err := writeCoreDNSK8s(st.Dir, kc); err != nil {
		return err
	}
	for _, pod := range p.Pods {
		if pod.DNS && !pod.Stopped && pod.Sandboxed() {
			if pod.DNSPID, err = st.startCoreDNS(pod); err != nil {
				return err
			}
		}
	}
	if err := st.save(); err != nil {
		return err
	}
	return l.startKubelet(ctx, c, cs, progress)
}

// nodeSpec is what kube-proxy and flanneld need to know of a node.
func (l *Lab) nodeSpec(n *NodePlan) k8s.NodeSpec {
	s := k8s.NodeSpec{Name: n.Name, Netns: NetnsPath(n.Netns), IP: n.IP, PodCIDR: n.PodCIDR, Root: n.Root, NoKubeProxy: !n.KubeProxy.Running}
	if n.VTEP != n.IP {
		s.PublicIP = n.VTEP // the fault: flanneld announces (and encapsulates from) another address
	}
	return s
}

// startRelay starts `netdoctor lab relay` in the host namespace: 127.0.0.1:PORT → the API server,
// and writes the admin kubeconfig (and alice's and bob's, the test users) for it.
func (l *Lab) startRelay(c *k8s.Cluster) error {
	st := l.State
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("lab: pipe: %w", err)
	}
	defer r.Close()
	logf, err := os.OpenFile(filepath.Join(st.Dir, "logs", "relay.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		w.Close()
		return fmt.Errorf("lab: %w", err)
	}
	defer logf.Close()
	target := strings.TrimPrefix(c.URL, "https://")
	cmd := exec.Command(st.Exe, "lab", "relay", "--lab", st.Name, "--netns", c.Spec.ControlPlane.Netns, "--to", target, "--ready-fd", "3")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Dir = "/"
	err = cmd.Start()
	w.Close()
	if err != nil {
		return fmt.Errorf("lab: start the API relay: %w", err)
	}
	go func() { _ = cmd.Wait() }()
	st.K8s.RelayPID = cmd.Process.Pid
	if err := st.save(); err != nil {
		return err
	}
	type res struct {
		line string
		err  error
	}
	ch := make(chan res, 1)
	go func() { line, err := bufio.NewReader(r).ReadString('\n'); ch <- res{line, err} }()
	var port int
	select {
	case got := <-ch:
		if got.err != nil {
			return fmt.Errorf("lab: the API relay exited before it listened (see %s)", logf.Name())
		}
		if port, err = strconv.Atoi(strings.TrimSpace(got.line)); err != nil {
			return fmt.Errorf("lab: the API relay said %q", got.line)
		}
	case <-time.After(10 * time.Second):
		return fmt.Errorf("lab: the API relay did not listen within 10 s (see %s)", logf.Name())
	}
	st.K8s.URL = fmt.Sprintf("https://127.0.0.1:%d", port)
	for _, u := range []struct{ file, user string }{{"kubeconfig", "admin"}, {"k8s/alice.kubeconfig", "alice"}, {"k8s/bob.kubeconfig", "bob"}} {
		path := filepath.Join(st.Dir, u.file)
		if err := k8s.WriteKubeconfig(path, st.K8s.URL, c.PKI.CAFile(), "default", "    token: "+c.Token(u.user)+"\n"); err != nil {
			return err
		}
	}
	st.K8s.Kubeconfig = filepath.Join(st.Dir, "kubeconfig")
	return st.save()
}

var errNoCoreDNS = errors.New("no CoreDNS build found: run scripts/coredns.sh (or set " + EnvCoreDNS + ")")

// writeCoreDNSK8s writes the Corefile of a --k8s lab: the kubernetes plugin answers cluster.local
// from the API; other names get NXDOMAIN (the lab has no upstream resolver).
func writeCoreDNSK8s(dir, kubeconfig string) error {
	corefile := fmt.Sprintf(`%[1]s:53 in-addr.arpa:53 ip6.arpa:53 {
    errors
    ready :8181
    kubernetes %[1]s in-addr.arpa ip6.arpa {
        kubeconfig %[2]s
        pods insecure
        ttl 30
    }
    cache 30
    loadbalance
}
.:53 {
    errors
    template ANY ANY {
        rcode NXDOMAIN
    }
}
`, DNSDomain, kubeconfig)
	if err := os.WriteFile(filepath.Join(dir, "Corefile"), []byte(corefile), 0o644); err != nil {
		return fmt.Errorf("lab: Corefile: %w", err)
	}
	return nil
}

// createObjects writes the lab's cluster into the API: namespaces, RBAC for the components, Nodes
// (with the status their kubelet would post, for the nodes the lab plays the kubelet of), the
// kube-proxy and flannel DaemonSets with their pods, Services, the lab's pods with their status,
// NetworkPolicies and Events. EndpointSlices are left to the real endpointslice controller.
func (l *Lab) createObjects(ctx context.Context, cs kubernetes.Interface) error {
	p := l.Plan
	create := func(what string, err error) error {
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("lab: create %s: %w", what, err)
		}
		return nil
	}
	nss := map[string]bool{"kube-flannel": true, "ingress-nginx": true}
	for _, pod := range p.Pods {
		nss[pod.Namespace] = true
	}
	for ns := range nss {
		_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		if err := create("namespace "+ns, err); err != nil {
			return err
		}
	}
	for ns := range nss {
		_, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
		if err := create("serviceaccount "+ns+"/default", err); err != nil {
			return err
		}
	}
	if err := createRBAC(ctx, cs, create); err != nil {
		return err
	}
	objs := l.Objects()
	// Nodes: the control-plane node first (kubelet adopts it and posts its status), then the nodes
	// the lab plays the kubelet of.
	cpNode := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: p.ControlPlane.Name, Labels: map[string]string{
		"kubernetes.io/hostname": p.ControlPlane.Name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
		"node-role.kubernetes.io/control-plane": "", LabelKubelet: "real"},
		Annotations: map[string]string{AnnotationNetns: NetnsPath(p.ControlPlane.Netns), AnnotationRoot: p.ControlPlane.Root}},
		Spec: corev1.NodeSpec{PodCIDR: p.ControlPlane.PodCIDR.String(), PodCIDRs: []string{p.ControlPlane.PodCIDR.String()},
			Taints: []corev1.Taint{{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}}}}
	got, err := cs.CoreV1().Nodes().Create(ctx, cpNode, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("lab: create node %s: %w", cpNode.Name, err)
	}
	// Its address now, so kube-proxy and flanneld there find it before kubelet posts the full status.
	if err := nodeStatus(ctx, cs, got, corev1.NodeStatus{Addresses: []corev1.NodeAddress{
		{Type: corev1.NodeInternalIP, Address: p.ControlPlane.IP.String()}, {Type: corev1.NodeHostName, Address: cpNode.Name}}}); err != nil {
		return err
	}
	capacity := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("8Gi"),
		corev1.ResourcePods: resource.MustParse("110")}
	for _, o := range objs {
		switch o := o.(type) {
		case *corev1.Node:
			status := o.Status
			status.Capacity, status.Allocatable = capacity, capacity
			status.NodeInfo.KubeletVersion, status.NodeInfo.KubeProxyVersion = k8s.Version, k8s.Version
			status.NodeInfo.ContainerRuntimeVersion = "netdoctor-lab://" + k8s.Version
			for i := range status.Conditions {
				status.Conditions[i].LastHeartbeatTime = metav1.Now()
			}
			n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: o.Name, Labels: o.Labels, Annotations: map[string]string{}}, Spec: o.Spec}
			delete(n.Labels, "node-role.kubernetes.io/control-plane")
			n.Labels[LabelKubelet] = "lab"
			for k, v := range o.Annotations {
				if !strings.HasPrefix(k, "flannel.alpha.coreos.com/") { // real flanneld writes its own
					n.Annotations[k] = v
				}
			}
			got, err := cs.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
			if err != nil {
				return fmt.Errorf("lab: create node %s: %w", n.Name, err)
			}
			if err := nodeStatus(ctx, cs, got, status); err != nil {
				return err
			}
		case *corev1.Pod:
			if len(o.OwnerReferences) > 0 && o.OwnerReferences[0].Kind == "DaemonSet" {
				// Created as orphans that carry the DaemonSet's selector: the DaemonSet, created
				// next, adopts them (a pod created with its controllerRef would race the controller,
				// which starts pods of its own the moment the DaemonSet exists).
				if ds := daemonSetIn(objs, o.Namespace, o.OwnerReferences[0].Name); ds != nil {
					for k, v := range ds.Spec.Selector.MatchLabels {
						o.Labels[k] = v
					}
				}
				o.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
			}
			o.OwnerReferences = nil // no ReplicaSet objects: the lab places its pods itself
			if err := createPod(ctx, cs, o); err != nil {
				return err
			}
		}
	}
	for _, o := range objs {
		switch o := o.(type) {
		case *corev1.Service:
			o.ResourceVersion, o.Status = "", corev1.ServiceStatus{}
			_, err := cs.CoreV1().Services(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
			if err := create("service "+o.Namespace+"/"+o.Name, err); err != nil {
				return err
			}
		case *appsv1.DaemonSet:
			ds := o.DeepCopy()
			ds.Status = appsv1.DaemonSetStatus{}
			// OnDelete: the lab's pods are never replaced by a rolling update; they run where the
			// lab plays the kubelet.
			ds.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}
			ds.Spec.Template.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
			ds.Spec.Template.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
					MatchExpressions: []corev1.NodeSelectorRequirement{{Key: LabelKubelet, Operator: corev1.NodeSelectorOpIn, Values: []string{"lab"}}}}}}}}
			if _, err := cs.AppsV1().DaemonSets(ds.Namespace).Create(ctx, ds, metav1.CreateOptions{}); err != nil {
				return fmt.Errorf("lab: create daemonset %s/%s: %w", ds.Namespace, ds.Name, err)
			}
		case *networkingv1.NetworkPolicy:
			np := o.DeepCopy()
			np.ResourceVersion = ""
			_, err := cs.NetworkingV1().NetworkPolicies(np.Namespace).Create(ctx, np, metav1.CreateOptions{})
			if err := create("networkpolicy "+np.Name, err); err != nil {
				return err
			}
		case *corev1.Event:
			ev := o.DeepCopy()
			ev.ResourceVersion = ""
			_, err := cs.CoreV1().Events(ev.Namespace).Create(ctx, ev, metav1.CreateOptions{})
			if err := create("event "+ev.Name, err); err != nil {
				return err
			}
		}
	}
	return nil
}

// nodeStatus posts a Node's status, as its kubelet would, retrying when a controller (the TTL
// controller annotates new Nodes) changed the Node in between.
func nodeStatus(ctx context.Context, cs kubernetes.Interface, n *corev1.Node, status corev1.NodeStatus) error {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n.Status = status
		_, err := cs.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			if fresh, gerr := cs.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{}); gerr == nil {
				n = fresh
			}
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("lab: node %s status: %w", n.Name, err)
	}
	return nil
}

func daemonSetIn(objs []any, ns, name string) *appsv1.DaemonSet {
	for _, o := range objs {
		if ds, ok := o.(*appsv1.DaemonSet); ok && ds.Namespace == ns && ds.Name == name {
			return ds
		}
	}
	return nil
}

// createPod creates a pod as the lab planned it and then posts its status, as its kubelet would.
func createPod(ctx context.Context, cs kubernetes.Interface, o *corev1.Pod) error {
	status := o.Status
	o = o.DeepCopy()
	o.Status, o.ResourceVersion, o.CreationTimestamp = corev1.PodStatus{}, "", metav1.Time{}
	got, err := cs.CoreV1().Pods(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("lab: create pod %s/%s: %w", o.Namespace, o.Name, err)
	}
	now := metav1.Now()
	status.StartTime = &now
	status.Conditions = append(status.Conditions, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
		corev1.PodCondition{Type: corev1.PodInitialized, Status: corev1.ConditionTrue})
	if status.Phase == "" {
		status.Phase = corev1.PodPending
	}
	for i := range status.ContainerStatuses {
		c := &status.ContainerStatuses[i]
		if c.Image == "" && len(got.Spec.Containers) > i {
			c.Image = got.Spec.Containers[i].Image
		}
		if c.ImageID == "" {
			c.ImageID = c.Image
		}
		if c.State.Running != nil {
			c.State.Running.StartedAt = now
			c.Started = &c.Ready
		}
	}
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		got.Status = status
		_, err := cs.CoreV1().Pods(o.Namespace).UpdateStatus(ctx, got, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) { // a controller touched it first (the DaemonSet controller does)
			if fresh, gerr := cs.CoreV1().Pods(o.Namespace).Get(ctx, o.Name, metav1.GetOptions{}); gerr == nil {
				got = fresh
			}
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("lab: pod %s/%s status: %w", o.Namespace, o.Name, err)
	}
	return nil
}

// createRBAC gives flanneld and CoreDNS the permissions their upstream manifests give them.
func createRBAC(ctx context.Context, cs kubernetes.Interface, create func(string, error) error) error {
	roles := []rbacv1.ClusterRole{
		{ObjectMeta: metav1.ObjectMeta{Name: "flannel"}, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get"}},
			{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{""}, Resources: []string{"nodes/status"}, Verbs: []string{"patch"}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "system:coredns"}, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"endpoints", "services", "pods", "namespaces"}, Verbs: []string{"list", "watch"}},
			{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"list", "watch"}}}},
	}
	for _, r := range roles {
		_, err := cs.RbacV1().ClusterRoles().Create(ctx, &r, metav1.CreateOptions{})
		if err := create("clusterrole "+r.Name, err); err != nil {
			return err
		}
	}
	for _, b := range [][2]string{{"flannel", "flannel"}, {"system:coredns", "coredns"}} {
		crb := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: b[0]},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: b[0]},
			Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: b[1]}}}
		_, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{})
		if err := create("clusterrolebinding "+b[0], err); err != nil {
			return err
		}
	}
	return nil
}

// RESTConfig is a client configuration for the lab's API server (through the relay), as admin.
func (s *State) RESTConfig() (*rest.Config, error) {
	if s.K8s == nil {
		return nil, fmt.Errorf("lab: %s runs no real Kubernetes (start it with 'netdoctor lab up --k8s')", s.Name)
	}
	return clientcmd.BuildConfigFromFlags("", s.K8s.Kubeconfig)
}

// readAPI lists the cluster from the API server, the way `kubectl netdoctor` does, and keeps it
// for dump.yaml: in a --k8s lab the dump path and the live path read the same objects. It first
// waits until the DaemonSet controller has settled on the nodes the lab plays the kubelet of (an
// evicted kube-proxy pod is replaced by a Pending one).
func (l *Lab) readAPI(ctx context.Context) error {
	rc, err := l.State.RESTConfig()
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		settled := true
		for _, name := range []string{"kube-system/kube-proxy", "kube-flannel/kube-flannel-ds"} {
			ns, n, _ := strings.Cut(name, "/")
			ds, err := cs.AppsV1().DaemonSets(ns).Get(ctx, n, metav1.GetOptions{})
			if err != nil || ds.Status.ObservedGeneration < ds.Generation || ds.Status.DesiredNumberScheduled != int32(len(l.Plan.Nodes)) ||
				ds.Status.CurrentNumberScheduled != ds.Status.DesiredNumberScheduled {
				settled = false
			}
		}
		pods, err := cs.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{LabelSelector: "k8s-app=kube-proxy"})
		if err != nil {
			return fmt.Errorf("lab: %w", err)
		}
		for _, n := range l.Plan.Nodes {
			if !n.KubeProxy.Running && !hasLivePod(pods.Items, n.Name) {
				settled = false // the controller has not yet replaced the evicted pod
			}
		}
		if settled || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	c, err := live.FromAPI(ctx, rc, live.Options{})
	if err != nil {
		return err
	}
	var objs []any
	objs = withKinds(objs, c.Namespaces, "v1", "Namespace")
	objs = withKinds(objs, c.Nodes, "v1", "Node")
	objs = withKinds(objs, c.Pods, "v1", "Pod")
	objs = withKinds(objs, c.Services, "v1", "Service")
	objs = withKinds(objs, c.EndpointSlices, "discovery.k8s.io/v1", "EndpointSlice")
	objs = withKinds(objs, c.DaemonSets, "apps/v1", "DaemonSet")
	objs = withKinds(objs, c.PriorityClasses, "scheduling.k8s.io/v1", "PriorityClass")
	objs = withKinds(objs, c.NetworkPolicies, "networking.k8s.io/v1", "NetworkPolicy")
	objs = withKinds(objs, c.Events, "v1", "Event")
	l.apiObjects = objs
	return nil
}

func hasLivePod(pods []corev1.Pod, node string) bool {
	for _, p := range pods {
		if p.Spec.NodeName == node && p.Status.Phase != corev1.PodFailed && p.DeletionTimestamp == nil {
			return true
		}
	}
	return false
}

// withKinds appends items to objs with their TypeMeta set (the API's list items carry none), so
// the dump reads like kubectl's.
func withKinds[T any](objs []any, items []T, apiVersion, kind string) []any {
	for i := range items {
		var o any = &items[i]
		if t, ok := o.(interface{ GetObjectKind() schema.ObjectKind }); ok {
			t.GetObjectKind().SetGroupVersionKind(schema.FromAPIVersionAndKind(apiVersion, kind))
		}
		objs = append(objs, o)
	}
	return objs
}
