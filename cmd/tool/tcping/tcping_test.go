//go:build linux

package tcping_test

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/netdoctor/netdoctor/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// binary is the netdoctor binary under test: $NETDOCTOR_BIN when set, else built from this tree.
func binary(t *testing.T) string {
	t.Helper()
	if b := os.Getenv("NETDOCTOR_BIN"); b != "" {
		return b
	}
	return testenv.Binary(t)
}

func run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run netdoctor %v: %v", args, err)
	}
	return so.String(), se.String(), code
}

func TestBadInputExits2WithOneLine(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"tcping"}, `netdoctor: expected one HOST:PORT, got 0 argument(s)`},
		{[]string{"tcping", "127.0.0.1"}, `netdoctor: "127.0.0.1" is not HOST:PORT with a port from 1 to 65535 (IPv6: [ADDR]:PORT)`},
		{[]string{"tcping", "127.0.0.1:0"}, `netdoctor: "127.0.0.1:0" is not HOST:PORT with a port from 1 to 65535 (IPv6: [ADDR]:PORT)`},
		{[]string{"tcping", "127.0.0.1:http"}, `netdoctor: "127.0.0.1:http" is not HOST:PORT with a port from 1 to 65535 (IPv6: [ADDR]:PORT)`},
		{[]string{"tcping", "-c", "-3", "127.0.0.1:80"}, `netdoctor: -c -3: the count must be 0 or more`},
		{[]string{"tcping", "-W", "-1s", "127.0.0.1:80"}, `netdoctor: -W -1s: the wait must be positive`},
		{[]string{"tcping", "-i", "10us", "127.0.0.1:80"}, `netdoctor: -i 10µs: the interval must be at least 1ms`},
		{[]string{"tcping", "-c", "1", "no-such-host.invalid:80"}, `netdoctor: unknown host in "no-such-host.invalid:80": give an IP address or a name the host can resolve`},
		{[]string{"tcping", "--pid", "999999999", "127.0.0.1:80"}, `netdoctor: process 999999999 has exited: give the PID of a running process`},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			so, se, code := run(t, tc.args...)
			lines := strings.Split(strings.TrimRight(se, "\n"), "\n")
			if code != 2 || so != "" || lines[0] != tc.want || len(lines) > 2 ||
				(len(lines) == 2 && lines[1] != "Run 'netdoctor tcping --help' for usage.") {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 2, no stdout, %q", code, so, se, tc.want)
			}
		})
	}
}

// listen starts a TCP listener in n that accepts and closes; it listens when listen returns.
func listen(t *testing.T, n *testenv.NetNS, addr string) int {
	t.Helper()
	var ln net.Listener
	if err := n.NS.Do(func() (err error) { ln, err = net.Listen("tcp", addr); return err }); err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestOutcomeLines(t *testing.T) {
	l := testenv.NewLine(t, 3)
	client, router := l.Hosts[0].Name, l.Hosts[1]
	router.Exec(t, "sysctl", "-qw", "net.ipv4.icmp_ratelimit=0")
	port := listen(t, l.Hosts[2], net.JoinHostPort(l.Addr(2), "0"))
	open := net.JoinHostPort(l.Addr(2), strconv.Itoa(port))
	closed := net.JoinHostPort(l.Addr(2), strconv.Itoa(port^1))
	ra := l.Links[0].RightAddr
	cases := []struct {
		name string
		addr string
		rule []string
		line string // regexp for every attempt line
		code int
	}{
		{"connected", open, nil, `^seq=\d connected in \d+\.\d{3} ms$`, 0},
		{"refused", closed, nil, `^seq=\d refused \(RST\) after \d+\.\d{3} ms$`, 1},
		{"timeout", open, []string{"-p", "tcp", "-j", "DROP"}, `^seq=\d timeout: no answer within 300\.000 ms$`, 1},
		{"admin-prohibited", open, []string{"-p", "tcp", "-j", "REJECT", "--reject-with", "icmp-admin-prohibited"},
			`^seq=\d unreachable: admin-prohibited from ` + regexp.QuoteMeta(ra) + ` \(ICMP type 3 code 13: Packet filtered\) after \d+\.\d{3} ms$`, 1},
		{"host-prohibited", open, []string{"-p", "tcp", "-j", "REJECT", "--reject-with", "icmp-host-prohibited"},
			`^seq=\d unreachable: host-prohibited from ` + regexp.QuoteMeta(ra) + ` \(ICMP type 3 code 10: Destination Host Prohibited\) after \d+\.\d{3} ms$`, 1},
		{"tcp-reset", open, []string{"-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset"}, `^seq=\d refused \(RST\) after \d+\.\d{3} ms$`, 1},
		{"no route", "10.77.0.1:80", nil, `^seq=\d unreachable: no-route \(network is unreachable\)$`, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.rule != nil {
				router.Exec(t, "iptables", append([]string{"-w", "-I", "FORWARD"}, tc.rule...)...)
				defer router.Exec(t, "iptables", append([]string{"-w", "-D", "FORWARD"}, tc.rule...)...)
			}
			so, se, code := run(t, "tcping", "--netns", client, "-c", "2", "-i", "10ms", "-W", "300ms", tc.addr)
			re := regexp.MustCompile(tc.line)
			n := 0
			for _, ln := range strings.Split(so, "\n") {
				if strings.HasPrefix(ln, "seq=") {
					n++
					if !re.MatchString(ln) {
						t.Errorf("line %q does not match %s", ln, tc.line)
					}
				}
			}
			if n != 2 || code != tc.code || se != "" || !strings.Contains(so, "tcping statistics ---\n2 attempts, ") {
				t.Errorf("exit %d (want %d), %d attempt lines, stderr %q, stdout:\n%s", code, tc.code, n, se, so)
			}
		})
	}

	so, _, code := run(t, "tcping", "--netns", client, "-c", "2", "-i", "10ms", "-o", "json", open)
	var j struct {
		Sent, Connected int
		Attempts        []struct {
			Outcome            string
			RTTMs, KernelRttMs float64
			Local              string
		}
		RTT *struct{ MedianMs float64 }
	}
	if err := json.Unmarshal([]byte(so), &j); err != nil || code != 0 {
		t.Fatalf("exit %d json %v: %s", code, err, so)
	}
	if j.Sent != 2 || j.Connected != 2 || j.RTT == nil || j.RTT.MedianMs <= 0 || j.Attempts[0].KernelRttMs <= 0 ||
		!strings.HasPrefix(j.Attempts[0].Local, l.Links[0].LeftAddr+":") {
		t.Errorf("json %+v", j)
	}
}

