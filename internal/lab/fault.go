package lab

import (
	"context"
	"regexp"
	"strings"

	"github.com/netdoctor/netdoctor/internal/diag"
)

// Request is what to diagnose for a fault: the same fields `netdoctor diagnose` takes.
type Request struct {
	From  string `json:"from"`  // "pod/NS/NAME", "netns/PATH" (the outside VM) or "node/NAME"
	To    string `json:"to"`    // "svc/NS/NAME:PORT", "pod/NS/NAME:PORT", "IP:PORT" or a DNS name
	Proto string `json:"proto"` // tcp, udp, icmp, dns
	Size  int    `json:"size"`  // bytes to send (0 = the probe's default)
}

// Fault is one entry of the catalogue: how to break a healthy lab, how to prove it is broken, and
// the ground truth a correct diagnosis states.
type Fault struct {
	Name        string            // kebab-case, stable
	Description string            // one line
	Kind        diag.Kind         // the verdict a correct diagnosis gives
	Hop         diag.Hop          // where the fault is
	Cause, Fix  string            // ground truth in words
	Request     Request           // what to diagnose
	Facts       map[string]string // concrete values a diagnosis must state ("static_ip", "tunnel_mtu", …)
	// Mutate changes the plan before the lab is built (nil: nothing). Use it for faults that must be
	// visible in the dump or exist from the start (an evicted kube-proxy, a second address).
	Mutate func(p *Plan)
	// Inject breaks the running healthy lab (nil: nothing).
	Inject func(ctx context.Context, l *Lab) error
	// Flows are the symptom: each flow with the outcome the fault gives. A healthy lab must give
	// OutcomeOK for every one of them (that is tested).
	Flows []Flow
	// Verify checks the symptom is really there. Nil means CheckFlows(Flows).
	Verify func(ctx context.Context, l *Lab) error
	// K8s: the fault is faithful in a --k8s lab too, where real kube-proxy and flanneld write the
	// rules and routes (faults that edit the rules the lab writes itself are not).
	K8s bool
}

// VerifyFunc is Verify, or running the fault's Flows when Verify is nil.
func (f *Fault) VerifyFunc() func(ctx context.Context, l *Lab) error {
	if f.Verify != nil {
		return f.Verify
	}
	flows := f.Flows
	return func(ctx context.Context, l *Lab) error { return l.CheckFlows(ctx, flows, false) }
}

// Placeholder is replaced by the lab name in a fault's text (see Lab.Expand): a catalogue entry is
// static, the namespaces of a lab carry its name. Expand also replaces "{new}", "{new-ip}" and
// "{new-cidr}" with the new (last) node's name, InternalIP and pod CIDR, and "~APP@NODE" with the name
// of the first pod labelled app=APP on NODE.
const Placeholder = "{lab}"

// podRefPattern is a symbolic pod name in catalogue text: "~APP@NODE" is the first pod labelled
// app=APP on NODE (pod names carry hashes of the lab name, so the catalogue cannot spell them).
var podRefPattern = regexp.MustCompile(`~([a-z0-9-]+)@(node[0-9]+)`)

// Expand returns f with the placeholders filled in, in Description, Request, Hop, Cause, Fix, Facts
// and Flows.
func (l *Lab) Expand(f Fault) Fault {
	r := replacer{l}
	f.Request.From, f.Request.To = r.Replace(f.Request.From), r.Replace(f.Request.To)
	f.Hop.Node, f.Hop.Netns, f.Hop.Where = r.Replace(f.Hop.Node), r.Replace(f.Hop.Netns), r.Replace(f.Hop.Where)
	f.Cause, f.Fix, f.Description = r.Replace(f.Cause), r.Replace(f.Fix), r.Replace(f.Description)
	facts := make(map[string]string, len(f.Facts))
	for k, v := range f.Facts {
		facts[k] = r.Replace(v)
	}
	f.Facts = facts
	flows := make([]Flow, len(f.Flows))
	for i, fl := range f.Flows {
		fl.From, fl.To = r.Replace(fl.From), r.Replace(fl.To)
		flows[i] = fl
	}
	f.Flows = flows
	return f
}

type replacer struct{ l *Lab }

func (r replacer) Replace(s string) string {
	n := r.l.Plan.NewNode()
	s = strings.NewReplacer(Placeholder, r.l.State.Name, "{new}", n.Name, "{new-ip}", n.IP.String(), "{new-cidr}", n.PodCIDR.String()).Replace(s)
	return podRefPattern.ReplaceAllStringFunc(s, func(m string) string {
		sm := podRefPattern.FindStringSubmatch(m)
		if pod := r.l.Plan.PodOn(sm[1], sm[2]); pod != nil {
			return pod.Name
		}
		return m
	})
}

// PodOn returns the first pod labelled app=app on node, or nil.
func (p *Plan) PodOn(app, node string) *PodPlan {
	for _, pod := range p.PodsByApp(app) {
		if pod.Node == node {
			return pod
		}
	}
	return nil
}

// KubeProxyPodName is the name of the kube-proxy DaemonSet pod on node.
func (p *Plan) KubeProxyPodName(node string) string {
	return "kube-proxy-" + nameHash(p.Name+"/kube-proxy/"+node, 5)
}
