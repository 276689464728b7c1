//go:build linux

package k8s

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/netdoctor/netdoctor/internal/netns"
)

// StartFlanneld starts real flanneld (VXLAN backend, kube subnet manager, --ip-masq) on node n. It
// writes the subnet file under n.Root/run/flannel, as on a host, so netdoctor's node view reads it.
func (c *Cluster) StartFlanneld(n NodeSpec) (*Proc, error) {
	dir := filepath.Join(c.Spec.Dir, "flannel")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("k8s: %w", err)
	}
	netConf := filepath.Join(dir, "net-conf.json")
	conf := fmt.Sprintf(`{"Network": %q, "EnableIPv4": true, "Backend": {"Type": "vxlan"}}`+"\n", c.Spec.ClusterCIDR)
	// Written once, atomically: the flanneld of an earlier node may be reading it right now.
	if _, err := os.Stat(netConf); err != nil {
		if err := writeAtomic(netConf, []byte(conf), 0o644); err != nil {
			return nil, err
		}
	}
	kc, err := c.KubeconfigFor("flannel", "flannel", c.URL, "")
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(n.Root, "run", "flannel"), 0o755); err != nil {
		return nil, fmt.Errorf("k8s: %w", err)
	}
	args := []string{c.Spec.Bins.Flanneld, "--kube-subnet-mgr", "--kubeconfig-file=" + kc, "--iface=eth0", "--ip-masq",
		"--subnet-file=" + filepath.Join(n.Root, "run", "flannel", "subnet.env"), "--net-config-path=" + netConf,
		"--healthz-port=0", "--iptables-resync=5"}
	if n.PublicIP.IsValid() {
		args = append(args, "--public-ip="+n.PublicIP.String())
	}
	return StartProc("flanneld/"+n.Name, n.Netns, filepath.Join(c.Spec.Dir, "logs", "flanneld-"+n.Name+".log"), args,
		[]string{"KUBECONFIG=" + kc, "NODE_NAME=" + n.Name, "POD_NAME=kube-flannel-" + n.Name, "POD_NAMESPACE=kube-flannel"})
}

// StartKubeProxy starts real kube-proxy in iptables mode on node n.
func (c *Cluster) StartKubeProxy(n NodeSpec) (*Proc, error) {
	kc, err := c.KubeconfigFor("kube-proxy", "system:kube-proxy", c.URL, "")
	if err != nil {
		return nil, err
	}
	cfg := filepath.Join(c.Spec.Dir, "kube-proxy-"+n.Name+".yaml")
	// conntrack.maxPerCore 0: leave the (global) nf_conntrack_max alone.
	y := fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection:
  kubeconfig: %s
hostnameOverride: %s
bindAddress: %s
clusterCIDR: %s
detectLocalMode: ClusterCIDR
healthzBindAddress: %s:10256
metricsBindAddress: 127.0.0.1:10249
conntrack:
  maxPerCore: 0
iptables:
  syncPeriod: 30s
  minSyncPeriod: 0s
`, kc, n.Name, n.IP, c.Spec.ClusterCIDR, n.IP)
	if err := writeAtomic(cfg, []byte(y), 0o644); err != nil {
		return nil, err
	}
	return StartProc("kube-proxy/"+n.Name, n.Netns, filepath.Join(c.Spec.Dir, "logs", "kube-proxy-"+n.Name+".log"),
		[]string{c.Spec.Bins.KubeProxy, "--config=" + cfg}, nil)
}

// WaitDataPlane waits until flanneld wrote its subnet file and its routes (one per other node's pod
// CIDR via flannel.1) on node n and, unless n has no kube-proxy, kube-proxy wrote KUBE-SERVICES
// with a rule for every one of services (ClusterIPs). It reports the component's log tail on failure.
func WaitDataPlane(ctx context.Context, n NodeSpec, others []NodeSpec, services []string, procs []*Proc, timeout time.Duration) error {
	ns, err := netns.OpenPath(n.Netns)
	if err != nil {
		return err
	}
	defer ns.Close()
	deadline := time.Now().Add(timeout)
	subnet := filepath.Join(n.Root, "run", "flannel", "subnet.env")
	var missing string
	for {
		missing = ""
		for _, p := range procs {
			if !p.Alive() {
				return fmt.Errorf("k8s: %s exited: %s (log %s)", p.Name, lastLine(p.Tail(2000)), p.Log)
			}
		}
		if _, err := os.Stat(subnet); err != nil {
			missing = "flanneld's " + subnet
		}
		if missing == "" {
			out, _ := runIn(ctx, ns, "ip", "-4", "route", "show", "dev", "flannel.1")
			for _, o := range others {
				if o.Name != n.Name && !strings.Contains(out, o.PodCIDR.String()) {
					missing = "flannel route to " + o.PodCIDR.String() + " (node " + o.Name + ")"
					break
				}
			}
		}
		if missing == "" && !n.NoKubeProxy {
			out, _ := runIn(ctx, ns, "iptables-save")
			for _, vip := range services {
				if !strings.Contains(out, "-d "+vip+"/32") {
					missing = "kube-proxy's rule for " + vip
					break
				}
			}
		}
		if missing == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("k8s: node %s: no %s after %s", n.Name, missing, timeout)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("k8s: node %s: waiting for %s: %w", n.Name, missing, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
