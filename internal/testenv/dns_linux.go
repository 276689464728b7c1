//go:build linux

package testenv

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// DNSZone is what a test DNS server serves. Names are matched case-insensitively.
type DNSZone struct {
	// Records are resource records in presentation format ("web.default.svc.cluster.local. 30 IN A 10.96.0.20").
	Records []string
	// ServFail are names answered with SERVFAIL (a broken upstream).
	ServFail []string
	// Refused are names answered with REFUSED.
	Refused []string
}

// DNSQuery is one query a test DNS server received.
type DNSQuery struct {
	Name  string // FQDN, lower case, trailing dot
	Type  string // A, AAAA, SRV…
	Proto string // udp or tcp
}

// DNSServer is a real DNS server (miekg/dns) listening on UDP and TCP inside a test namespace. Over UDP
// it truncates answers that do not fit 512 bytes (or the client's EDNS0 size) and sets TC, as real
// servers do, so clients must retry over TCP.
type DNSServer struct {
	Addr string // ip:port it listens on, inside the namespace

	mu    sync.Mutex
	log   []DNSQuery
	rrs   map[string][]mdns.RR
	rcode map[string]int
}

// StartDNSServer starts a DNS server on addr (ip:port) inside n serving zone, waits until both sockets
// serve, and stops it when the test ends.
func StartDNSServer(t testing.TB, n *NetNS, addr string, zone DNSZone) *DNSServer {
	t.Helper()
	s := &DNSServer{Addr: addr, rrs: map[string][]mdns.RR{}, rcode: map[string]int{}}
	for _, line := range zone.Records {
		rr, err := mdns.NewRR(line)
		if err != nil || rr == nil {
			t.Fatalf("testenv: bad record %q: %v", line, err)
		}
		k := strings.ToLower(rr.Header().Name)
		s.rrs[k] = append(s.rrs[k], rr)
	}
	for _, name := range zone.ServFail {
		s.rcode[strings.ToLower(mdns.Fqdn(name))] = mdns.RcodeServerFailure
	}
	for _, name := range zone.Refused {
		s.rcode[strings.ToLower(mdns.Fqdn(name))] = mdns.RcodeRefused
	}
	var pc net.PacketConn
	var ln net.Listener
	err := n.NS.Do(func() error {
		var err error
		if pc, err = net.ListenPacket("udp", addr); err != nil {
			return err
		}
		ln, err = net.Listen("tcp", addr)
		return err
	})
	if err != nil {
		if pc != nil {
			pc.Close()
		}
		t.Fatalf("testenv: listen %s in %s: %v", addr, n.Name, err)
	}
	started := make(chan struct{}, 2)
	udp := &mdns.Server{PacketConn: pc, Handler: s.handler("udp"), NotifyStartedFunc: func() { started <- struct{}{} }}
	tcp := &mdns.Server{Listener: ln, Handler: s.handler("tcp"), NotifyStartedFunc: func() { started <- struct{}{} }}
	errc := make(chan error, 2)
	go func() { errc <- udp.ActivateAndServe() }()
	go func() { errc <- tcp.ActivateAndServe() }()
	for i := 0; i < 2; i++ {
		select {
		case <-started:
		case err := <-errc:
			t.Fatalf("testenv: dns server on %s: %v", addr, err)
		case <-time.After(30 * time.Second):
			t.Fatalf("testenv: dns server on %s did not start", addr)
		}
	}
	t.Cleanup(func() {
		_ = udp.Shutdown()
		_ = tcp.Shutdown()
	})
	return s
}

// Log returns the queries received so far, in arrival order.
func (s *DNSServer) Log() []DNSQuery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]DNSQuery(nil), s.log...)
}

// ResetLog forgets the queries received so far.
func (s *DNSServer) ResetLog() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = nil
}

func (s *DNSServer) handler(proto string) mdns.HandlerFunc {
	return func(w mdns.ResponseWriter, req *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(req)
		m.Authoritative = true
		m.RecursionAvailable = true
		if len(req.Question) != 1 {
			m.Rcode = mdns.RcodeFormatError
			_ = w.WriteMsg(m)
			return
		}
		q := req.Question[0]
		name := strings.ToLower(q.Name)
		s.mu.Lock()
		s.log = append(s.log, DNSQuery{Name: name, Type: mdns.TypeToString[q.Qtype], Proto: proto})
		rrs, exists := s.rrs[name]
		rcode, special := s.rcode[name]
		s.mu.Unlock()
		switch {
		case special:
			m.Rcode = rcode
		case !exists:
			m.Rcode = mdns.RcodeNameError
		default:
			m.Answer = s.answer(rrs, q.Qtype)
		}
		if proto == "udp" {
			size := mdns.MinMsgSize
			if opt := req.IsEdns0(); opt != nil {
				size = int(opt.UDPSize())
			}
			m.Truncate(size)
		}
		_ = w.WriteMsg(m)
	}
}

// answer picks the records of qtype, following CNAMEs inside the zone (at most 8) like a recursor.
func (s *DNSServer) answer(rrs []mdns.RR, qtype uint16) []mdns.RR {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []mdns.RR
	for hops := 0; hops < 8; hops++ {
		var next string
		for _, rr := range rrs {
			switch {
			case rr.Header().Rrtype == qtype:
				out = append(out, mdns.Copy(rr))
			case rr.Header().Rrtype == mdns.TypeCNAME:
				out = append(out, mdns.Copy(rr))
				next = strings.ToLower(rr.(*mdns.CNAME).Target)
			}
		}
		if next == "" || qtype == mdns.TypeCNAME {
			break
		}
		rrs = s.rrs[next]
	}
	return out
}

// ResolvConf writes /etc/netns/NAME/resolv.conf for n: what `ip netns exec` (and so glibc tools run
// through it) and `netdoctor --netns NAME` read. The directory is removed when the test ends, and
// /etc/netns too if this call created it and it is empty by then. It returns the file's path.
func ResolvConf(t testing.TB, n *NetNS, content string) string {
	t.Helper()
	_, err := os.Stat("/etc/netns")
	createdTop := errors.Is(err, os.ErrNotExist)
	dir := filepath.Join("/etc/netns", n.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("testenv: remove %s: %v", dir, err)
		}
		if createdTop {
			_ = os.Remove("/etc/netns") // fails, harmlessly, while others still use it
		}
	})
	p := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return p
}

// DNSPair is a client namespace and a server namespace joined by a veth pair (10.53.0.1/24 on the
// client's "c0", 10.53.0.2/24 on the server's "s0"), with a DNSServer on 10.53.0.2:53.
type DNSPair struct {
	Client, Server *NetNS
	DNS            *DNSServer
	// ResolvConf is the client's /etc/netns/NAME/resolv.conf ("" when none was asked for).
	ResolvConf string
}

// DNSServerIP is the server's address in a DNSPair.
const DNSServerIP = "10.53.0.2"

// NewDNSPair builds a DNSPair serving zone; resolvConf, when not empty, becomes the client's
// /etc/netns/NAME/resolv.conf. Everything is removed when the test ends.
func NewDNSPair(t testing.TB, zone DNSZone, resolvConf string) *DNSPair {
	t.Helper()
	p := &DNSPair{Client: NewNetNS(t), Server: NewNetNS(t)}
	Veth(t, p.Client, "c0", "10.53.0.1/24", p.Server, "s0", DNSServerIP+"/24")
	p.DNS = StartDNSServer(t, p.Server, DNSServerIP+":53", zone)
	if resolvConf != "" {
		p.ResolvConf = ResolvConf(t, p.Client, resolvConf)
	}
	return p
}
