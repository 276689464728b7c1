// Package fault is the lab's catalogue of faults: one file per fault, each with its ground truth
// (kind, hop, cause, fix, facts), the request to diagnose, how to inject it and how to verify the
// symptom with real traffic. Catalogue is the one explicit, ordered list.
package fault

import (
	"fmt"
	"sort"

	"github.com/netdoctor/netdoctor/internal/lab"
)

// Catalogue returns every fault, healthy "none" first, then the three seed cases, then the rest
// grouped by kind.
func Catalogue() []lab.Fault {
	return []lab.Fault{
		k8s(None()),
		k8s(DualIPVXLANSource()),
		k8s(MTUBlackholeOutsideVM()),
		k8s(KubeProxyEvictedNewNode()),
		// port-unreachable
		k8s(FirewallDropPodPort()),
		k8s(FirewallRejectPodPort()),
		k8s(WrongTargetPort()),
		k8s(AppNotListening()),
		k8s(NoReadyEndpoints()),
		// network-unreachable
		k8s(FirewallDropNodeForward()),
		k8s(FirewallRejectNodeForward()),
		MissingRoutePodCIDR(),
		k8s(RPFilterStrict()),
		IntermittentLoss(),
		k8s(NetworkPolicyDeny()),
		// dns-failure
		k8s(DNSServerDown()),
		k8s(DNSUnreachable()),
		k8s(DNSUDPBlocked()),
		k8s(WrongSearchPath()),
		// large-packet-loss
		k8s(PodMTUMismatch()),
		k8s(VXLANUnderlayMTU()),
		// cni-kube-proxy
		StaleEndpoint(),
		MissingFDBVTEP(),
		MissingNeighVTEP(),
		k8s(VXLANPortBlocked()),
		k8s(IPForwardDisabled()),
		k8s(PodCIDRExhausted()),
		k8s(BridgeNFOff()),
		MasqueradeMissing(),
	}
}

// k8s marks a fault as faithful in a --k8s lab (lab.Fault.K8s); test/live's TestK8sLab proves each
// one there. Not marked: faults that edit what real kube-proxy or flanneld own and repair (a stale
// KUBE-SEP rule: kube-proxy's next sync; the masquerade rule: flanneld's 5 s resync; FDB, neighbour
// and route entries of flannel.1), and intermittent-loss, whose random drops give the two diagnoses
// the test compares different samples.
func k8s(f lab.Fault) lab.Fault {
	f.K8s = true
	return f
}

// Lookup returns the fault named name.
func Lookup(name string) (lab.Fault, error) {
	var names []string
	for _, f := range Catalogue() {
		if f.Name == name {
			return f, nil
		}
		names = append(names, f.Name)
	}
	sort.Strings(names)
	return lab.Fault{}, fmt.Errorf("fault: unknown fault %q (see 'netdoctor lab list')", name)
}
