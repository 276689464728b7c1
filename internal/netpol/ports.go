package netpol

import (
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// portsMatch: an empty list matches every port and protocol; otherwise any one entry.
func portsMatch(ports []networkingv1.NetworkPolicyPort, f Flow) bool {
	if len(ports) == 0 {
		return true
	}
	for i := range ports {
		if portMatches(&ports[i], f) {
			return true
		}
	}
	return false
}

func portMatches(p *networkingv1.NetworkPolicyPort, f Flow) bool {
	proto := corev1.ProtocolTCP
	if p.Protocol != nil {
		proto = *p.Protocol
	}
	if proto != f.Protocol || f.Port == 0 {
		return false
	}
	if p.Port == nil {
		return true // every port of the protocol
	}
	if p.Port.Type == intstr.String {
		return namedPort(f.Dst.Pod, p.Port.StrVal, proto) == f.Port
	}
	lo := int(p.Port.IntVal)
	hi := lo
	if p.EndPort != nil && int(*p.EndPort) >= lo {
		hi = int(*p.EndPort)
	}
	return f.Port >= lo && f.Port <= hi
}

// namedPort resolves a container port name on the destination pod, 0 when it has none.
func namedPort(pod *corev1.Pod, name string, proto corev1.Protocol) int {
	if pod == nil {
		return 0
	}
	for _, c := range pod.Spec.Containers {
		for _, cp := range c.Ports {
			pp := cp.Protocol
			if pp == "" {
				pp = corev1.ProtocolTCP
			}
			if cp.Name == name && pp == proto {
				return int(cp.ContainerPort)
			}
		}
	}
	return 0
}
