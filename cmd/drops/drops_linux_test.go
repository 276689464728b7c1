//go:build linux

package drops_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/netdoctor/netdoctor/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// pair is two namespaces joined by a veth (a: va 10.78.0.1, b: vb 10.78.0.2), IPv6 off and ARP
// resolved, so the only drops in b are the ones the test causes.
func pair(t *testing.T) (a, b *testenv.NetNS) {
	t.Helper()
	testenv.Binary(t)
	a, b = testenv.NewNetNS(t), testenv.NewNetNS(t)
	for _, n := range []*testenv.NetNS{a, b} {
		n.Exec(t, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	}
	testenv.Veth(t, a, "va", "10.78.0.1/24", b, "vb", "10.78.0.2/24")
	a.Exec(t, "ping", "-c", "1", "-W", "2", "10.78.0.2")
	return a, b
}

// run is a netdoctor drops running in the background.
type run struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stderr []string
	stdout strings.Builder
	ready  chan struct{}
	done   chan struct{}
}

// start runs the binary and returns once it printed its "tracing kernel drops" line or ended.
func start(t *testing.T, args ...string) *run {
	t.Helper()
	r := &run{cmd: exec.Command(testenv.Binary(t), append([]string{"drops"}, args...)...), ready: make(chan struct{}), done: make(chan struct{})}
	errPipe, _ := r.cmd.StderrPipe()
	outPipe, _ := r.cmd.StdoutPipe()
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { testenv.Kill(r.cmd) })
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(errPipe)
		once := sync.Once{}
		for sc.Scan() {
			r.mu.Lock()
			r.stderr = append(r.stderr, sc.Text())
			r.mu.Unlock()
			if strings.HasPrefix(sc.Text(), "tracing kernel drops") {
				once.Do(func() { close(r.ready) })
			}
		}
		once.Do(func() { close(r.ready) })
	}()
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(outPipe)
		for sc.Scan() {
			r.mu.Lock()
			r.stdout.WriteString(sc.Text() + "\n")
			r.mu.Unlock()
		}
	}()
	go func() { wg.Wait(); close(r.done) }()
	select {
	case <-r.ready:
	case <-time.After(30 * time.Second):
		t.Fatal("no readiness line in 30 s")
	}
	return r
}

// wait returns the exit code, stdout and stderr.
func (r *run) wait(t *testing.T) (int, string, string) {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(30 * time.Second):
		t.Fatal("drops did not end in 30 s")
	}
	err := r.cmd.Wait()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return code, r.stdout.String(), strings.Join(r.stderr, "\n")
}

