package local

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/netdoctor/netdoctor/internal/check"
	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/netns"
	"github.com/netdoctor/netdoctor/internal/probe/bulk"
	"github.com/netdoctor/netdoctor/internal/probe/dns"
	"github.com/netdoctor/netdoctor/internal/probe/icmp"
	"github.com/netdoctor/netdoctor/internal/probe/tcp"
)

// Probe timings for a diagnosis: short, so a whole diagnosis stays within seconds.
const (
	probeInterval = 20 * time.Millisecond
	probeWait     = time.Second
	dnsTimeout    = 700 * time.Millisecond
)

// vantage opens the namespace of a vantage point, and names its resolv.conf.
func (a *Access) vantage(ctx context.Context, v check.Vantage) (*netns.NS, string, error) {
	switch {
	case v.Pod != nil:
		path, err := a.PodNetns(ctx, v.Pod)
		if err != nil {
			return nil, "", err
		}
		ns, err := netns.OpenPath(path)
		if err != nil {
			return nil, "", err
		}
		return ns, podResolvConf(v.Pod, path), nil
	case v.Node != "":
		spec, _, err := a.nodeSpec(v.Node)
		if err != nil {
			return nil, "", err
		}
		ns, err := netns.Open(spec)
		return ns, dns.ResolvConfPath(spec), err
	case v.Netns != "":
		spec := netns.Spec{Netns: v.Netns}
		if strings.HasPrefix(v.Netns, "/proc/") && strings.HasSuffix(v.Netns, "/ns/net") {
			if pid, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(v.Netns, "/proc/"), "/ns/net")); err == nil {
				spec = netns.Spec{PID: pid}
			}
		} else if strings.HasPrefix(v.Netns, "/run/netns/") {
			spec = netns.Spec{Netns: strings.TrimPrefix(v.Netns, "/run/netns/")}
		}
		ns, err := netns.Open(spec)
		return ns, dns.ResolvConfPath(spec), err
	}
	return nil, "/etc/resolv.conf", nil
}

// podResolvConf is the resolv.conf the pod's process sees: /proc/PID/root/etc/resolv.conf when a
// process is known, else /etc/netns/NAME/resolv.conf for a named namespace.
func podResolvConf(p interface{ GetAnnotations() map[string]string }, path string) string {
	if pid := p.GetAnnotations()[kube.AnnotationPID]; pid != "" {
		return dns.ResolvConfPath(netns.Spec{PID: atoi(pid)})
	}
	if strings.HasPrefix(path, "/run/netns/") {
		return dns.ResolvConfPath(netns.Spec{Netns: strings.TrimPrefix(path, "/run/netns/")})
	}
	if strings.HasPrefix(path, "/proc/") {
		pid := strings.TrimSuffix(strings.TrimPrefix(path, "/proc/"), "/ns/net")
		return dns.ResolvConfPath(netns.Spec{PID: atoi(pid)})
	}
	return "/etc/resolv.conf"
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[len(d)/2]
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

// TCP connects count times.
func (a *Access) TCP(ctx context.Context, from check.Vantage, to netip.AddrPort, count int) (*check.TCPObs, error) {
	ns, _, err := a.vantage(ctx, from)
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	// Attempts run in parallel (from different source ports), so a dropped SYN costs one wait, not
	// count waits.
	if count <= 0 {
		count = 1
	}
	results := make([]*tcp.Result, count)
	errs := make([]error, count)
	var wg sync.WaitGroup
	for i := 0; i < count; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results[i], errs[i] = tcp.Ping(ctx, ns, tcp.Options{Addr: to.String(), Count: 1, Wait: probeWait})
		}(i)
	}
	wg.Wait()
	r := &tcp.Result{}
	var rtts []time.Duration
	for i, x := range results {
		if x == nil {
			if errs[i] != nil {
				return nil, errs[i]
			}
			continue
		}
		r.Attempts = append(r.Attempts, x.Attempts...)
		r.Refused += x.Refused
		r.Timeouts += x.Timeouts
		r.Unreachable += x.Unreachable
		r.Stats.Sent += x.Stats.Sent
		r.Stats.Received += x.Stats.Received
		if x.Stats.Received > 0 {
			rtts = append(rtts, x.Stats.Median)
		}
	}
	r.Stats.Median = median(rtts)
	err = errors.Join(errs...)
	o := &check.TCPObs{Addr: to, Sent: r.Stats.Sent, Connected: r.Stats.Received, Refused: r.Refused, Timeout: r.Timeouts, Unreach: r.Unreachable, RTT: r.Stats.Median}
	for _, at := range r.Attempts {
		if at.Outcome == tcp.OutcomeUnreachable && o.Reason == "" {
			o.Reason = string(at.Reason)
			if at.From.IsValid() {
				o.Reason += " from " + at.From.String()
				o.From = at.From
			}
		}
	}
	switch {
	case o.Sent > 0 && o.Connected == o.Sent:
		o.Outcome = "connected"
	case o.Connected > 0:
		o.Outcome = "partial"
	case o.Refused > 0:
		o.Outcome = "refused"
	case o.Unreach > 0:
		o.Outcome = "unreachable"
	default:
		o.Outcome = "timeout"
	}
	return o, err
}

