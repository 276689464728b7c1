//go:build linux

package ping_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

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

// run runs netdoctor with args (prefixed by cmd, e.g. "ip netns exec X") and returns stdout, stderr
// and the exit code.
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
	n := testenv.NewNetNS(t)
	cases := []struct {
		args []string
		want string // the first stderr line
	}{
		{[]string{"ping"}, `netdoctor: expected one HOST, got 0 argument(s)`},
		{[]string{"ping", "a", "b"}, `netdoctor: expected one HOST, got 2 argument(s)`},
		{[]string{"ping", "-c", "-1", "127.0.0.1"}, `netdoctor: -c -1: the count must be 0 or more`},
		{[]string{"ping", "-i", "0s", "127.0.0.1"}, `netdoctor: -i 0s: the interval must be at least 1ms`},
		{[]string{"ping", "-s", "70000", "127.0.0.1"}, `netdoctor: -s 70000: the size must be 0 to 65507 bytes`},
		{[]string{"ping", "-W", "0s", "127.0.0.1"}, `netdoctor: -W 0s: the wait must be positive`},
		{[]string{"ping", "-t", "300", "127.0.0.1"}, `netdoctor: -t 300: the TTL must be 1 to 255`},
		{[]string{"ping", "-o", "yaml", "127.0.0.1"}, `netdoctor: unknown output format "yaml": use one of text, json`},
		{[]string{"ping", "--bogus", "127.0.0.1"}, `netdoctor: unknown flag: --bogus`},
		{[]string{"ping", "-c", "1", "no-such-host.invalid"}, `netdoctor: unknown host "no-such-host.invalid": give an IP address or a name the host can resolve`},
		{[]string{"ping", "--netns", "nd-no-such-ns", "127.0.0.1"}, `netdoctor: network namespace "nd-no-such-ns" does not exist: list them with 'ip netns list'`},
		{[]string{"ping", "--netns", n.Name, "--pid", "1", "127.0.0.1"}, `netdoctor: --netns and --pid name two vantage points: give one`},
		{[]string{"ping", "-c", "1", "bad\nhost"}, `netdoctor: unknown host "bad\nhost": give an IP address or a name the host can resolve`},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			so, se, code := run(t, tc.args...)
			lines := strings.Split(strings.TrimRight(se, "\n"), "\n")
			if code != 2 || so != "" || lines[0] != tc.want || len(lines) > 2 ||
				(len(lines) == 2 && lines[1] != "Run 'netdoctor ping --help' for usage.") {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 2, no stdout, %q", code, so, se, tc.want)
			}
		})
	}
}

func TestNeedsCapNetRawForDF(t *testing.T) {
	testenv.RequireTool(t, "setpriv")
	n := testenv.NewNetNS(t)
	n.Exec(t, "sysctl", "-qw", "net.ipv4.ping_group_range=0 2147483647")
	drop := []string{"setpriv", "--bounding-set", "-net_raw", "--inh-caps", "-net_raw", binary(t)}
	// Without CAP_NET_RAW a plain ping still works through the datagram socket...
	out, err := n.Try(drop[0], append(drop[1:], "ping", "-c", "1", "127.0.0.1")...)
	if err != nil || !strings.Contains(out, "(datagram socket)") {
		t.Fatalf("ping without CAP_NET_RAW: %v: %s", err, out)
	}
	// ...but --df needs a raw socket.
	so, se, err := n.Output(t.Context(), drop[0], append(drop[1:], "ping", "-c", "1", "--df", "127.0.0.1")...)
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || so != "" || se != "netdoctor: needs CAP_NET_RAW for --df: run as root\n" {
		t.Errorf("err %v stdout %q stderr %q", err, so, se)
	}
}

func TestRepliesAndJSON(t *testing.T) {
	l := testenv.NewLine(t, 3)
	so, se, code := run(t, "ping", "--netns", l.Hosts[0].Name, "-c", "3", "-i", "10ms", l.Addr(2))
	if code != 0 || se != "" {
		t.Fatalf("exit %d stderr %q stdout %s", code, se, so)
	}
	for _, want := range []string{"PING " + l.Addr(2) + " (" + l.Addr(2) + ") 56(84) bytes of data (raw socket).",
		"64 bytes from " + l.Addr(2) + ": icmp_seq=3 ttl=63 time=", "3 packets transmitted, 3 received, 0% packet loss",
		"rtt min/avg/max/mdev = "} {
		if !strings.Contains(so, want) {
			t.Errorf("output lacks %q:\n%s", want, so)
		}
	}
	so, _, code = run(t, "ping", "--netns", l.Hosts[0].Name, "-c", "2", "-i", "10ms", "-o", "json", l.Addr(2))
	var j struct {
		Mode     string
		Sent     int
		Received int
		Probes   []struct {
			Outcome string
			From    string
			RTTMs   float64
		}
	}
	if err := json.Unmarshal([]byte(so), &j); err != nil || code != 0 {
		t.Fatalf("exit %d, json %v: %s", code, err, so)
	}
	if j.Mode != "raw" || j.Sent != 2 || j.Received != 2 || len(j.Probes) != 2 || j.Probes[1].Outcome != "reply" ||
		j.Probes[1].From != l.Addr(2) || j.Probes[1].RTTMs <= 0 {
		t.Errorf("json %+v", j)
	}
}