// send sends n datagrams from a to b's port (nothing listens there: NO_SOCKET).
func send(t *testing.T, a *testenv.NetNS, port string, n int) {
	t.Helper()
	raddr, _ := net.ResolveUDPAddr("udp", "10.78.0.2:"+port)
	err := a.NS.Do(func() error {
		c, err := net.ListenUDP("udp", nil)
		if err != nil {
			return err
		}
		defer c.Close()
		for i := 0; i < n; i++ {
			if _, err := c.WriteTo([]byte("drop me"), raddr); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// -c N ends the run after N drops; text lines and the summary name the netns, device, flow,
// reason and symbolised location; exit 1 because drops were seen.
func TestTextCount(t *testing.T) {
	a, b := pair(t)
	r := start(t, "--netns", b.Name, "-c", "3", "--duration", "20s", "udp", "dst", "port", "40300")
	send(t, a, "40301", 2) // not matched by the filter
	send(t, a, "40300", 5)
	code, out, errOut := r.wait(t)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (drops seen); stderr %q", code, errOut)
	}
	line := regexp.MustCompile(`^\d\d:\d\d:\d\d\.\d{6} ` + b.Name + ` vb 10\.78\.0\.1\.\d+ > 10\.78\.0\.2\.40300 udp DF length 35 NO_SOCKET at __udp4_lib_rcv\+0x[0-9a-f]+$`)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 {
		t.Fatalf("got %d lines, want 3 drops, a summary header and 3 groups: %q", len(lines), out)
	}
	for _, l := range lines[:3] {
		if !line.MatchString(l) {
			t.Errorf("drop line %q does not match %s", l, line)
		}
	}
	if want := "3 drops in netns " + b.Name + " (mode ebpf, stopped by count, 0 lost)"; lines[3] != want {
		t.Errorf("summary %q, want %q", lines[3], want)
	}
}

// JSON: aggregated groups with counts, the run ended by -c.
func TestJSON(t *testing.T) {
	a, b := pair(t)
	r := start(t, "--netns", b.Name, "-o", "json", "--summary", "-c", "5", "--duration", "1m")
	send(t, a, "40310", 4)
	send(t, a, "40311", 1)
	code, out, errOut := r.wait(t)
	if code != 1 {
		t.Fatalf("exit %d, want 1; stderr %q", code, errOut)
	}
	var res struct {
		Mode    string `json:"mode"`
		Stopped string `json:"stopped"`
		Count   int    `json:"count"`
		Groups  []struct {
			Netns, Reason, Function string
			Count                   int
			Flow                    struct{ Dport int }
		} `json:"groups"`
		Events []any `json:"events"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("json: %v\n%s", err, out)
	}
	if res.Mode != "ebpf" || res.Stopped != "count" || res.Count != 5 || res.Events != nil {
		t.Fatalf("result %+v", res)
	}
	total := 0
	for _, g := range res.Groups {
		if g.Netns != b.Name || g.Reason != "NO_SOCKET" || g.Function != "__udp4_lib_rcv" || g.Flow.Dport/10 != 4031 {
			t.Errorf("group %+v", g)
		}
		total += g.Count
	}
	if total != 5 {
		t.Errorf("groups count %d drops, want 5", total)
	}
}

// Ctrl-C (SIGINT) ends the run normally: the summary is printed, exit 1 as drops were seen.
func TestInterrupt(t *testing.T) {
	a, b := pair(t)
	r := start(t, "--netns", b.Name, "--duration", "1m")
	send(t, a, "40320", 2)
	deadline := time.Now().Add(20 * time.Second)
	for { // readiness: both drops printed
		r.mu.Lock()
		n := strings.Count(r.stdout.String(), "NO_SOCKET")
		r.mu.Unlock()
		if n >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the two drops were not printed in 20 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.cmd.Process.Signal(syscall.SIGINT)
	code, out, errOut := r.wait(t)
	if code != 1 || !strings.Contains(out, "2 drops in netns "+b.Name+" (mode ebpf, stopped by interrupted, 0 lost)") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// No drop: exit 0 and "0 drops".
func TestNoDrops(t *testing.T) {
	_, b := pair(t)
	r := start(t, "--netns", b.Name, "--duration", "300ms")
	code, out, _ := r.wait(t)
	if code != 0 || !strings.HasPrefix(out, "0 drops in netns "+b.Name+" (mode ebpf, stopped by duration") {
		t.Fatalf("exit %d, output %q", code, out)
	}
}

// A namespace deleted mid-run ends it with exit 2 and a line naming it.
func TestNetnsVanishes(t *testing.T) {
	testenv.RequireRoot(t)
	n := testenv.NewNetNS(t)
	name := n.Name
	r := start(t, "--netns", name, "--duration", "30s")
	n.NS.Close()
	if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns del: %v %s", err, out)
	}
	exec.Command("ip", "netns", "add", name).Run() // so the cleanup's delete succeeds
	code, _, errOut := r.wait(t)
	if code != 2 || !strings.Contains(errOut, "vanished") {
		t.Fatalf("exit %d, stderr %q; want 2 and a line saying the namespace vanished", code, errOut)
	}
}

// Bad input: one line, exit 2, nothing on stdout.
func TestUsageErrors(t *testing.T) {
	testenv.RequireRoot(t)
	bin := testenv.Binary(t)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"port", "80x"}, `netdoctor: filter: unknown port '80x'`},
		{[]string{"--all", "--netns", "x"}, "netdoctor: --all cannot be combined with --netns or --pid"},
		{[]string{"-c", "-1"}, "netdoctor: -c -1: give a drop count of 0 (no limit) or more"},
		{[]string{"--mode", "kprobe"}, `netdoctor: --mode "kprobe": use auto, ebpf or tracefs`},
		{[]string{"--netns", "nd-no-such-netns"}, `netdoctor: network namespace "nd-no-such-netns" does not exist`},
		{[]string{"--mode", "tracefs", "udp"}, "netdoctor: --mode tracefs sees no packet and no namespace"},
	}
	for _, tc := range cases {
		cmd := exec.Command(bin, append([]string{"drops", "--duration", "1s"}, tc.args...)...)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("%v: err %v, want exit 2", tc.args, err)
		}
		first := strings.SplitN(stderr.String(), "\n", 2)[0]
		if !strings.HasPrefix(first, tc.want) || stdout.Len() != 0 {
			t.Errorf("%v: stderr %q stdout %q, want a line starting %q", tc.args, stderr.String(), stdout.String(), tc.want)
		}
	}
}

// --pid traces the namespace of a process; the drop is named by the namespace's 'ip netns' name.
func TestPID(t *testing.T) {
	a, b := pair(t)
	p := b.Start(t, "sleep", "60")
	r := start(t, "--pid", strconv.Itoa(p.Process.Pid), "-c", "1", "--duration", "20s", "udp")
	send(t, a, "40330", 1)
	code, out, errOut := r.wait(t)
	pid := strconv.Itoa(p.Process.Pid)
	if code != 1 || !strings.Contains(out, " "+b.Name+" vb 10.78.0.1.") || !strings.Contains(out, "1 drops in process "+pid+" (mode ebpf, stopped by count, 0 lost)") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}