// Ping sends count echo requests.
func (a *Access) Ping(ctx context.Context, from check.Vantage, to netip.Addr, size int, df bool, count int) (*check.ICMPObs, error) {
	ns, _, err := a.vantage(ctx, from)
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	r, err := icmp.Ping(ctx, ns, icmp.Options{Target: to.String(), Count: count, Interval: probeInterval, Size: size, DF: df, Wait: probeWait})
	if err != nil && r == nil {
		return nil, err
	}
	o := &check.ICMPObs{Target: to, Size: size, DF: df, Sent: r.Stats.Sent, Received: r.Stats.Received, RTT: r.Stats.Median}
	for _, p := range r.Probes {
		if p.ICMP != nil && o.Detail == "" {
			o.ErrorFrom, o.MTU = p.ICMP.From, p.ICMP.MTU
			o.Outcome = string(p.ICMP.Reason)
			o.Detail = fmt.Sprintf("%s from %s", p.ICMP.Reason, p.ICMP.From)
		}
		if p.Outcome == icmp.OutcomeLocalError && o.Detail == "" {
			o.Outcome, o.Detail, o.MTU = "local-error", p.Local, p.LocalMTU
			if p.LocalMTU > 0 {
				o.Outcome = "frag-needed"
			}
		}
	}
	switch {
	case o.Sent > 0 && o.Received == o.Sent:
		o.Outcome = "ok"
	case o.Outcome == "" && o.Received > 0:
		o.Outcome = "partial"
	case o.Outcome == "":
		o.Outcome = "timeout"
	}
	return o, err
}

// DNS resolves a name as the vantage point would, or asks one server.
func (a *Access) DNS(ctx context.Context, from check.Vantage, q check.DNSQuery) (*check.DNSObs, error) {
	ns, rc, err := a.vantage(ctx, from)
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	// One attempt per server with a short wait: a diagnosis needs to know that a lookup fails, not
	// to wait out glibc's full retry schedule (5 s × 2 attempts per search domain).
	opt := dns.Options{Name: q.Name, Type: q.Type, TCP: q.TCP, ResolvConf: rc, Timeout: dnsTimeout, Attempts: 1}
	if q.Server.IsValid() {
		opt.Server, opt.NoSearch, opt.Attempts = q.Server.String(), true, 1
	}
	r, err := dns.Resolve(ctx, ns, opt)
	if err != nil && r == nil {
		return nil, err
	}
	o := &check.DNSObs{Name: q.Name, Resolved: r.OK(), Outcome: string(r.Outcome), TCPTried: q.TCP}
	if c := r.Config; c != nil {
		o.Search, o.Ndots, o.ResolvPath = c.Search, c.Ndots, c.Source
		for _, s := range c.Nameservers {
			if ip, err := netip.ParseAddr(s); err == nil {
				o.Nameservers = append(o.Nameservers, ip)
			}
		}
	}
	if r.Final != nil {
		o.Server = r.Final.Server
		for _, v := range r.Final.Values {
			if ip, err := netip.ParseAddr(v); err == nil {
				o.Addrs = append(o.Addrs, ip)
			}
		}
	}
	for _, qq := range r.Queries {
		res := qq.Rcode
		if res == "" {
			res = string(qq.Err)
		}
		if qq.Truncated {
			o.Truncated = true
			res += " (truncated)"
		}
		if qq.Proto == dns.TCP {
			o.TCPTried = true
		}
		o.Queries = append(o.Queries, fmt.Sprintf("%s %s @%s %s → %s", qq.Name, qq.Type, qq.Server, qq.Proto, res))
		if o.Server == "" {
			o.Server = qq.Server
		}
	}
	return o, err
}

// Large runs the large-transfer probe.
func (a *Access) Large(ctx context.Context, from check.Vantage, to netip.AddrPort, n int) (*check.LargeObs, error) {
	ns, _, err := a.vantage(ctx, from)
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	r, err := bulk.Run(ctx, ns, bulk.Options{Addr: to, Bytes: n, Wait: 1500 * time.Millisecond})
	if err != nil {
		return nil, err
	}
	return &check.LargeObs{Addr: to, Handshake: r.Handshake, SmallOK: r.SmallOK, Bytes: n, Acked: r.Acked,
		Retransmits: r.Retransmits, MSS: r.MSS, PMTU: r.PMTU, Outcome: string(r.Outcome), Detail: r.Detail}, nil
}

// UDP is not used by the local prober yet (DNS covers UDP services).
func (a *Access) UDP(ctx context.Context, from check.Vantage, to netip.AddrPort, payload []byte, count int) (*check.UDPObs, error) {
	return nil, fmt.Errorf("udp probe: not available")
}

// PingHop sends one ping with the given TTL and DF setting; ErrorFrom is the hop that answered
// time-exceeded (Outcome "time-exceeded"), or the target for a reply (Outcome "ok").
func (a *Access) PingHop(ctx context.Context, from check.Vantage, to netip.Addr, size int, df bool, ttl int) (*check.ICMPObs, error) {
	ns, _, err := a.vantage(ctx, from)
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	r, err := icmp.Ping(ctx, ns, icmp.Options{Target: to.String(), Count: 1, Size: size, DF: df, TTL: ttl, Wait: 700 * time.Millisecond})
	if err != nil && r == nil {
		return nil, err
	}
	o := &check.ICMPObs{Target: to, Size: size, DF: df, Sent: 1, Outcome: "timeout"}
	for _, p := range r.Probes {
		switch {
		case p.Outcome == icmp.OutcomeReply:
			o.Received, o.Outcome, o.ErrorFrom = 1, "ok", p.From
		case p.ICMP != nil:
			o.Outcome, o.ErrorFrom, o.MTU = string(p.ICMP.Reason), p.ICMP.From, p.ICMP.MTU
		case p.Outcome == icmp.OutcomeLocalError:
			o.Outcome, o.Detail = "local-error", p.Local
		}
	}
	return o, err
}
