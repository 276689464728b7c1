package engine

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/netdoctor/netdoctor/internal/check"
	"github.com/netdoctor/netdoctor/internal/kube"
)

// SourceResolver finds the network namespace of a pod, and the node a namespace belongs to.
type SourceResolver interface {
	// PodNetns returns the path of the pod's network namespace, or an error that says what was tried.
	PodNetns(ctx context.Context, pod *corev1.Pod) (string, error)
}

func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadRequest, fmt.Sprintf(format, args...))
}

func resolve(ctx context.Context, cfg Config, req Request) (*check.Env, error) {
	c := cfg.Cluster
	if c == nil {
		c = &kube.Cluster{}
	}
	from, err := ParseFrom(req.From, req.Namespace)
	if err != nil {
		return nil, badRequest("%v", err)
	}
	to, err := ParseTo(req.To, req.Namespace)
	if err != nil {
		return nil, badRequest("%v", err)
	}
	env := &check.Env{Cluster: c, Views: cfg.Views, Probe: cfg.Prober, Size: req.Size}
	if env.Source, err = resolveSource(ctx, cfg, c, req.From, from); err != nil {
		return nil, err
	}
	if env.Target, err = resolveTarget(c, req.To, to); err != nil {
		return nil, err
	}
	env.Proto = strings.ToLower(req.Proto)
	switch env.Proto {
	case "":
		switch {
		case env.Target.Port == 53 && to.Kind != "name":
			env.Proto = "dns"
		case env.Target.Port != 0:
			env.Proto = "tcp"
		case to.Kind == "name":
			env.Proto = "dns"
		default:
			env.Proto = "icmp"
		}
	case "tcp", "udp", "icmp", "dns":
	default:
		return nil, badRequest("--proto %q: use tcp, udp, icmp or dns", req.Proto)
	}
	if (env.Proto == "tcp" || env.Proto == "udp") && env.Target.Port == 0 {
		return nil, badRequest("--to %q: --proto %s needs a port (add :PORT)", req.To, env.Proto)
	}
	return env, nil
}

func resolveSource(ctx context.Context, cfg Config, c *kube.Cluster, raw string, s Spec) (*check.Endpoint, error) {
	e := &check.Endpoint{Spec: raw}
	switch s.Kind {
	case "pod":
		p := c.Pod(s.Namespace, s.Name)
		if p == nil {
			return nil, badRequest("pod %q is not in the cluster view (%s): check the name with 'kubectl get pod -n %s'", s.Namespace+"/"+s.Name, source(c), s.Namespace)
		}
		e.Kind, e.Pod, e.Node = check.KindPod, p, c.Node(p.Spec.NodeName)
		if ips := kube.PodIPs(p); len(ips) > 0 {
			e.IP = ips[0]
		}
		if !e.IP.IsValid() {
			// A pod without an IP has no network namespace to probe from (stuck creating its sandbox):
			// the checks still run and explain why.
			e.NoNetwork = true
			return e, nil
		}
		if cfg.Resolver == nil {
			return nil, badRequest("no way to enter pod %s/%s: no node access configured", s.Namespace, s.Name)
		}
		path, err := cfg.Resolver.PodNetns(ctx, p)
		if err != nil {
			return nil, badRequest("cannot find the network namespace of pod %s/%s: %v", s.Namespace, s.Name, err)
		}
		e.Netns = path
	case "node":
		n := c.Node(s.Name)
		if n == nil {
			return nil, badRequest("node %q is not in the cluster view (%s)", s.Name, source(c))
		}
		e.Kind, e.Node, e.IP = check.KindNode, n, kube.InternalIP(n)
		e.Netns = NetnsPath(n.Annotations[kube.AnnotationNetns])
	case "pid":
		e.Kind, e.Netns = check.KindPID, "/proc/"+strconv.Itoa(s.PID)+"/ns/net"
		for i := range c.Pods {
			if c.Pods[i].Annotations[kube.AnnotationPID] == strconv.Itoa(s.PID) {
				e.Pod = &c.Pods[i]
				e.Node = c.Node(e.Pod.Spec.NodeName)
				if ips := kube.PodIPs(e.Pod); len(ips) > 0 {
					e.IP = ips[0]
				}
			}
		}
		e.Outside = e.Pod == nil
	case "netns":
		e.Kind, e.Netns = check.KindNetns, NetnsPath(s.Name)
		for i := range c.Nodes {
			if NetnsPath(c.Nodes[i].Annotations[kube.AnnotationNetns]) == e.Netns {
				e.Kind, e.Node = check.KindNode, &c.Nodes[i]
				e.IP = kube.InternalIP(e.Node)
			}
		}
		for i := range c.Pods {
			if NetnsPath(c.Pods[i].Annotations[kube.AnnotationNetns]) == e.Netns {
				e.Kind, e.Pod = check.KindPod, &c.Pods[i]
				e.Node = c.Node(e.Pod.Spec.NodeName)
				if ips := kube.PodIPs(e.Pod); len(ips) > 0 {
					e.IP = ips[0]
				}
			}
		}
		e.Outside = e.Kind == check.KindNetns
	default:
		e.Kind, e.Outside = check.KindHost, true
	}
	return e, nil
}

