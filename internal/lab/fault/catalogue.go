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
		FirewallRejectPodPort(),
		k8s(WrongTargetPort()),
		AppNotListening(),
		k8s(NoReadyEndpoints()),
		// network-unreachable
		FirewallDropNodeForward(),
		FirewallRejectNodeForward(),
		MissingRoutePodCIDR(),
		RPFilterStrict(),
		IntermittentLoss(),
		NetworkPolicyDeny(),
		// dns-failure
		k8s(DNSServerDown()),
		DNSUnreachable(),
		DNSUDPBlocked(),
		WrongSearchPath(),
		// large-packet-loss
		PodMTUMismatch(),
		VXLANUnderlayMTU(),
		// cni-kube-proxy
		StaleEndpoint(),
		MissingFDBVTEP(),
		MissingNeighVTEP(),
		VXLANPortBlocked(),
		IPForwardDisabled(),
		PodCIDRExhausted(),
		BridgeNFOff(),
		MasqueradeMissing(),
	}
}

// k8s marks a fault as faithful in a --k8s lab (lab.Fault.K8s); test/k8s proves each one there.
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
