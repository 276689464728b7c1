package serve

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// freePort binds port 0 on loopback to find a free port for the server under test.
func freePort(t *testing.T, network string) int {
	t.Helper()
	if network == "udp" {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		return pc.LocalAddr().(*net.UDPAddr).Port
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestServeHTTPUDPDNS(t *testing.T) {
	records := filepath.Join(t.TempDir(), "records.json")
	if err := os.WriteFile(records, []byte(`{"web.default.svc.cluster.local.": ["10.96.0.100"]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	httpPort, udpPort, dnsPort := freePort(t, "tcp"), freePort(t, "udp"), freePort(t, "tcp")
	r, w := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{HTTP: []int{httpPort}, UDP: []int{udpPort}, DNS: []int{dnsPort}, Records: records, Domain: "cluster.local", Ready: w})
	}()
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("readiness: %q, %v", line, err)
	}
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	// A large POST is read completely before the answer.
	body := strings.NewReader(strings.Repeat("x", 3<<20))
	resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/upload", httpPort), "application/octet-stream", body)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "POST /upload 3145728 bytes") {
		t.Errorf("POST: %d %q", resp.StatusCode, b)
	}

	// UDP echo.
	c, err := net.DialTimeout("udp", fmt.Sprintf("127.0.0.1:%d", udpPort), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte("ping"))
	buf := make([]byte, 16)
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "ping" {
		t.Errorf("udp echo: %q, %v", buf[:n], err)
	}

	// DNS over UDP and TCP: known name, unknown name in the zone, name outside the zone.
	for _, net := range []string{"udp", "tcp"} {
		cl := &dns.Client{Net: net, Timeout: 5 * time.Second}
		for _, tc := range []struct {
			name  string
			rcode int
			ip    string
		}{
			{"web.default.svc.cluster.local.", dns.RcodeSuccess, "10.96.0.100"},
			{"nope.default.svc.cluster.local.", dns.RcodeNameError, ""},
			{"example.org.", dns.RcodeNameError, ""},
		} {
			m := new(dns.Msg)
			m.SetQuestion(tc.name, dns.TypeA)
			in, _, err := cl.Exchange(m, fmt.Sprintf("127.0.0.1:%d", dnsPort))
			if err != nil {
				t.Fatalf("%s %s: %v", net, tc.name, err)
			}
			if in.Rcode != tc.rcode {
				t.Errorf("%s %s: rcode %s, want %s", net, tc.name, dns.RcodeToString[in.Rcode], dns.RcodeToString[tc.rcode])
			}
			if tc.ip != "" && (len(in.Answer) != 1 || in.Answer[0].(*dns.A).A.String() != tc.ip) {
				t.Errorf("%s %s: answer %v, want %s", net, tc.name, in.Answer, tc.ip)
			}
		}
	}
}

func TestParsePorts(t *testing.T) {
	if p, err := ParsePorts("53,8080"); err != nil || len(p) != 2 || p[1] != 8080 {
		t.Errorf("ParsePorts = %v, %v", p, err)
	}
	for _, bad := range []string{"x", "0", "70000", "53,"} {
		if _, err := ParsePorts(bad); err == nil {
			t.Errorf("ParsePorts(%q) accepted", bad)
		}
	}
}

func TestServeBindFailure(t *testing.T) {
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	if err := Run(context.Background(), Options{HTTP: []int{port}}); err == nil || !strings.Contains(err.Error(), "serve: http") {
		t.Errorf("Run on a busy port: %v", err)
	}
}