func TestErrorsAreReportedNotTimeouts(t *testing.T) {
	l := testenv.NewLine(t, 3, 1500, 1400)
	router := l.Links[0].RightAddr
	so, _, code := run(t, "ping", "--netns", l.Hosts[0].Name, "-c", "2", "-i", "50ms", "-s", "1400", "--df", l.Addr(2))
	for _, want := range []string{"(raw socket, don't fragment)",
		"From " + router + " icmp_seq=1 Frag needed and DF set (mtu = 1400) (frag-needed)",
		"icmp_seq=2 local error: message too long, local MTU 1400",
		"2 packets transmitted, 0 received, +2 errors, 100% packet loss"} {
		if !strings.Contains(so, want) {
			t.Errorf("output lacks %q:\n%s", want, so)
		}
	}
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	l.Hosts[1].Exec(t, "iptables", "-w", "-A", "FORWARD", "-p", "icmp", "-j", "REJECT", "--reject-with", "icmp-admin-prohibited")
	so, _, code = run(t, "ping", "--netns", l.Hosts[0].Name, "-c", "1", l.Addr(2))
	if want := "From " + router + " icmp_seq=1 Packet filtered (admin-prohibited)"; code != 1 || !strings.Contains(so, want) {
		t.Errorf("exit %d, output lacks %q:\n%s", code, want, so)
	}
}

func TestTimeouts(t *testing.T) {
	l := testenv.NewLine(t, 2)
	l.Hosts[1].Exec(t, "iptables", "-w", "-A", "INPUT", "-p", "icmp", "-j", "DROP")
	ns := l.Hosts[0].Name
	// Lost probes: exit 1.
	so, se, code := run(t, "ping", "--netns", ns, "-c", "2", "-i", "10ms", "-W", "100ms", l.Addr(1))
	if code != 1 || se != "" || !strings.Contains(so, "icmp_seq=2 timeout: no answer") || !strings.Contains(so, "100% packet loss") {
		t.Errorf("exit %d stderr %q stdout:\n%s", code, se, so)
	}
	// --timeout with some probes lost: the summary, "timed out", exit 1.
	so, se, code = run(t, "ping", "--netns", ns, "-i", "20ms", "-W", "50ms", "--timeout", "500ms", l.Addr(1))
	if code != 1 || se != "netdoctor: timed out after 500ms\n" || !strings.Contains(so, "packets transmitted, 0 received") {
		t.Errorf("exit %d stderr %q stdout:\n%s", code, se, so)
	}
	// --timeout before any probe had its outcome: exit 2.
	_, se, code = run(t, "ping", "--netns", ns, "-W", "5s", "--timeout", "300ms", l.Addr(1))
	if code != 2 || se != "netdoctor: timed out after 300ms before any probe was answered or lost\n" {
		t.Errorf("exit %d stderr %q", code, se)
	}
}

// start runs netdoctor in the background and returns it with a reader of its stdout.
func start(t *testing.T, args ...string) (*exec.Cmd, *bufio.Scanner, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var se bytes.Buffer
	cmd.Stderr = &se
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { testenv.Kill(cmd) })
	return cmd, bufio.NewScanner(out), &se
}

func TestCtrlCPrintsSummary(t *testing.T) {
	n := testenv.NewNetNS(t)
	cmd, sc, se := start(t, "ping", "--netns", n.Name, "-i", "20ms", "127.0.0.1")
	var out []string
	for sc.Scan() {
		out = append(out, sc.Text())
		if strings.Contains(sc.Text(), "icmp_seq=3 ") {
			break // readiness: three replies printed
		}
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	err := cmd.Wait()
	text := strings.Join(out, "\n")
	if err != nil || se.String() != "" || !strings.Contains(text, "--- 127.0.0.1 ping statistics ---") ||
		!strings.Contains(text, "0% packet loss") {
		t.Errorf("err %v stderr %q stdout:\n%s", err, se, text)
	}
}

func TestVanishedNetns(t *testing.T) {
	testenv.RequireRoot(t)
	name := testenv.Name("van")
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	if out, err := exec.Command("ip", "-n", name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up: %v: %s", err, out)
	}
	cmd, sc, se := start(t, "ping", "--netns", name, "-i", "20ms", "127.0.0.1")
	for sc.Scan() {
		if strings.Contains(sc.Text(), "icmp_seq=2 ") {
			break
		}
	}
	gone := time.Now()
	if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns del: %v: %s", err, out)
	}
	for sc.Scan() {
	}
	err := cmd.Wait()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 2 || se.String() != "netdoctor: netns "+name+" vanished while running\n" {
		t.Errorf("err %v stderr %q", err, se)
	}
	if took := time.Since(gone); took > 3*time.Second {
		t.Errorf("took %v to notice", took)
	}
}
