// Package dns is the check "dns": the client's DNS path layer by layer — its resolv.conf (nameserver,
// search list, ndots), the cluster DNS service and its endpoints, the nameserver over UDP and TCP,
// and the DNS pods straight by their IPs — so "DNS fails" becomes "which layer fails".
package dns

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"

	"github.com/netdoctor/netdoctor/internal/check"
	"github.com/netdoctor/netdoctor/internal/diag"
	"github.com/netdoctor/netdoctor/internal/kube"
)

// Name is the check's stable name.
const Name = "dns"

// New returns the check.
func New() check.Check { return check.Func(Name, run) }

func run(ctx context.Context, env *check.Env) ([]diag.Finding, error) {
	if env.Obs == nil {
		return nil, nil
	}
	d := env.Obs.DNS
	dnsProto := env.Proto == "dns"
	if d == nil && !dnsProto {
		return nil, nil
	}
	if d != nil && d.Resolved && env.Symptom == diag.KindHealthy {
		return nil, nil
	}
	if d == nil && env.Obs.UDP != nil && env.Obs.UDP.Outcome == "answered" {
		return nil, nil
	}
	from := env.SourceVantage()
	svc := clusterDNS(env)
	var out []diag.Finding
	hop := diag.Hop{Node: env.Source.NodeName(), Netns: env.Source.Netns, Where: "DNS path of " + env.Source.String()}

	// Layer 1: the client's resolver configuration.
	if d != nil && svc != nil {
		vip, _ := netip.ParseAddr(svc.Spec.ClusterIP)
		usesCluster := false
		for _, ns := range d.Nameservers {
			if ns == vip {
				usesCluster = true
			}
		}
		if !usesCluster && len(d.Nameservers) > 0 && env.Source.Pod != nil && env.Source.Pod.Spec.DNSPolicy != corev1.DNSDefault {
			f := check.Finding(Name, diag.KindDNSFailure, diag.SeverityCritical, hop,
				fmt.Sprintf("pod resolv.conf uses nameserver %v, not the cluster DNS %s", d.Nameservers, vip))
			check.Evidencef(f, "%s: nameserver %v search %v ndots %d", d.ResolvPath, d.Nameservers, d.Search, d.Ndots)
			check.Evidencef(f, "cluster DNS service %s/%s ClusterIP %s", svc.Namespace, svc.Name, vip)
			f.Cause = "The pod does not ask the cluster DNS, so cluster names cannot resolve."
			f.Fix = fmt.Sprintf("Set the kubelet's clusterDNS to %s (var/lib/kubelet/config.yaml) or the pod's dnsPolicy/dnsConfig, then recreate the pod.", vip)
			out = append(out, *f)
		}
		if bad := searchProblem(env, d); bad != "" {
			f := check.Finding(Name, diag.KindDNSFailure, diag.SeverityCritical, hop, bad)
			check.Evidencef(f, "%s: search %v, ndots %d", d.ResolvPath, d.Search, d.Ndots)
			for _, q := range d.Queries {
				check.Evidencef(f, "query %s", q)
			}
			f.Cause = "The resolver's search list / ndots does not expand the short name to the service's full name, so it is looked up as written and does not exist."
			f.Fix = "Restore the kubelet-written resolv.conf (search <ns>.svc.cluster.local svc.cluster.local cluster.local, options ndots:5), or use the fully qualified name with a trailing dot."
			out = append(out, *f)
		}
	}
	if d != nil && d.Truncated && !d.Resolved {
		f := check.Finding(Name, diag.KindDNSFailure, diag.SeverityCritical, hop, fmt.Sprintf("answers for %s are truncated over UDP and the retry over TCP fails", d.Name))
		for _, q := range d.Queries {
			check.Evidencef(f, "query %s", q)
		}
		f.Cause = "The answer does not fit a UDP message (TC bit set), so the resolver must ask again over TCP port 53, and that does not get through."
		f.Fix = "Allow tcp/53 to the DNS servers (firewalls and NetworkPolicies often allow only udp/53), or make the answer smaller."
		out = append(out, *f)
	}
	if d != nil && d.Outcome == "nxdomain" && len(out) == 0 {
		f := check.Finding(Name, diag.KindDNSFailure, diag.SeverityCritical, hop, fmt.Sprintf("%s does not exist (NXDOMAIN from %s)", d.Name, d.Server))
		for _, q := range d.Queries {
			check.Evidencef(f, "query %s", q)
		}
		f.Cause = "The DNS server answers, and says the name does not exist under any search domain."
		f.Fix = "Check the spelling and namespace of the name (kubectl get svc -A), or create the service."
		return append(out, *f), nil
	}
	if svc == nil || env.Probe == nil {
		return out, nil
	}

	// Layer 2: the DNS service, its endpoints, and who answers.
	vip, _ := netip.ParseAddr(svc.Spec.ClusterIP)
	var sp *corev1.ServicePort
	for i := range svc.Spec.Ports {
		if svc.Spec.Ports[i].Port == 53 {
			sp = &svc.Spec.Ports[i]
			break
		}
	}
	eps := env.ServiceEndpoints(svc, sp)
	svcName := svc.Namespace + "/" + svc.Name
	qname := svc.Name + "." + svc.Namespace + ".svc.cluster.local"
	if len(eps.Ready) == 0 {
		f := check.Finding(Name, diag.KindDNSFailure, diag.SeverityCritical, diag.Hop{Where: "cluster DNS " + svcName}, fmt.Sprintf("the cluster DNS service %s has no ready endpoints: no DNS server is running", svcName))
		check.Evidencef(f, "service %s ClusterIP %s: 0 ready endpoints, %d not ready", svcName, vip, len(eps.NotReady))
		for i := range env.Cluster.Pods {
			p := &env.Cluster.Pods[i]
			if p.Namespace == svc.Namespace && len(svc.Spec.Selector) > 0 && check.Selects(svc.Spec.Selector, p.Labels) {
				state := string(p.Status.Phase)
				if p.Status.Reason != "" {
					state += " " + p.Status.Reason
				}
				for _, cs := range p.Status.ContainerStatuses {
					switch {
					case cs.State.Waiting != nil:
						state += fmt.Sprintf(", container %s waiting: %s", cs.Name, cs.State.Waiting.Reason)
					case cs.State.Terminated != nil:
						state += fmt.Sprintf(", container %s terminated: %s (exit %d)", cs.Name, cs.State.Terminated.Reason, cs.State.Terminated.ExitCode)
					}
					if cs.RestartCount > 0 {
						state += fmt.Sprintf(", %d restarts", cs.RestartCount)
					}
				}
				check.Evidencef(f, "DNS pod %s/%s on %s: %s, ready %v", p.Namespace, p.Name, p.Spec.NodeName, state, kube.PodReady(p))
			}
		}
		f.Cause = "Every query to the cluster DNS address goes nowhere because no DNS pod backs the service."
		f.Fix = fmt.Sprintf("Bring the DNS deployment back (kubectl -n %s get deploy,pods -l %s; check events and logs of the coredns pods).", svc.Namespace, check.SelectorString(svc.Spec.Selector))
		return append(out, *f), nil
	}
	ask := func(server netip.AddrPort, tcp bool) *check.DNSObs {
		o, err := env.Probe.DNS(ctx, from, check.DNSQuery{Name: qname, Server: server, TCP: tcp})
		if err != nil {
			return &check.DNSObs{Outcome: "error: " + err.Error()}
		}
		return o
	}
	answered := func(o *check.DNSObs) bool {
		switch o.Outcome {
		case "ok", "nxdomain", "nodata", "servfail":
			return true
		}
		return false
	}
	// Every query at once: a dead path costs one timeout, not one per query.
	type job struct {
		server netip.AddrPort
		tcp    bool
		out    *check.DNSObs
	}
	jobs := []*job{{server: netip.AddrPortFrom(vip, 53)}, {server: netip.AddrPortFrom(vip, 53), tcp: true}}
	for _, ep := range eps.Ready {
		port := ep.Port
		if port == 0 {
			port = 53
		}
		jobs = append(jobs, &job{server: netip.AddrPortFrom(ep.IP, port)}, &job{server: netip.AddrPortFrom(ep.IP, port), tcp: true})
	}
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Add(1)
		go func(j *job) { defer wg.Done(); j.out = ask(j.server, j.tcp) }(j)
	}
	wg.Wait()
	vipUDP, vipTCP := jobs[0].out, jobs[1].out
	var podUDP, podTCP []string
	podUDPok, podTCPok := 0, 0
	for _, j := range jobs[2:] {
		line := fmt.Sprintf("%s %s: %s", j.server.Addr(), map[bool]string{false: "udp", true: "tcp"}[j.tcp], j.out.Outcome)
		if j.tcp {
			podTCP = append(podTCP, line)
			if answered(j.out) {
				podTCPok++
			}
		} else {
			podUDP = append(podUDP, line)
			if answered(j.out) {
				podUDPok++
			}
		}
	}
	evid := func(f *diag.Finding) {
		check.Evidencef(f, "cluster DNS service %s ClusterIP %s, %d ready endpoints", svcName, vip, len(eps.Ready))
		check.Evidencef(f, "query %s to the DNS ClusterIP %s over UDP: %s, over TCP: %s", qname, vip, vipUDP.Outcome, vipTCP.Outcome)
		check.Evidencef(f, "the same query straight to the DNS pods: %s; %s", strings.Join(podUDP, ", "), strings.Join(podTCP, ", "))
	}
	switch {
	case answered(vipUDP):
		// The DNS path works now; the failure was elsewhere (name, search list) — reported above.
	case !answered(vipUDP) && answered(vipTCP) && podTCPok > 0 && podUDPok == 0:
		f := check.Finding(Name, diag.KindDNSFailure, diag.SeverityCritical, hop, "DNS over UDP is blocked on the way to the DNS pods; TCP gets through")
		evid(f)
		f.Cause = "UDP port 53 is dropped between the client and the DNS servers (a firewall rule or network policy), while TCP 53 passes; most resolvers only use UDP, so lookups time out."
		f.Fix = "Find and remove the rule dropping UDP 53 (the firewall check names it when it is on a node); allow udp/53 as well as tcp/53 to the DNS pods."
		out = append(out, *f)
	case !answered(vipUDP) && podUDPok > 0:
		f := check.Finding(Name, diag.KindDNSFailure, diag.SeverityCritical,
			diag.Hop{Node: env.Source.NodeName(), Where: env.Source.NodeName() + " service NAT for the DNS ClusterIP"},
			fmt.Sprintf("the DNS pods answer by their own IPs, but not through the DNS ClusterIP %s", vip))
		evid(f)
		f.Cause = fmt.Sprintf("The DNS servers work; packets to the ClusterIP %s are not translated to a DNS pod on %s (kube-proxy rules missing or wrong there).", vip, env.Source.NodeName())
		f.Fix = "See the kube-proxy finding: restore kube-proxy on the client's node."
		out = append(out, *f)
	case podUDPok == 0 && podTCPok == 0:
		f := check.Finding(Name, diag.KindDNSFailure, diag.SeverityCritical, hop, "no DNS server answers, neither by the ClusterIP nor by pod IP")
		evid(f)
		f.Cause = "The DNS pods exist but nothing answers DNS from this client: the servers are not serving, or everything towards them is dropped."
		f.Fix = fmt.Sprintf("Check the DNS pods (kubectl -n %s logs -l %s) and whether the client reaches their IPs at all (netdoctor ping).", svc.Namespace, check.SelectorString(svc.Spec.Selector))
		out = append(out, *f)
	}
	return out, nil
}