func TestPIDVantageAndVanishingProcess(t *testing.T) {
	n := testenv.NewNetNS(t)
	port := listen(t, n, "127.0.0.1:0")
	sleeper := n.Start(t, "sleep", "600")
	// `ip netns exec` execs sleep, so the PID is the sleeper's and it lives in n.
	pid := strconv.Itoa(sleeper.Process.Pid)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	so, se, code := run(t, "tcping", "--pid", pid, "-c", "2", "-i", "10ms", addr)
	if code != 0 || se != "" || !strings.Contains(so, "seq=2 connected in ") {
		t.Fatalf("exit %d stderr %q stdout:\n%s", code, se, so)
	}

	cmd := exec.Command(binary(t), "tcping", "--pid", pid, "-i", "20ms", addr)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { testenv.Kill(cmd) })
	buf := make([]byte, 4096)
	var seen string
	for !strings.Contains(seen, "seq=2 connected") { // readiness: two attempts printed
		k, err := out.Read(buf)
		if err != nil {
			t.Fatalf("read: %v (so far %q, stderr %q)", err, seen, stderr.String())
		}
		seen += string(buf[:k])
	}
	testenv.Kill(sleeper)
	for {
		if _, err := out.Read(buf); err != nil {
			break
		}
	}
	err = cmd.Wait()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 2 || stderr.String() != "netdoctor: process "+pid+" has exited: give the PID of a running process\n" {
		t.Errorf("err %v stderr %q", err, stderr.String())
	}
}

func TestCtrlCAndTimeout(t *testing.T) {
	n := testenv.NewNetNS(t)
	port := listen(t, n, "127.0.0.1:0")
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))

	cmd := exec.Command(binary(t), "tcping", "--netns", n.Name, "-i", "20ms", addr)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { testenv.Kill(cmd) })
	var seen string
	buf := make([]byte, 4096)
	for !strings.Contains(seen, "seq=3 connected") { // readiness: three attempts printed
		k, err := out.Read(buf)
		if err != nil {
			t.Fatalf("read: %v (so far %q)", err, seen)
		}
		seen += string(buf[:k])
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	for {
		k, err := out.Read(buf)
		seen += string(buf[:k])
		if err != nil {
			break
		}
	}
	if err := cmd.Wait(); err != nil || stderr.Len() != 0 || !strings.Contains(seen, "tcping statistics ---\n") ||
		!strings.Contains(seen, " connected, 0% loss (0 refused, 0 timeout, 0 unreachable)") {
		t.Errorf("after Ctrl-C: err %v stderr %q stdout:\n%s", err, stderr.String(), seen)
	}

	n.Exec(t, "iptables", "-w", "-A", "INPUT", "-p", "tcp", "--dport", strconv.Itoa(port), "-j", "DROP")
	so, se, code := run(t, "tcping", "--netns", n.Name, "-i", "10ms", "-W", "100ms", "--timeout", "500ms", addr)
	if code != 1 || se != "netdoctor: timed out after 500ms\n" || !strings.Contains(so, "seq=1 timeout: no answer within 100.000 ms") {
		t.Errorf("exit %d stderr %q stdout:\n%s", code, se, so)
	}
	_, se, code = run(t, "tcping", "--netns", n.Name, "-W", "5s", "--timeout", "300ms", addr)
	if code != 2 || se != "netdoctor: timed out after 300ms before any attempt finished\n" {
		t.Errorf("exit %d stderr %q", code, se)
	}
}
