package engine

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/netdoctor/netdoctor/internal/check"
	"github.com/netdoctor/netdoctor/internal/diag"
)

// DefaultLargeBytes is the size of the large transfer that tests for large-packet loss behind a
// working TCP handshake: enough for several full-size segments.
const DefaultLargeBytes = 64 << 10

// runSymptomProbes measures what the client sees, in the order a person would: resolve the name,
// then ICMP to the address, TCP/UDP to the port, then a large transfer when the small one works.
func runSymptomProbes(ctx context.Context, p check.Prober, env *check.Env) (*check.Observations, []diag.ProbeRecord) {
	obs := &check.Observations{}
	var recs []diag.ProbeRecord
	if p == nil {
		return obs, recs
	}
	from := env.SourceVantage()
	t := env.Target
	rec := func(name, to string, ok bool, outcome, summary string, start time.Time, rtt time.Duration, err error) {
		recs = append(recs, record(env, name, to, ok, outcome, summary, start, rtt, err))
	}

	if t.Kind == check.KindName {
		start := time.Now()
		d, err := p.DNS(ctx, from, check.DNSQuery{Name: t.Name})
		if err != nil {
			rec("dns", t.Name, false, "", "could not query", start, 0, err)
			obs.DNS = &check.DNSObs{Name: t.Name, Outcome: "error: " + err.Error()}
			return obs, recs
		}
		obs.DNS = d
		rec("dns", t.Name, d.Resolved, d.Outcome, fmt.Sprintf("%s → %v (%s)", t.Name, d.Addrs, d.Outcome), start, 0, nil)
		if !d.Resolved || len(d.Addrs) == 0 {
			return obs, recs
		}
		t.IP = d.Addrs[0]
		Refine(env.Cluster, t)
	}
	if !t.IP.IsValid() {
		return obs, recs
	}

	isVIP := t.Service != nil && env.Cluster.ServiceByIP(t.IP) != nil
	// ICMP and TCP run at the same time: a lost packet costs one wait, not two.
	var wg sync.WaitGroup
	var icmpRecs []diag.ProbeRecord
	if !isVIP && env.Proto != "dns" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			// With ICMP as the flow itself, enough pings to see intermittent loss (30% loss passes
			// 3 pings a third of the time, 20 pings less than once in a thousand).
			count := 3
			if env.Proto == "icmp" {
				count = 20
			}
			i, err := p.Ping(ctx, from, t.IP, 56, false, count)
			if err == nil {
				obs.ICMP = i
				icmpRecs = append(icmpRecs, record(env, "icmp", t.IP.String(), i.Received == i.Sent, i.Outcome, fmt.Sprintf("%d/%d replies", i.Received, i.Sent), start, i.RTT, nil))
			} else {
				icmpRecs = append(icmpRecs, record(env, "icmp", t.IP.String(), false, "", "", start, 0, err))
			}
		}()
	}
	var tcpRecs []diag.ProbeRecord
	if env.Proto == "tcp" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := func(name, to string, ok bool, outcome, summary string, start time.Time, rtt time.Duration, err error) {
				tcpRecs = append(tcpRecs, record(env, name, to, ok, outcome, summary, start, rtt, err))
			}
			tcpProbe(ctx, p, env, from, obs, rec)
		}()
	}
	wg.Wait()
	recs = append(recs, icmpRecs...)
	recs = append(recs, tcpRecs...)

	switch env.Proto {
	case "dns":
		port := t.Port
		if port == 0 {
			port = 53
		}
		if t.Kind == check.KindName {
			break // the resolution above was the DNS probe
		}
		start := time.Now()
		srv := netip.AddrPortFrom(t.IP, port)
		d, err := p.DNS(ctx, from, check.DNSQuery{Name: probeName(env), Server: srv})
		if err != nil {
			rec("dns", srv.String(), false, "", "", start, 0, err)
			break
		}
		u := &check.UDPObs{Addr: srv, Sent: 1, Outcome: "answered", Detail: d.Outcome}
		switch d.Outcome {
		case "timeout", "unreachable", "refused", "error":
			u.Outcome = d.Outcome
		default:
			u.Answered = 1
		}
		obs.UDP = u
		rec("dns", srv.String(), u.Answered > 0, d.Outcome, fmt.Sprintf("query %s @%s: %s", probeName(env), srv, d.Outcome), start, 0, nil)
	case "icmp":
		// Large DF pings only when a size was asked for: the client's own MTU is the mtu check's.
		if obs.ICMP == nil || obs.ICMP.Received == 0 || env.Size <= 0 {
			break
		}
		size := env.Size
		start := time.Now()
		i, err := p.Ping(ctx, from, t.IP, size-28, true, 3)
		if err != nil {
			rec("icmp-large", t.IP.String(), false, "", "", start, 0, err)
			break
		}
		l := &check.LargeObs{Bytes: size, Outcome: "ok", Detail: fmt.Sprintf("%d/%d DF pings of %d bytes answered", i.Received, i.Sent, size)}
		if i.Received < i.Sent {
			l.Outcome = "failed"
			if i.Outcome == "frag-needed" {
				l.Detail += fmt.Sprintf("; frag-needed from %s announces MTU %d", i.ErrorFrom, i.MTU)
			}
		}
		obs.Large = l
		rec("icmp-large", t.IP.String(), l.Outcome == "ok", i.Outcome, l.Detail, start, i.RTT, nil)
	}
	return obs, recs
}

