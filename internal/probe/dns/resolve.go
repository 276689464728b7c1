package dns

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/netdoctor/netdoctor/internal/netns"
)

// Types are the record types Resolve accepts, in the order --help lists them.
var Types = []string{"A", "AAAA", "SRV", "PTR", "CNAME", "TXT", "MX", "NS", "SOA"}

// Resolve resolves o.Name from the vantage namespace ns (nil: the caller's own) the way glibc would
// there, recording every query. It returns an error (wrapping ErrBadInput for bad options) only when
// it could not run; when ctx ends first, the Result holds what was measured so far, Outcome timeout
// and Stopped says why.
func Resolve(ctx context.Context, ns *netns.NS, o Options) (*Result, error) {
	start := time.Now()
	qtype, name, absolute, err := question(o)
	if err != nil {
		return nil, err
	}
	servers, err := serverList(o.Server)
	if err != nil {
		return nil, err
	}
	cfg := o.Config
	if cfg == nil {
		path := o.ResolvConf
		if path == "" {
			path = ResolvConfPath(ns.Spec())
		}
		if cfg, err = LoadResolvConf(path); err != nil {
			return nil, err
		}
	}
	c := *cfg
	if o.Timeout > 0 {
		c.Timeout = o.Timeout
	}
	if o.Attempts > 0 {
		c.Attempts = o.Attempts
	}
	if o.TCP {
		c.UseVC = true
	}
	if servers == nil {
		for _, s := range c.Servers() {
			servers = append(servers, net.JoinHostPort(s, "53"))
		}
	}

	var cands []Candidate
	if absolute || o.NoSearch {
		cands = []Candidate{{Name: mdns.Fqdn(name), AsIs: true}}
	} else {
		cands = Candidates(name, &c)
	}
	res := &Result{Config: &c, Name: name, Type: mdns.TypeToString[qtype], Servers: servers, Queries: []Query{}}
	for _, cd := range cands {
		res.Candidates = append(res.Candidates, cd.Name)
	}
	r := resolver{x: exchanger{ns: ns, edns: c.EDNS0}, cfg: &c, servers: servers, qtype: qtype, res: res}
	r.search(ctx, cands)
	if done(ctx) && !res.OK() {
		res.Stopped = context.Cause(ctx).Error()
	}
	res.Duration = time.Since(start)
	return res, nil
}

// resolver is one Resolve call in progress.
type resolver struct {
	x       exchanger
	cfg     *Config
	servers []string
	qtype   uint16
	res     *Result
}

// search walks the candidates with glibc's res_nsearch rules: NXDOMAIN, NODATA and SERVFAIL on a
// search-list name go on to the next one; no server reachable at all gives up; any other failure
// (timeout, REFUSED) ends the search list but still tries the name as is if it was not tried yet.
func (r *resolver) search(ctx context.Context, cands []Candidate) {
	var (
		asIsFirst   Outcome // outcome of the as-is name tried before the search list
		gotNoData   bool
		gotServFail bool
		last        Outcome
		stopSearch  bool
		triedAny    bool
	)
	for i, cd := range cands {
		if cd.FromSearch && stopSearch {
			continue
		}
		if done(ctx) {
			break
		}
		out := r.tryName(ctx, cd.Name)
		triedAny = true
		last = out
		if out == OutcomeOK {
			r.res.Outcome = OutcomeOK
			return
		}
		if i == 0 && cd.AsIs && !cd.FromSearch && len(cands) > 1 {
			asIsFirst = out
		}
		if !cd.FromSearch {
			continue
		}
		switch out {
		case OutcomeNoData:
			gotNoData = true
		case OutcomeNXDomain:
		case OutcomeServFail:
			gotServFail = true
		case OutcomeUnreachable:
			r.res.Outcome = OutcomeUnreachable
			return
		default:
			stopSearch = true
		}
	}
	switch {
	case !triedAny || done(ctx):
		r.res.Outcome = OutcomeTimeout
	case asIsFirst != "":
		r.res.Outcome = asIsFirst
	case gotNoData:
		r.res.Outcome = OutcomeNoData
	case gotServFail:
		r.res.Outcome = OutcomeServFail
	default:
		r.res.Outcome = last
	}
}