// clusterDNS is the service pods use as nameserver: the service whose ClusterIP the client's
// resolv.conf names, else a service exposing port 53 whose address the kubelet's clusterDNS gives.
func clusterDNS(env *check.Env) *corev1.Service {
	if d := env.Obs.DNS; d != nil {
		for _, ns := range d.Nameservers {
			if s := env.Cluster.ServiceByIP(ns); s != nil {
				return s
			}
		}
	}
	if t := env.Target; t != nil && t.Service != nil && t.Port == 53 {
		return t.Service
	}
	for i := range env.Cluster.Services {
		s := &env.Cluster.Services[i]
		for _, p := range s.Spec.Ports {
			if p.Port == 53 && s.Namespace == "kube-system" {
				return s
			}
		}
	}
	return nil
}

// searchProblem explains a short name that failed because the search list or ndots cannot expand it.
func searchProblem(env *check.Env, d *check.DNSObs) string {
	if d.Resolved || strings.HasSuffix(d.Name, ".") || d.Outcome != "nxdomain" {
		return ""
	}
	// Does the name exist as a service under some namespace's domain?
	for i := range env.Cluster.Services {
		s := &env.Cluster.Services[i]
		full := s.Name + "." + s.Namespace + ".svc.cluster.local"
		if !strings.HasPrefix(full, d.Name+".") {
			continue
		}
		suffix := strings.TrimPrefix(full, d.Name+".")
		inSearch := false
		for _, sd := range d.Search {
			if strings.TrimSuffix(sd, ".") == suffix {
				inSearch = true
			}
		}
		dots := strings.Count(d.Name, ".")
		if !inSearch {
			return fmt.Sprintf("%q is service %s/%s, but the search list %v lacks %s", d.Name, s.Namespace, s.Name, d.Search, suffix)
		}
		if dots >= d.Ndots {
			return fmt.Sprintf("%q has %d dots ≥ ndots %d, so it is tried as an absolute name before the search list", d.Name, dots, d.Ndots)
		}
	}
	return ""
}