// probeName is the name asked of a DNS server under test: the target service's own name when the
// target is a service, else the cluster DNS service's name, else a root query.
func probeName(env *check.Env) string {
	domain := "cluster.local"
	if t := env.Target; t.Service != nil {
		return t.Service.Name + "." + t.Service.Namespace + ".svc." + domain
	}
	for i := range env.Cluster.Services {
		s := &env.Cluster.Services[i]
		for _, p := range s.Spec.Ports {
			if p.Port == 53 {
				return s.Name + "." + s.Namespace + ".svc." + domain
			}
		}
	}
	return "."
}

// tcpProbe connects to the target, then sends a large body when every connect worked.
func tcpProbe(ctx context.Context, p check.Prober, env *check.Env, from check.Vantage, obs *check.Observations,
	rec func(name, to string, ok bool, outcome, summary string, start time.Time, rtt time.Duration, err error)) {
	t := env.Target
	start := time.Now()
	ap := netip.AddrPortFrom(t.IP, t.Port)
	tc, err := p.TCP(ctx, from, ap, 3)
	if err != nil {
		rec("tcp", ap.String(), false, "", "", start, 0, err)
		return
	}
	obs.TCP = tc
	rec("tcp", ap.String(), tc.Connected == tc.Sent, tc.Outcome, fmt.Sprintf("%d/%d connected, %d refused, %d timeout, %d unreachable", tc.Connected, tc.Sent, tc.Refused, tc.Timeout, tc.Unreach), start, tc.RTT, nil)
	if lp, ok := p.(check.LargeProber); ok && tc.Connected == tc.Sent {
		size := env.Size
		if size <= 0 {
			size = DefaultLargeBytes
		}
		start := time.Now()
		l, err := lp.Large(ctx, from, ap, size)
		if err != nil {
			rec("tcp-large", ap.String(), false, "", "", start, 0, err)
			return
		}
		obs.Large = l
		rec("tcp-large", ap.String(), l.Outcome == "ok", l.Outcome, l.Detail, start, 0, nil)
	}
}

func record(env *check.Env, name, to string, ok bool, outcome, summary string, start time.Time, rtt time.Duration, err error) diag.ProbeRecord {
	r := diag.ProbeRecord{Name: name, From: env.Source.Spec, To: to, OK: ok, Outcome: outcome, Summary: summary,
		Duration: ms(time.Since(start)), RTTMs: ms(rtt)}
	if err != nil {
		r.Error, r.Outcome = err.Error(), "error"
	}
	return r
}
