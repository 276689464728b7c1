// Package netpol is the check "network-policy": it evaluates the cluster's NetworkPolicies
// (networking.k8s.io/v1) for the diagnosed flow, in both directions — the source pod's egress
// and each target pod's ingress (the target pod, or every ready endpoint pod behind a Service,
// at the endpoint's port) — and says which policies select each side and whether any allows the
// flow. A denied flow is critical when the symptom is a failure (a warning when traffic passes
// anyway: the CNI does not enforce policies); an allowed flow through isolated pods is info.
package netpol

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/netdoctor/netdoctor/internal/check"
	"github.com/netdoctor/netdoctor/internal/diag"
	"github.com/netdoctor/netdoctor/internal/kube"
	policy "github.com/netdoctor/netdoctor/internal/netpol"
)

// Name is the check's stable name.
const Name = "network-policy"

// New returns the check.
func New() check.Check { return check.Func(Name, run) }

// target is one destination pod (or address) and the port the flow reaches it on.
type target struct {
	ep   policy.Endpoint
	port int
	why  string // "the target", "endpoint of service default/web"
}

func run(_ context.Context, env *check.Env) ([]diag.Finding, error) {
	if env.Cluster == nil || len(env.Cluster.NetworkPolicies) == 0 || env.Source == nil || env.Target == nil {
		return nil, nil
	}
	proto, icmp := protocol(env)
	src := policy.Endpoint{Pod: env.Source.Pod, IP: env.Source.IP}
	if src.Pod != nil && !src.IP.IsValid() {
		if ips := kube.PodIPs(src.Pod); len(ips) > 0 {
			src.IP = ips[0]
		}
	}
	var out []diag.Finding
	seen := map[string]bool{}
	for _, t := range targets(env, icmp) {
		f := policy.Flow{Src: src, Dst: t.ep, Protocol: proto, Port: t.port}
		v := policy.Evaluate(env.Cluster.NetworkPolicies, env.Cluster.Namespace, f)
		key := fmt.Sprintf("%s|%s|%d|%v", v.Egress.Pod, v.Ingress.Pod, t.port, v.Allowed)
		if seen[key] || !v.Egress.Isolated() && !v.Ingress.Isolated() {
			continue
		}
		seen[key] = true
		out = append(out, finding(env, f, t, v))
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Severity.Rank() < out[j].Severity.Rank() })
	return out, nil
}

// protocol is the flow's protocol for policies; icmp reports a flow without ports.
func protocol(env *check.Env) (corev1.Protocol, bool) {
	switch env.Proto {
	case "udp", "dns":
		return corev1.ProtocolUDP, false
	case "icmp":
		return corev1.ProtocolTCP, true
	}
	if env.Target.ServicePort != nil && env.Target.ServicePort.Protocol == corev1.ProtocolUDP {
		return corev1.ProtocolUDP, false
	}
	return corev1.ProtocolTCP, false
}

// targets lists the destination pods: the target pod, or the endpoints behind the service VIPs
// on the path (the target's, the client's nameservers'), at their ports.
func targets(env *check.Env, icmp bool) []target {
	var out []target
	port := func(p uint16) int {
		if icmp {
			return 0
		}
		return int(p)
	}
	t := env.Target
	if t.Pod != nil {
		out = append(out, target{ep: policy.Endpoint{Pod: t.Pod, IP: t.IP}, port: port(t.Port), why: "the target"})
	}
	for _, v := range env.ServiceVIPs() {
		for _, ep := range env.ServiceEndpoints(v.Service, v.Port).Ready {
			p := env.PodOf(ep)
			if p == nil {
				continue
			}
			why := fmt.Sprintf("endpoint of service %s/%s (%s)", v.Service.Namespace, v.Service.Name, v.Why)
			out = append(out, target{ep: policy.Endpoint{Pod: p, IP: ep.IP}, port: port(ep.Port), why: why})
		}
	}
	if len(out) == 0 && t.IP.IsValid() {
		out = append(out, target{ep: policy.Endpoint{IP: t.IP}, port: port(t.Port), why: "the target"})
	}
	return out
}

