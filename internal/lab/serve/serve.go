// Package serve is the process every lab pod runs (`netdoctor lab serve`, a hidden command): HTTP
// servers that accept requests of any size, UDP echo servers, and for CoreDNS pods a DNS server for
// the lab's cluster.local zone. It binds every socket first and only then signals readiness, so the
// lab never waits on a sleep.
package serve

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Options choose what to serve.
type Options struct {
	HTTP    []int  // TCP ports with an HTTP server (any TCP connect succeeds too)
	UDP     []int  // UDP echo ports
	DNS     []int  // ports with a DNS server on UDP and TCP (53 for CoreDNS pods)
	Records string // JSON file: FQDN → []IPv4, the zone the DNS server answers
	Domain  string // the zone it is authoritative for (cluster.local)
	// Ready, when not nil, receives one line once every socket is bound, and is then closed.
	Ready io.WriteCloser
}

// Run serves until ctx ends. It returns an error only when a socket cannot be bound or the records
// cannot be read.
func Run(ctx context.Context, o Options) error {
	var closers []func()
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	for _, p := range o.HTTP {
		ln, err := net.Listen("tcp", ":"+strconv.Itoa(p))
		if err != nil {
			return fmt.Errorf("serve: http :%d: %w", p, err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(handle), ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln)
		closers = append(closers, func() { srv.Close() })
	}
	for _, p := range o.UDP {
		pc, err := net.ListenPacket("udp", ":"+strconv.Itoa(p))
		if err != nil {
			return fmt.Errorf("serve: udp :%d: %w", p, err)
		}
		go echo(pc)
		closers = append(closers, func() { pc.Close() })
	}
	if len(o.DNS) > 0 {
		z, err := loadZone(o.Records, o.Domain)
		if err != nil {
			return err
		}
		for _, p := range o.DNS {
			pc, err := net.ListenPacket("udp", ":"+strconv.Itoa(p))
			if err != nil {
				return fmt.Errorf("serve: dns udp :%d: %w", p, err)
			}
			ln, err := net.Listen("tcp", ":"+strconv.Itoa(p))
			if err != nil {
				pc.Close()
				return fmt.Errorf("serve: dns tcp :%d: %w", p, err)
			}
			us, ts := &dns.Server{PacketConn: pc, Handler: z}, &dns.Server{Listener: ln, Handler: z}
			go us.ActivateAndServe()
			go ts.ActivateAndServe()
			closers = append(closers, func() { us.Shutdown(); ts.Shutdown() })
		}
	}
	if o.Ready != nil {
		fmt.Fprintln(o.Ready, "ready")
		o.Ready.Close()
	}
	<-ctx.Done()
	return nil
}

// handle answers every request with 200 after reading the whole body, so a large POST needs every
// byte to arrive.
func handle(w http.ResponseWriter, r *http.Request) {
	n, err := io.Copy(io.Discard, r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	host, _ := os.Hostname()
	fmt.Fprintf(w, "ok %s %s %d bytes from %s on %s\n", r.Method, r.URL.Path, n, r.RemoteAddr, host)
}

func echo(pc net.PacketConn) {
	buf := make([]byte, 65535)
	for {
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		_, _ = pc.WriteTo(buf[:n], addr)
	}
}

// zone answers A queries for the lab's records; every other name is NXDOMAIN (authoritative inside
// the domain; outside it as if an upstream resolver said so: the lab has no upstream).
type zone struct {
	domain string
	rr     map[string][]string
}

func loadZone(path, domain string) (*zone, error) {
	if domain == "" {
		domain = "cluster.local"
	}
	z := &zone{domain: dns.Fqdn(domain), rr: map[string][]string{}}
	if path == "" {
		return z, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("serve: records: %w", err)
	}
	if err := json.Unmarshal(b, &z.rr); err != nil {
		return nil, fmt.Errorf("serve: records %s: %w", path, err)
	}
	return z, nil
}

func (z *zone) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	if len(req.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		_ = w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	ips, ok := z.rr[name]
	switch {
	case ok:
		if q.Qtype == dns.TypeA || q.Qtype == dns.TypeANY {
			for _, ip := range ips {
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 30}, A: net.ParseIP(ip)})
			}
		}
	default:
		// Inside the zone: no such name. Outside it the lab has no upstream; answer as an upstream
		// resolver would for a name that does not exist.
		m.Authoritative = dns.IsSubDomain(z.domain, name)
		m.Rcode = dns.RcodeNameError
	}
	_ = w.WriteMsg(m)
}

// ParsePorts parses "8080,9090" into ports.
func ParsePorts(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		p, err := strconv.Atoi(f)
		if err != nil || p < 1 || p > 65535 {
			return nil, fmt.Errorf("serve: port %q: want 1..65535", f)
		}
		out = append(out, p)
	}
	return out, nil
}
