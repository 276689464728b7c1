// Package masquerade is the check "masquerade": traffic from pods to addresses outside the cluster
// must be source-NATed to the node IP on the way out, or replies never find their way back.
package masquerade

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/netdoctor/netdoctor/internal/check"
	"github.com/netdoctor/netdoctor/internal/diag"
	"github.com/netdoctor/netdoctor/internal/nodestate"
)

// Name is the check's stable name.
const Name = "masquerade"

// New returns the check.
func New() check.Check { return check.Func(Name, run) }

func run(ctx context.Context, env *check.Env) ([]diag.Finding, error) {
	t := env.Target
	if env.Source.Pod == nil || env.Views == nil || !t.IP.IsValid() || inCluster(env, t.IP) {
		return nil, nil
	}
	node := env.Source.NodeName()
	s, err := env.Views.Node(ctx, node)
	if err != nil {
		return nil, fmt.Errorf("read node %s: %w", node, err)
	}
	proto := env.Proto
	if proto != "udp" {
		proto = "tcp"
	}
	port := t.Port
	if port == 0 {
		port = 80
	}
	w := s.WalkNAT(nodestate.Packet{Src: env.Source.IP, Dst: t.IP, DstPort: port, Proto: proto, InIface: check.BridgeFor(s, env.Source.IP)})
	if w.Masquerade || len(w.Unevaluable) > 0 {
		return nil, nil
	}
	sev := diag.SeverityCritical
	if env.Symptom == diag.KindHealthy {
		sev = diag.SeverityWarning
	}
	f := check.Finding(Name, diag.KindCNIKubeProxy, sev, diag.Hop{Node: node, Where: node + " POSTROUTING (source NAT)"},
		fmt.Sprintf("traffic from pod %s to %s leaves %s without masquerade", env.Source.IP, t.IP, node))
	check.Evidencef(f, "%s nat POSTROUTING: no MASQUERADE/SNAT rule matches %s → %s", node, env.Source.IP, t.IP)
	if s.Flannel != nil {
		check.Evidencef(f, "%s: FLANNEL_NETWORK=%s FLANNEL_IPMASQ=%v", s.Flannel.File, s.Flannel.Network, s.Flannel.IPMasq)
	}
	f.Cause = fmt.Sprintf("%s is outside the cluster: it does not know the pod network, so its replies to %s are sent to its default gateway and never come back.", t.IP, env.Source.IP)
	f.Fix = "Turn masquerading back on for pod traffic leaving the cluster (flannel: --ip-masq=true, which writes the FLANNEL-POSTRTG chain; or the CNI's ipMasq setting) and restart the CNI agent on the node."
	return []diag.Finding{*f}, nil
}

func inCluster(env *check.Env, ip netip.Addr) bool {
	if env.Cluster.ServiceByIP(ip) != nil || env.Cluster.NodeForPodCIDR(ip) != nil || env.Cluster.NodeByIP(ip) != nil {
		return true
	}
	return false
}
