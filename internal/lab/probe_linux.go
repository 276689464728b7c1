//go:build linux

package lab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"

	"github.com/netdoctor/netdoctor/internal/netns"
)

// Flow timeouts: generous enough for 2 loaded cores, short enough to keep verification quick.
const (
	connectTimeout = 3 * time.Second
	httpTimeout    = 5 * time.Second
	dnsTimeout     = 3 * time.Second
)

// RunFlow runs one flow from its source namespace and classifies what happened.
func (l *Lab) RunFlow(ctx context.Context, f Flow) FlowResult {
	start := time.Now()
	r := FlowResult{Flow: f}
	r.Got, r.Detail, r.Retrans = l.runFlow(ctx, f)
	r.Duration = time.Since(start)
	return r
}

func (l *Lab) runFlow(ctx context.Context, f Flow) (Outcome, string, uint32) {
	src, err := l.Plan.ResolveFrom(f.From)
	if err != nil {
		return OutcomeError, err.Error(), 0
	}
	if src.Pod != nil && (!src.Pod.IP.IsValid() || src.Pod.Phase != "Running") {
		return OutcomeNoSandbox, "pod " + src.Pod.Name + " is " + src.Pod.Phase, 0
	}
	dst, err := l.Plan.ResolveTo(f.To)
	if err != nil {
		return OutcomeError, err.Error(), 0
	}
	ns, err := netns.OpenPath(src.Netns)
	if err != nil {
		return OutcomeError, err.Error(), 0
	}
	defer ns.Close()
	switch f.Proto {
	case "tcp":
		c, err := dialIn(ctx, ns, "tcp", dst.Addr.String(), connectTimeout)
		if err != nil {
			o, d := classify(err)
			return o, d, 0
		}
		c.Close()
		return OutcomeOK, "connected", 0
	case "http":
		return httpFlow(ctx, ns, dst.Addr.String(), f.Size)
	case "udp":
		o, d := udpFlow(ctx, ns, dst.Addr.String(), f.Size)
		return o, d, 0
	case "dns", "dns-tcp":
		name := dst.Name
		if name == "" {
			name = f.To
		}
		o, d := l.dnsFlow(ctx, ns, src, name, f.Proto == "dns-tcp")
		return o, d, 0
	case "icmp":
		o, d := pingFlow(ctx, ns, dst.Addr.Addr().String(), f.Size, 5, "0.05")
		return o, d, 0
	case "icmp-loss":
		o, d := pingFlow(ctx, ns, dst.Addr.Addr().String(), f.Size, 50, "0.01")
		return o, d, 0
	}
	return OutcomeError, "unknown proto " + f.Proto, 0
}

// dialIn creates the socket inside ns and connects it (the socket stays in ns afterwards).
func dialIn(ctx context.Context, ns *netns.NS, network, addr string, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	err := ns.Do(func() error {
		d := net.Dialer{Timeout: timeout}
		var err error
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

func classify(err error) (Outcome, string) {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return OutcomeRefused, "connection refused"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return OutcomeUnreachable, err.Error()
	case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, context.DeadlineExceeded):
		return OutcomeTimeout, "no answer"
	}
	return OutcomeError, err.Error()
}

// httpFlow sends a GET (size 0) or a POST of size bytes and waits for the status line.
func httpFlow(ctx context.Context, ns *netns.NS, addr string, size int) (Outcome, string, uint32) {
	c, err := dialIn(ctx, ns, "tcp", addr, connectTimeout)
	if err != nil {
		o, d := classify(err)
		return o, "connect: " + d, 0
	}
	defer c.Close()
	tc := c.(*net.TCPConn)
	_ = c.SetDeadline(time.Now().Add(httpTimeout))
	req := "GET / HTTP/1.1\r\nHost: " + addr + "\r\nConnection: close\r\n\r\n"
	if size > 0 {
		req = fmt.Sprintf("POST /upload HTTP/1.1\r\nHost: %s\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", addr, size)
	}
	werr := func() error {
		if _, err := c.Write([]byte(req)); err != nil {
			return err
		}
		if size > 0 {
			if _, err := c.Write(make([]byte, size)); err != nil {
				return err
			}
		}
		return nil
	}()
	var line string
	if werr == nil {
		line, werr = bufio.NewReader(c).ReadString('\n')
	}
	retrans := tcpRetrans(tc)
	if werr != nil {
		o, d := classify(werr)
		return o, "request: " + d, retrans
	}
	if !strings.HasPrefix(line, "HTTP/1.1 200") {
		return OutcomeError, "status " + strings.TrimSpace(line), retrans
	}
	return OutcomeOK, strings.TrimSpace(line), retrans
}

func tcpRetrans(c *net.TCPConn) uint32 {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0
	}
	var n uint32
	_ = rc.Control(func(fd uintptr) {
		if ti, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
			n = ti.Total_retrans
		}
	})
	return n
}

