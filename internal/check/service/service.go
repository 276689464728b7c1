// Package service is the check "service-endpoints": does the service have ready endpoints, and do
// the NAT rules on the client's node send packets to exactly those endpoints?
package service

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/netdoctor/netdoctor/internal/check"
	"github.com/netdoctor/netdoctor/internal/diag"
	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/nodestate"
)

// Name is the check's stable name.
const Name = "service-endpoints"

// New returns the check.
func New() check.Check { return check.Func(Name, run) }

func run(ctx context.Context, env *check.Env) ([]diag.Finding, error) {
	var out []diag.Finding
	for _, v := range env.ServiceVIPs() {
		if v.Why != "the target" {
			continue // the client's nameserver is the dns check's
		}
		eps := env.ServiceEndpoints(v.Service, v.Port)
		svcName := v.Service.Namespace + "/" + v.Service.Name
		if len(eps.Ready) == 0 {
			f := check.Finding(Name, diag.KindPortUnreachable, diag.SeverityCritical,
				diag.Hop{Where: "service " + svcName + " endpoints"},
				fmt.Sprintf("service %s has no ready endpoints", svcName))
			if v.Service.Spec.Ports != nil && v.Port != nil && v.Port.Port == 53 {
				f.Kind = diag.KindDNSFailure
			}
			check.Evidencef(f, "service %s %s (%s): %d ready endpoints, %d not ready", svcName, v.Addr, v.Why, 0, len(eps.NotReady))
			for _, ep := range eps.NotReady {
				check.Evidencef(f, "endpoint %s (pod %s/%s on %s) is not ready", ep.IP, ep.PodNS, ep.PodName, ep.Node)
			}
			sel := check.SelectorString(v.Service.Spec.Selector)
			matching := 0
			for i := range env.Cluster.Pods {
				p := &env.Cluster.Pods[i]
				if p.Namespace == v.Service.Namespace && len(v.Service.Spec.Selector) > 0 && check.Selects(v.Service.Spec.Selector, p.Labels) {
					matching++
					check.Evidencef(f, "pod %s matches the selector: phase %s, ready %v", p.Name, p.Status.Phase, kube.PodReady(p))
				}
			}
			if matching == 0 {
				check.Evidencef(f, "no pod in namespace %s matches the selector %s", v.Service.Namespace, sel)
			}
			f.Cause = fmt.Sprintf("Service %s selects no ready pod, so kube-proxy has nowhere to send its traffic (it rejects or drops it).", svcName)
			f.Fix = fmt.Sprintf("Make the backing pods ready (kubectl -n %s get pods -l %s; check their readiness probes and logs) or fix the service selector.", v.Service.Namespace, sel)
			out = append(out, *f)
			continue
		}
		node := env.Source.NodeName()
		if node == "" || env.Views == nil {
			continue
		}
		snap, err := env.Views.Node(ctx, node)
		if err != nil {
			return out, fmt.Errorf("read node %s: %w", node, err)
		}
		w := snap.WalkNAT(nodestate.Packet{Src: env.Source.IP, Dst: v.Addr.Addr(), DstPort: v.Addr.Port(), Proto: v.Proto,
			InIface: check.BridgeFor(snap, env.Source.IP), Local: env.Source.Kind == check.KindNode})
		if !w.Matched {
			continue // the kube-proxy check reports missing rules
		}
		ready := map[netip.Addr]check.EndpointAddr{}
		for _, ep := range eps.Ready {
			ready[ep.IP] = ep
		}
		var stale []string
		for _, e := range w.Endpoints {
			if _, ok := ready[e.Addr.Addr()]; ok {
				continue
			}
			who := "no pod holds that address"
			if p := env.Cluster.PodByIP(e.Addr.Addr()); p != nil {
				who = fmt.Sprintf("pod %s/%s holds it but is not a ready endpoint", p.Namespace, p.Name)
			}
			stale = append(stale, fmt.Sprintf("%s (%s, chain %s, probability %.2f)", e.Addr, who, e.Chain, e.Probability))
		}
		if len(stale) == 0 {
			continue
		}
		f := check.Finding(Name, diag.KindCNIKubeProxy, diag.SeverityCritical,
			diag.Hop{Node: node, Where: node + " kube-proxy NAT rules (stale endpoint)"},
			fmt.Sprintf("kube-proxy rules on %s send service %s to endpoints that no longer exist", node, svcName))
		var readyS []string
		for _, ep := range eps.Ready {
			readyS = append(readyS, netip.AddrPortFrom(ep.IP, ep.Port).String())
		}
		sort.Strings(readyS)
		check.Evidencef(f, "EndpointSlices of %s: ready %s", svcName, strings.Join(readyS, ", "))
		for _, s := range stale {
			check.Evidencef(f, "%s DNATs %s to %s", node, v.Addr, s)
		}
		for _, st := range w.Steps {
			if strings.HasPrefix(st.Verdict, "DNAT") {
				check.Evidencef(f, "rule %s/%s #%d: %s", st.Table, st.Chain, st.RuleNum, st.Rule)
			}
		}
		f.Cause = fmt.Sprintf("The NAT rules on %s were not updated when the endpoints of %s changed, so part of the traffic is sent to an address where nothing answers.", node, svcName)
		f.Fix = fmt.Sprintf("Check kube-proxy on %s (logs, sync errors, whether it watches EndpointSlices) and restart it; the rules must list exactly the ready endpoints %s.", node, strings.Join(readyS, ", "))
		out = append(out, *f)
	}
	return out, nil
}