// NetnsPath maps a netns name to its path under /run/netns; paths are returned unchanged.
func NetnsPath(s string) string {
	if s == "" || strings.Contains(s, "/") {
		return s
	}
	return "/run/netns/" + s
}

func source(c *kube.Cluster) string {
	if c.Source == "" {
		return "no cluster view"
	}
	return c.Source
}

func resolveTarget(c *kube.Cluster, raw string, s Spec) (*check.Endpoint, error) {
	e := &check.Endpoint{Spec: raw, Port: s.Port}
	switch s.Kind {
	case "svc":
		svc := c.Service(s.Namespace, s.Name)
		if svc == nil {
			return nil, badRequest("service %q is not in the cluster view (%s)", s.Namespace+"/"+s.Name, source(c))
		}
		e.Kind, e.Service = check.KindService, svc
		ip, err := netip.ParseAddr(svc.Spec.ClusterIP)
		if err != nil {
			return nil, badRequest("service %s/%s has no ClusterIP (%q): give a pod or an endpoint IP instead", s.Namespace, s.Name, svc.Spec.ClusterIP)
		}
		e.IP = ip
		if err := pickServicePort(e, s); err != nil {
			return nil, err
		}
	case "pod":
		p := c.Pod(s.Namespace, s.Name)
		if p == nil {
			return nil, badRequest("pod %q is not in the cluster view (%s)", s.Namespace+"/"+s.Name, source(c))
		}
		e.Kind, e.Pod, e.Node = check.KindPod, p, c.Node(p.Spec.NodeName)
		ips := kube.PodIPs(p)
		if len(ips) == 0 {
			return nil, badRequest("pod %s/%s has no IP (phase %s)", s.Namespace, s.Name, p.Status.Phase)
		}
		e.IP = ips[0]
	case "ip":
		e.Kind, e.IP = check.KindIP, s.IP
		Refine(c, e)
	case "name":
		e.Kind, e.Name = check.KindName, s.Name
	}
	return e, nil
}

func pickServicePort(e *check.Endpoint, s Spec) error {
	ports := e.Service.Spec.Ports
	if !s.HasPort {
		if len(ports) == 0 {
			return nil
		}
		e.ServicePort, e.Port = &ports[0], uint16(ports[0].Port)
		return nil
	}
	for i := range ports {
		if uint16(ports[i].Port) == s.Port {
			e.ServicePort = &ports[i]
			return nil
		}
	}
	var have []string
	for _, p := range ports {
		have = append(have, strconv.Itoa(int(p.Port))+"/"+string(p.Protocol))
	}
	return badRequest("service %s/%s has no port %d (it has %s)", e.Service.Namespace, e.Service.Name, s.Port, strings.Join(have, ", "))
}

// Refine fills Service/Pod/Node of a target known only by address (an IP target, or a resolved name).
func Refine(c *kube.Cluster, e *check.Endpoint) {
	if svc := c.ServiceByIP(e.IP); svc != nil {
		e.Service = svc
		for i := range svc.Spec.Ports {
			if uint16(svc.Spec.Ports[i].Port) == e.Port {
				e.ServicePort = &svc.Spec.Ports[i]
			}
		}
		return
	}
	if p := c.PodByIP(e.IP); p != nil {
		e.Pod, e.Node = p, c.Node(p.Spec.NodeName)
		return
	}
	if n := c.NodeByIP(e.IP); n != nil {
		e.Node = n
	}
}
