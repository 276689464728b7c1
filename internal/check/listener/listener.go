// Package listener is the check "listener": does anything listen on the target port inside the
// target pod (or the service's endpoint pods), and does the service's targetPort match a port the
// container really opens?
package listener

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/netdoctor/netdoctor/internal/check"
	"github.com/netdoctor/netdoctor/internal/diag"
)

// Name is the check's stable name.
const Name = "listener"

// New returns the check.
func New() check.Check { return check.Func(Name, run) }

type target struct {
	pod   *corev1.Pod
	port  uint16
	proto string
	via   string // how the port was derived
}

func run(ctx context.Context, env *check.Env) ([]diag.Finding, error) {
	if env.Views == nil || env.Proto == "icmp" {
		return nil, nil
	}
	var targets []target
	t := env.Target
	proto := "tcp"
	if env.Proto == "udp" || env.Proto == "dns" {
		proto = "udp"
	}
	switch {
	case t.Pod != nil && t.Port != 0 && t.Service == nil:
		targets = append(targets, target{pod: t.Pod, port: t.Port, proto: proto, via: "the target port"})
	case t.Service != nil && t.ServicePort != nil:
		if t.ServicePort.Protocol == corev1.ProtocolUDP {
			proto = "udp"
		}
		eps := env.ServiceEndpoints(t.Service, t.ServicePort)
		for _, ep := range eps.Ready {
			p := env.PodOf(ep)
			if p == nil {
				continue
			}
			port, via := resolveTargetPort(t.ServicePort, p)
			if ep.Port != 0 {
				port = ep.Port
			}
			targets = append(targets, target{pod: p, port: port, proto: proto, via: via})
		}
	}
	var out []diag.Finding
	for _, tg := range targets {
		snap, err := env.Views.Pod(ctx, tg.pod)
		if err != nil {
			return out, fmt.Errorf("read pod %s/%s: %w", tg.pod.Namespace, tg.pod.Name, err)
		}
		if snap.Sockets == nil || snap.ListensOn(tg.proto, tg.port) {
			continue
		}
		var listening []string
		for _, s := range snap.Sockets {
			if s.Proto == tg.proto || tg.proto == "tcp" && s.State == "LISTEN" {
				listening = append(listening, fmt.Sprintf("%s/%s", s.Local, s.Proto))
			}
		}
		sort.Strings(listening)
		name := tg.pod.Namespace + "/" + tg.pod.Name
		f := check.Finding(Name, diag.KindPortUnreachable, diag.SeverityCritical,
			diag.Hop{Node: tg.pod.Spec.NodeName, Netns: tg.pod.Annotations["netdoctor.dev/netns"], Where: "pod " + name},
			fmt.Sprintf("nothing listens on %s port %d in pod %s", strings.ToUpper(tg.proto), tg.port, name))
		check.Evidencef(f, "port %d comes from %s", tg.port, tg.via)
		if len(listening) == 0 {
			check.Evidencef(f, "pod %s has no listening %s socket at all", name, tg.proto)
		} else {
			check.Evidencef(f, "pod %s listens on: %s", name, strings.Join(listening, ", "))
		}
		var cports []string
		for _, c := range tg.pod.Spec.Containers {
			for _, cp := range c.Ports {
				cports = append(cports, fmt.Sprintf("%s %d/%s", c.Name, cp.ContainerPort, strings.ToLower(string(cp.Protocol))))
			}
		}
		if len(cports) > 0 {
			check.Evidencef(f, "declared containerPorts: %s", strings.Join(cports, ", "))
		}
		f.Cause = fmt.Sprintf("The connection reaches pod %s but no process there accepts on port %d, so the kernel answers with a reset (TCP) or port-unreachable (UDP).", name, tg.port)
		if t.Service != nil {
			f.Fix = fmt.Sprintf("Point the service's targetPort at the port the application listens on (%s), or make the application listen on %d.", strings.Join(listening, ", "), tg.port)
		} else {
			f.Fix = fmt.Sprintf("Start the application or make it listen on %d (it listens on %s).", tg.port, strings.Join(listening, ", "))
		}
		out = append(out, *f)
	}
	return out, nil
}

// resolveTargetPort maps a service port's targetPort (number or name) to the pod's port.
func resolveTargetPort(sp *corev1.ServicePort, p *corev1.Pod) (uint16, string) {
	tp := sp.TargetPort
	switch {
	case tp.Type == intstr.String && tp.StrVal != "":
		for _, c := range p.Spec.Containers {
			for _, cp := range c.Ports {
				if cp.Name == tp.StrVal {
					return uint16(cp.ContainerPort), fmt.Sprintf("targetPort %q = containerPort %d", tp.StrVal, cp.ContainerPort)
				}
			}
		}
		return uint16(sp.Port), fmt.Sprintf("targetPort %q, which no container port is named", tp.StrVal)
	case tp.IntVal != 0:
		return uint16(tp.IntVal), fmt.Sprintf("service port %d → targetPort %d", sp.Port, tp.IntVal)
	}
	return uint16(sp.Port), fmt.Sprintf("service port %d (targetPort defaults to it)", sp.Port)
}
