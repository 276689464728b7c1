package dns_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netdoctor/netdoctor/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// runBin runs the netdoctor binary and returns stdout, stderr and the exit code.
func runBin(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, testenv.Binary(t), args...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return so.String(), se.String(), code
}

func TestBadInputExits2WithOneLine(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // part of the first stderr line
	}{
		{"no name", []string{"dns"}, "expected one NAME"},
		{"two names", []string{"dns", "a", "b"}, "expected one NAME"},
		{"bad type", []string{"dns", "web", "--type", "BOGUS"}, `unknown record type "BOGUS"`},
		{"bad name", []string{"dns", "a b\nc"}, `name "a b\nc" has a character`},
		{"empty label", []string{"dns", "a..b"}, "empty label"},
		{"bad server", []string{"dns", "web", "--server", "dns.example"}, `server "dns.example" is not an IP`},
		{"bad format", []string{"dns", "web", "-o", "yaml"}, `unknown output format "yaml"`},
		{"both vantage flags", []string{"dns", "web", "--netns", "x", "--pid", "1"}, "--netns and --pid"},
		{"missing netns", []string{"dns", "web", "--netns", "nd-no-such-ns"}, `network namespace "nd-no-such-ns" does not exist`},
		{"negative wait", []string{"dns", "web", "--wait", "-1s"}, "must not be negative"},
		{"json and bad type", []string{"dns", "web", "-t", "X", "-o", "json"}, `unknown record type "X"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := runBin(t, tt.args...)
			lines := strings.Split(strings.TrimRight(errOut, "\n"), "\n")
			if code != 2 || out != "" || len(lines) > 2 || !strings.HasPrefix(lines[0], "netdoctor: ") ||
				!strings.Contains(lines[0], tt.want) || len(lines[0]) > 512 {
				t.Errorf("netdoctor %q: exit %d, stdout %q, stderr %q; want exit 2, no stdout, one line containing %q",
					tt.args, code, out, errOut, tt.want)
			}
			if len(lines) == 2 && lines[1] != "Run 'netdoctor dns --help' for usage." {
				t.Errorf("second line %q", lines[1])
			}
		})
	}
}

func zone() testenv.DNSZone {
	return testenv.DNSZone{Records: []string{
		"web.default.svc.cluster.local. 30 IN A 10.96.0.20",
		"db.prod.svc.cluster.local. 30 IN A 10.96.5.5",
	}}
}

const resolvConf = "search default.svc.cluster.local svc.cluster.local cluster.local\n" +
	"nameserver " + testenv.DNSServerIP + "\noptions ndots:5 timeout:1 attempts:1\n"

func TestResolvesThroughNetnsResolvConf(t *testing.T) {
	p := testenv.NewDNSPair(t, zone(), resolvConf)
	out, errOut, code := runBin(t, "dns", "db.prod", "--netns", p.Client.Name)
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d stderr %q stdout:\n%s", code, errOut, out)
	}
	for _, want := range []string{
		"resolv.conf " + p.ResolvConf + ": nameserver 10.53.0.2; search default.svc.cluster.local svc.cluster.local cluster.local; ndots:5",
		"1  db.prod.default.svc.cluster.local.  A     10.53.0.2:53  udp    NXDOMAIN",
		"2  db.prod.svc.cluster.local.          A     10.53.0.2:53  udp    NOERROR",
		"db.prod resolved: db.prod.svc.cluster.local. A 10.96.5.5 (from 10.53.0.2:53 over udp) [2 queries,",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	out, _, code = runBin(t, "dns", "nothing", "--netns", p.Client.Name, "-o", "json")
	var res struct {
		Outcome string `json:"outcome"`
		Queries []struct {
			Name      string  `json:"name"`
			Rcode     string  `json:"rcode"`
			LatencyMs float64 `json:"latencyMs"`
		} `json:"queries"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("json: %v\n%s", err, out)
	}
	if code != 1 || res.Outcome != "nxdomain" || len(res.Queries) != 4 || res.Queries[3].Name != "nothing." ||
		res.Queries[0].Rcode != "NXDOMAIN" || res.Queries[0].LatencyMs <= 0 {
		t.Errorf("nxdomain: exit %d result %+v", code, res)
	}
}

func TestUDPBlockedShowsTimeoutThenTCPResolves(t *testing.T) {
	testenv.RequireTool(t, "iptables")
	p := testenv.NewDNSPair(t, zone(), resolvConf)
	p.Server.Exec(t, "iptables", "-A", "INPUT", "-p", "udp", "--dport", "53", "-j", "DROP")
	out, _, code := runBin(t, "dns", "web.default.svc.cluster.local.", "--netns", p.Client.Name)
	if code != 1 || !strings.Contains(out, "udp    -      ") || !strings.Contains(out, "timeout") ||
		!strings.Contains(out, "did not resolve: timeout: no answer from 10.53.0.2:53 within the wait") {
		t.Errorf("udp blocked: exit %d output:\n%s", code, out)
	}
	out, _, code = runBin(t, "dns", "web.default.svc.cluster.local.", "--netns", p.Client.Name, "--tcp")
	if code != 0 || !strings.Contains(out, "tcp    NOERROR") || !strings.Contains(out, "A 10.96.0.20 (from 10.53.0.2:53 over tcp)") {
		t.Errorf("--tcp: exit %d output:\n%s", code, out)
	}
}

func TestTimeoutFlagEndsTheRun(t *testing.T) {
	testenv.RequireTool(t, "iptables")
	p := testenv.NewDNSPair(t, zone(), resolvConf)
	p.Server.Exec(t, "iptables", "-A", "INPUT", "-p", "udp", "--dport", "53", "-j", "DROP")
	start := time.Now()
	out, _, code := runBin(t, "dns", "web", "--netns", p.Client.Name, "--wait", "10s", "--timeout", "500ms")
	if code != 1 || !strings.Contains(out, "stopped: timed out") || time.Since(start) > 10*time.Second {
		t.Errorf("exit %d after %v, output:\n%s", code, time.Since(start), out)
	}
}

// TestPIDReadsTheProcessResolvConf: a process started through `ip netns exec` sees
// /etc/netns/NAME/resolv.conf as its /etc/resolv.conf; --pid must read that one (via /proc/PID/root).
func TestPIDReadsTheProcessResolvConf(t *testing.T) {
	p := testenv.NewDNSPair(t, zone(), resolvConf)
	cmd := p.Client.Start(t, "sleep", "60")
	pid := strconv.Itoa(cmd.Process.Pid)
	out, errOut, code := runBin(t, "dns", "db.prod", "--pid", pid)
	if code != 0 || !strings.Contains(out, "resolv.conf /proc/"+pid+"/root/etc/resolv.conf: nameserver 10.53.0.2") ||
		!strings.Contains(out, "db.prod resolved: db.prod.svc.cluster.local. A 10.96.5.5") {
		t.Errorf("--pid %s: exit %d stderr %q output:\n%s", pid, code, errOut, out)
	}
}
