//go:build linux

package lab

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/netdoctor/netdoctor/internal/lab/k8s"
)

// startKubelet runs containerd + kubelet on the control-plane node with two images imported: the
// netdoctor agent image (from this very binary) and a pause image. It waits until the Node is
// Ready and removes the not-ready taint (the node-lifecycle controller, which would, is off).
func (l *Lab) startKubelet(ctx context.Context, c *k8s.Cluster, cs kubernetes.Interface, progress func(string, ...any)) error {
	st, cp := l.State, l.Plan.ControlPlane
	dir := filepath.Join(st.Dir, "kubelet-"+cp.Name)
	ks := KubeletState{Node: cp.Name, Dir: dir, CgroupRoot: "/" + cp.Netns}
	st.K8s.Kubelets = append(st.K8s.Kubelets, ks)
	if err := st.save(); err != nil {
		return err
	}
	progress("lab %s: images for containerd (netdoctor agent, pause) from %s", l.Plan.Name, st.Exe)
	agentTar, pauseTar, _, pauseRef, err := k8s.WriteImages(filepath.Join(dir, "images"), st.Exe)
	if err != nil {
		return err
	}
	spec := k8s.KubeletSpec{Node: cp.Name, Netns: NetnsPath(cp.Netns), NodeIP: cp.IP, PodCIDR: cp.PodCIDR,
		PodRange: [2]netip.Addr{nthAddr(cp.PodCIDR, 10), nthAddr(cp.PodCIDR, 250)}, PodMTU: VXLANMTU, Dir: dir, CgroupRoot: ks.CgroupRoot,
		APIServer: c.URL, CAFile: c.PKI.CAFile(), Token: c.Token(k8s.NodeUser(cp.Name)), ClientCAFile: c.PKI.CAFile(),
		ClusterDNS: KubeDNSIP, ClusterDomain: DNSDomain, Images: []string{agentTar, pauseTar}, SandboxImage: pauseRef,
		Kubelet: c.Spec.Bins.Kubelet, Containerd: c.Spec.Bins.Containerd, Runc: c.Spec.Bins.Runc, CNIBinDir: c.Spec.Bins.CNIBinDir}
	progress("lab %s: containerd and kubelet on %s", l.Plan.Name, cp.Name)
	procs, err := k8s.StartKubelet(ctx, spec, progress)
	st.K8s.Procs = append(st.K8s.Procs, procs...)
	if serr := st.save(); err == nil {
		err = serr
	}
	if err != nil {
		return err
	}
	deadline := time.Now().Add(k8sTimeout)
	for {
		n, err := cs.CoreV1().Nodes().Get(ctx, cp.Name, metav1.GetOptions{})
		if err == nil && nodeReady(n) {
			var keep []corev1.Taint
			for _, t := range n.Spec.Taints {
				if !strings.HasPrefix(t.Key, "node.kubernetes.io/") {
					keep = append(keep, t)
				}
			}
			if len(keep) == len(n.Spec.Taints) {
				return nil
			}
			n.Spec.Taints = keep
			if _, err := cs.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err == nil {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("lab: node %s not Ready after %s (kubelet log: %s)", cp.Name, k8sTimeout, filepath.Join(dir, "kubelet.log"))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