// tryName asks the servers for one name with glibc's res_send rules: up to Attempts rounds over the
// servers, the wait doubling each round (divided by the number of servers, at least one second or
// the configured wait if shorter); SERVFAIL, REFUSED and no reply move to the next server; a truncated
// UDP answer is asked again over TCP from the same server; NXDOMAIN or an answer ends the name.
func (r *resolver) tryName(ctx context.Context, name string) Outcome {
	var sawServFail, sawRefused, sawTimeout, sawError bool
	for a := 0; a < r.cfg.Attempts; a++ {
		wait := r.cfg.Timeout << a
		if a > 0 {
			wait /= time.Duration(len(r.servers))
			if floor := min(time.Second, r.cfg.Timeout); wait < floor {
				wait = floor
			}
		}
		for _, srv := range r.servers {
			if done(ctx) {
				return OutcomeTimeout
			}
			proto := UDP
			if r.cfg.UseVC {
				proto = TCP
			}
			q, reply := r.x.query(ctx, name, r.qtype, srv, proto, wait)
			r.res.Queries = append(r.res.Queries, q)
			if reply != nil && reply.Truncated && proto == UDP {
				q, reply = r.x.query(ctx, name, r.qtype, srv, TCP, wait)
				r.res.Queries = append(r.res.Queries, q)
			}
			if reply == nil {
				switch q.Err {
				case FailTimeout:
					sawTimeout = true
				case FailError:
					sawError = true
				}
				continue
			}
			switch reply.Rcode {
			case mdns.RcodeSuccess:
				vals := r.values(reply)
				if len(vals) == 0 {
					return OutcomeNoData
				}
				r.res.Final = &Answer{Name: name, Type: mdns.TypeToString[r.qtype], Server: srv, Proto: q.Proto,
					Values: vals, Records: q.Answers}
				return OutcomeOK
			case mdns.RcodeNameError:
				return OutcomeNXDomain
			case mdns.RcodeServerFailure:
				sawServFail = true
			default:
				sawRefused = true
			}
		}
	}
	switch {
	case sawServFail:
		return OutcomeServFail
	case sawRefused:
		return OutcomeRefused
	case sawTimeout, sawError:
		return OutcomeTimeout
	}
	return OutcomeUnreachable
}

// done reports whether ctx has ended. A passed deadline counts even if ctx's timer has not fired
// yet (sockets share the deadline and may notice first); it then waits for the timer so that
// context.Cause is set.
func done(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		<-ctx.Done()
		return true
	}
	return false
}

// values are the data of the answer records of the asked type (a CNAME alone answers only a CNAME
// question, as getaddrinfo sees it).
func (r *resolver) values(m *mdns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		if rr.Header().Rrtype == r.qtype {
			out = append(out, rdata(rr))
		}
	}
	return out
}

// question validates the name and type. For PTR an IP becomes its reverse name (absolute).
func question(o Options) (qtype uint16, name string, absolute bool, err error) {
	t := strings.ToUpper(strings.TrimSpace(o.Type))
	if t == "" {
		t = "A"
	}
	ok := false
	for _, v := range Types {
		ok = ok || v == t
	}
	if !ok {
		return 0, "", false, fmt.Errorf("probe/dns: %w: unknown record type %q: use one of %s", ErrBadInput, o.Type, strings.Join(Types, ", "))
	}
	qtype = mdns.StringToType[t]
	name = o.Name
	if t == "PTR" {
		if a, perr := netip.ParseAddr(name); perr == nil {
			rev, rerr := mdns.ReverseAddr(a.String())
			if rerr != nil {
				return 0, "", false, fmt.Errorf("probe/dns: %w: %q: %v", ErrBadInput, name, rerr)
			}
			return qtype, rev, true, nil
		}
	}
	if err := checkName(name); err != nil {
		return 0, "", false, err
	}
	return qtype, name, strings.HasSuffix(name, "."), nil
}

// checkName refuses what no resolver would send: empty names, spaces and control characters, labels
// over 63 bytes, names over 253.
func checkName(name string) error {
	if name == "" {
		return fmt.Errorf("probe/dns: %w: empty name", ErrBadInput)
	}
	for _, r := range name {
		if r <= ' ' || r == 0x7f || r == '\\' || r > 0x7e {
			return fmt.Errorf("probe/dns: %w: name %q has a character a host name cannot have (use punycode for IDNs)", ErrBadInput, name)
		}
	}
	if name != "." && (strings.HasPrefix(name, ".") || strings.Contains(name, "..")) {
		return fmt.Errorf("probe/dns: %w: name %q has an empty label", ErrBadInput, name)
	}
	if _, ok := mdns.IsDomainName(name); !ok || len(strings.TrimSuffix(name, ".")) > 253 {
		return fmt.Errorf("probe/dns: %w: %q is not a valid domain name (labels up to 63 bytes, 253 in all)", ErrBadInput, name)
	}
	return nil
}

// serverList parses Options.Server: "" (use resolv.conf), an IP, or IP:port / [IPv6]:port.
func serverList(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return []string{net.JoinHostPort(a.String(), "53")}, nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil || ap.Port() == 0 {
		return nil, fmt.Errorf("probe/dns: %w: server %q is not an IP or IP:PORT", ErrBadInput, s)
	}
	return []string{ap.String()}, nil
}
