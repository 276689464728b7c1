// Package livetest loads a cluster view (a dump) into a real API server for tests: the lab's dump
// objects become real Nodes, Pods, Services… with their status, so that the live cluster view
// (live.FromAPI) can be compared with the dump it came from. It writes to the API server and is
// meant for test servers only.
package livetest

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/netdoctor/netdoctor/internal/kube"
)

// clean drops what the API server assigns itself (uid, resourceVersion, timestamps, managed fields).
func clean(m *metav1.ObjectMeta) {
	m.UID, m.ResourceVersion, m.Generation, m.ManagedFields = "", "", 0, nil
	m.CreationTimestamp = metav1.Time{}
	m.SelfLink = ""
	m.OwnerReferences = nil // owners (ReplicaSets, DaemonSets by uid) are not in the dump
}

// Load creates every object of c in the API server cfg points at (namespaces first), then writes
// the status of Nodes and Pods (status is not taken on create). Objects that already exist are
// an error: load into a fresh server.
func Load(ctx context.Context, cfg *rest.Config, c *kube.Cluster) error {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	nss := map[string]bool{}
	for _, p := range c.Pods {
		nss[p.Namespace] = true
	}
	for _, s := range c.Services {
		nss[s.Namespace] = true
	}
	for _, e := range c.Events {
		nss[e.Namespace] = true
	}
	for _, d := range c.DaemonSets {
		nss[d.Namespace] = true
	}
	for ns := range nss {
		if ns == "" {
			continue
		}
		_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("namespace %s: %w", ns, err)
		}
	}
	co := metav1.CreateOptions{}
	for _, pc := range c.PriorityClasses {
		clean(&pc.ObjectMeta)
		if _, err := cs.SchedulingV1().PriorityClasses().Create(ctx, &pc, co); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("priorityclass %s: %w", pc.Name, err)
		}
	}
	for _, n := range c.Nodes {
		clean(&n.ObjectMeta)
		st := n.Status
		got, err := cs.CoreV1().Nodes().Create(ctx, &n, co)
		if err != nil {
			return fmt.Errorf("node %s: %w", n.Name, err)
		}
		got.Status = st
		if _, err := cs.CoreV1().Nodes().UpdateStatus(ctx, got, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("node %s status: %w", n.Name, err)
		}
	}
	for _, s := range c.Services {
		clean(&s.ObjectMeta)
		if s.Namespace == "default" && s.Name == "kubernetes" {
			continue // the API server owns it
		}
		if _, err := cs.CoreV1().Services(s.Namespace).Create(ctx, &s, co); err != nil {
			return fmt.Errorf("service %s/%s: %w", s.Namespace, s.Name, err)
		}
	}
	for _, e := range c.EndpointSlices {
		clean(&e.ObjectMeta)
		if _, err := cs.DiscoveryV1().EndpointSlices(e.Namespace).Create(ctx, &e, co); err != nil {
			return fmt.Errorf("endpointslice %s/%s: %w", e.Namespace, e.Name, err)
		}
	}
	for _, d := range c.DaemonSets {
		clean(&d.ObjectMeta)
		completeDaemonSet(&d)
		st := d.Status
		got, err := cs.AppsV1().DaemonSets(d.Namespace).Create(ctx, &d, co)
		if err != nil {
			return fmt.Errorf("daemonset %s/%s: %w", d.Namespace, d.Name, err)
		}
		got.Status = st
		if _, err := cs.AppsV1().DaemonSets(d.Namespace).UpdateStatus(ctx, got, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("daemonset %s/%s status: %w", d.Namespace, d.Name, err)
		}
	}
	for _, p := range c.Pods {
		clean(&p.ObjectMeta)
		st := p.Status
		// The Priority admission plugin computes spec.priority from priorityClassName itself.
		p.Spec.Priority = nil
		got, err := cs.CoreV1().Pods(p.Namespace).Create(ctx, &p, co)
		if err != nil {
			return fmt.Errorf("pod %s/%s: %w", p.Namespace, p.Name, err)
		}
		got.Status = st
		if _, err := cs.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, got, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("pod %s/%s status: %w", p.Namespace, p.Name, err)
		}
	}
	for _, e := range c.Events {
		clean(&e.ObjectMeta)
		if _, err := cs.CoreV1().Events(e.Namespace).Create(ctx, &e, co); err != nil {
			return fmt.Errorf("event %s/%s: %w", e.Namespace, e.Name, err)
		}
	}
	for _, np := range c.NetworkPolicies {
		clean(&np.ObjectMeta)
		if _, err := cs.NetworkingV1().NetworkPolicies(np.Namespace).Create(ctx, &np, co); err != nil {
			return fmt.Errorf("networkpolicy %s/%s: %w", np.Namespace, np.Name, err)
		}
	}
	return nil
}

// completeDaemonSet fills what the API server requires and a hand-written dump may lack: template
// labels matching the selector, and a container. The placeholder container runs nothing anyone
// would recognise (it is not kube-proxy), so the checks read the same facts as from the dump.
func completeDaemonSet(d *appsv1.DaemonSet) {
	if d.Spec.Selector == nil {
		d.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"netdoctor.dev/daemonset": d.Name}}
	}
	if d.Spec.Template.Labels == nil {
		d.Spec.Template.Labels = map[string]string{}
	}
	for k, v := range d.Spec.Selector.MatchLabels {
		if _, ok := d.Spec.Template.Labels[k]; !ok {
			d.Spec.Template.Labels[k] = v
		}
	}
	if len(d.Spec.Template.Spec.Containers) == 0 {
		d.Spec.Template.Spec.Containers = []corev1.Container{{Name: "placeholder", Image: "netdoctor.invalid/placeholder"}}
	}
}