func finding(env *check.Env, f policy.Flow, t target, v policy.Verdict) diag.Finding {
	flow := flowText(f)
	kind := env.Symptom
	if kind == diag.KindHealthy || kind == "" {
		kind = diag.KindNetworkUnreachable
	}
	var sev diag.Severity
	var title string
	var hop diag.Hop
	switch {
	case v.Allowed:
		sev = diag.SeverityInfo
		title = "NetworkPolicies allow " + flow
		hop = podHop(f.Dst.Pod, "ingress")
	case env.Symptom == diag.KindHealthy:
		sev = diag.SeverityWarning
		title = "NetworkPolicies deny " + flow + ", yet it passes: the CNI does not enforce them"
	default:
		sev = diag.SeverityCritical
		title = "NetworkPolicies deny " + flow
	}
	if !v.Allowed {
		if !v.Ingress.Allowed {
			hop = podHop(f.Dst.Pod, "ingress")
			title += fmt.Sprintf(" (ingress of %s)", v.Ingress.Pod)
		} else {
			hop = podHop(f.Src.Pod, "egress")
			title += fmt.Sprintf(" (egress of %s)", v.Egress.Pod)
		}
	}
	fd := check.Finding(Name, kind, sev, hop, title)
	check.Evidencef(fd, "flow: %s, destination is %s", flow, t.why)
	side := func(dir string, s policy.Side) {
		switch {
		case s.Pod == "":
			check.Evidencef(fd, "%s: not a pod, no policy applies", dir)
		case !s.Isolated():
			check.Evidencef(fd, "%s of %s: no policy selects it (not isolated)", dir, s.Pod)
		case s.Allowed:
			check.Evidencef(fd, "%s of %s: selected by %s; allowed by %s", dir, s.Pod, strings.Join(s.Selecting, ", "), strings.Join(s.AllowedBy, ", "))
		default:
			check.Evidencef(fd, "%s of %s: selected by %s; none of them allows this flow", dir, s.Pod, strings.Join(s.Selecting, ", "))
		}
	}
	side("egress", v.Egress)
	side("ingress", v.Ingress)
	if f.Src.Pod != nil {
		check.Evidencef(fd, "source labels: %s; its namespace's: %s", labelText(f.Src.Pod.Labels), nsLabels(env, f.Src.Pod.Namespace))
	}
	switch {
	case v.Allowed:
		fd.Cause = "The pods are isolated by NetworkPolicies, and a policy allows this flow in each isolated direction."
		fd.Fix = "Nothing to change for this flow."
	case !v.Ingress.Allowed:
		fd.Cause = fmt.Sprintf("%s is isolated for ingress by %s, and no ingress rule of them matches the source and port, so the CNI drops the flow.", v.Ingress.Pod, strings.Join(v.Ingress.Selecting, ", "))
		fd.Fix = fmt.Sprintf("Add an ingress rule (in one of those policies, or a new policy selecting %s) with a from peer matching the source (podSelector/namespaceSelector/ipBlock) and the port %s.", v.Ingress.Pod, portText(f))
	default:
		fd.Cause = fmt.Sprintf("%s is isolated for egress by %s, and no egress rule of them matches the destination and port, so the CNI drops the flow.", v.Egress.Pod, strings.Join(v.Egress.Selecting, ", "))
		fd.Fix = fmt.Sprintf("Add an egress rule (in one of those policies, or a new policy selecting %s) with a to peer matching the destination and the port %s (and one for DNS, UDP/TCP 53, if names must resolve).", v.Egress.Pod, portText(f))
	}
	return *fd
}

func podHop(p *corev1.Pod, dir string) diag.Hop {
	if p == nil {
		return diag.Hop{Where: "NetworkPolicy (" + dir + ")"}
	}
	return diag.Hop{Node: p.Spec.NodeName, Netns: p.Annotations[kube.AnnotationNetns],
		Where: fmt.Sprintf("pod %s/%s, NetworkPolicy %s", p.Namespace, p.Name, dir)}
}

func flowText(f policy.Flow) string {
	name := func(e policy.Endpoint) string {
		if e.Pod != nil {
			return "pod " + e.Pod.Namespace + "/" + e.Pod.Name
		}
		return e.IP.String()
	}
	return fmt.Sprintf("%s → %s %s", name(f.Src), name(f.Dst), portText(f))
}

func portText(f policy.Flow) string {
	if f.Port == 0 {
		return "(ICMP, no port)"
	}
	return fmt.Sprintf("%d/%s", f.Port, f.Protocol)
}

func labelText(l map[string]string) string {
	if len(l) == 0 {
		return "none"
	}
	var kv []string
	for k, v := range l {
		kv = append(kv, k+"="+v)
	}
	sort.Strings(kv)
	return strings.Join(kv, ",")
}

func nsLabels(env *check.Env, ns string) string {
	if o := env.Cluster.Namespace(ns); o != nil {
		return labelText(o.Labels)
	}
	return policy.NamespaceNameLabel + "=" + ns + " (no Namespace object in the view)"
}