// udpFlow sends one datagram (size bytes, 64 by default) to an echo server and waits for it back,
// up to 3 tries.
func udpFlow(ctx context.Context, ns *netns.NS, addr string, size int) (Outcome, string) {
	if size <= 0 {
		size = 64
	}
	c, err := dialIn(ctx, ns, "udp", addr, connectTimeout)
	if err != nil {
		o, d := classify(err)
		return o, d
	}
	defer c.Close()
	msg := make([]byte, size)
	copy(msg, "netdoctor-lab")
	buf := make([]byte, size+1)
	var last error
	for try := 0; try < 3; try++ {
		_ = c.SetDeadline(time.Now().Add(time.Second))
		if _, err := c.Write(msg); err != nil {
			last = err
			continue
		}
		n, err := c.Read(buf)
		if err == nil && n == size {
			return OutcomeOK, fmt.Sprintf("echoed %d bytes", n)
		}
		last = err
		if o, _ := classify(err); o == OutcomeRefused || o == OutcomeUnreachable {
			break
		}
	}
	if last == nil {
		return OutcomeError, "short echo"
	}
	o, d := classify(last)
	return o, d
}

// dnsFlow resolves name the way the pod's libc would: resolv.conf's nameserver, search list and ndots.
func (l *Lab) dnsFlow(ctx context.Context, ns *netns.NS, src Endpoint, name string, tcp bool) (Outcome, string) {
	conf := "/etc/resolv.conf"
	if src.Pod != nil {
		conf = resolvPath(src.Pod.Netns)
	}
	var cc *dns.ClientConfig
	if q, server, ok := strings.Cut(name, "@"); ok {
		// NAME@IP: ask that server directly, no search list (like dig @IP NAME).
		cc, name = &dns.ClientConfig{Servers: []string{server}, Port: "53", Ndots: 1}, dns.Fqdn(q)
	} else {
		var err error
		if cc, err = dns.ClientConfigFromFile(conf); err != nil {
			return OutcomeError, "resolv.conf: " + err.Error()
		}
	}
	if len(cc.Servers) == 0 {
		return OutcomeError, "resolv.conf has no nameserver"
	}
	server := net.JoinHostPort(cc.Servers[0], cc.Port)
	network := "udp"
	if tcp {
		network = "tcp"
	}
	last, detail := OutcomeNXDomain, ""
	for _, q := range cc.NameList(name) {
		conn, err := dialIn(ctx, ns, network, server, dnsTimeout)
		if err != nil {
			o, d := classify(err)
			return o, "dial " + server + ": " + d
		}
		m := new(dns.Msg)
		m.SetQuestion(q, dns.TypeA)
		dc := &dns.Conn{Conn: conn}
		_ = conn.SetDeadline(time.Now().Add(dnsTimeout))
		err = dc.WriteMsg(m)
		var resp *dns.Msg
		if err == nil {
			resp, err = dc.ReadMsg()
		}
		conn.Close()
		if err != nil {
			o, d := classify(err)
			return o, fmt.Sprintf("%s @%s: %s", q, server, d)
		}
		switch resp.Rcode {
		case dns.RcodeSuccess:
			if len(resp.Answer) > 0 {
				return OutcomeOK, fmt.Sprintf("%s @%s: %s", q, server, strings.ReplaceAll(resp.Answer[0].String(), "\t", " "))
			}
			last, detail = OutcomeNXDomain, q+": no records"
		case dns.RcodeNameError:
			last, detail = OutcomeNXDomain, q+": NXDOMAIN"
		default:
			return OutcomeServFail, fmt.Sprintf("%s @%s: %s", q, server, dns.RcodeToString[resp.Rcode])
		}
	}
	return last, detail
}

// pingFlow runs the system ping inside ns (DF set, payload size).
func pingFlow(ctx context.Context, ns *netns.NS, ip string, size, count int, interval string) (Outcome, string) {
	if size <= 0 {
		size = 56
	}
	cmd := exec.CommandContext(ctx, "ping", "-n", "-c", strconv.Itoa(count), "-i", interval, "-W", "1", "-M", "do", "-s", strconv.Itoa(size), ip)
	out, err := runIn(ns, cmd)
	summary := lastLine(out)
	if err == nil {
		if !strings.Contains(summary, " 0% packet loss") {
			return OutcomePartialLoss, summary
		}
		return OutcomeOK, summary
	}
	if strings.Contains(out, "Unreachable") || strings.Contains(out, "Prohibited") {
		return OutcomeUnreachable, lastLine(out)
	}
	if strings.Contains(out, "0 received") {
		return OutcomeTimeout, lastLine(out)
	}
	return OutcomeError, strings.TrimSpace(out)
}

// runIn runs cmd with ns as its network namespace and returns its combined output.
func runIn(ns *netns.NS, cmd *exec.Cmd) (string, error) {
	var buf strings.Builder
	if cmd.Stdout == nil {
		cmd.Stdout = &buf
	}
	cmd.Stderr = &buf
	if err := ns.Start(cmd); err != nil {
		return "", fmt.Errorf("lab: start %s in %s: %w", cmd.Path, ns, err)
	}
	err := cmd.Wait()
	return buf.String(), err
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], "packets transmitted") {
			return strings.TrimSpace(lines[i])
		}
	}
	return strings.TrimSpace(lines[len(lines)-1])
}
