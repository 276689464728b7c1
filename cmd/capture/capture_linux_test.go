//go:build linux

package capture_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/netdoctor/netdoctor/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// pair is two namespaces joined by a veth (a: va 10.77.0.1, b: vb 10.77.0.2), IPv6 off and ARP
// resolved, so that the only packets are the ones the test sends.
func pair(t *testing.T) (a, b *testenv.NetNS) {
	t.Helper()
	testenv.Binary(t) // build first: a long build would let the ARP entry below go stale
	a, b = testenv.NewNetNS(t), testenv.NewNetNS(t)
	for _, n := range []*testenv.NetNS{a, b} {
		n.Exec(t, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	}
	testenv.Veth(t, a, "va", "10.77.0.1/24", b, "vb", "10.77.0.2/24")
	a.Exec(t, "ping", "-c", "1", "-W", "2", "10.77.0.2")
	return a, b
}

// run is a netdoctor capture running in the background.
type run struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stderr []string
	stdout strings.Builder
	ready  chan struct{}
	done   chan struct{}
	start  time.Time
}

// start runs the binary and returns once it printed "listening on" (its readiness line) or ended.
func start(t *testing.T, args ...string) *run {
	t.Helper()
	r := &run{cmd: exec.Command(testenv.Binary(t), append([]string{"capture"}, args...)...),
		ready: make(chan struct{}), done: make(chan struct{})}
	errPipe, _ := r.cmd.StderrPipe()
	outPipe, _ := r.cmd.StdoutPipe()
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.start = time.Now()
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
			if strings.HasPrefix(sc.Text(), "listening on ") {
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
	go func() { wg.Wait(); _ = r.cmd.Wait(); close(r.done) }()
	select {
	case <-r.ready:
	case <-time.After(30 * time.Second):
		t.Fatalf("capture not ready after 30s; stderr: %q", r.errLines())
	}
	return r
}

func (r *run) errLines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.stderr...)
}

func (r *run) out() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stdout.String()
}

// wait waits for the command to end and returns its exit code and how long it ran.
func (r *run) wait(t *testing.T, limit time.Duration) (int, time.Duration) {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(limit):
		t.Fatalf("capture still running after %s; stderr: %q", limit, r.errLines())
	}
	return r.cmd.ProcessState.ExitCode(), time.Since(r.start)
}

var reSummary = regexp.MustCompile(`^(\d+) packets captured, (\d+) received by filter, (\d+) dropped by kernel$`)

// summary returns the numbers of the summary line on stderr.
func (r *run) summary(t *testing.T) (captured, received, dropped int) {
	t.Helper()
	for _, l := range r.errLines() {
		if m := reSummary.FindStringSubmatch(l); m != nil {
			fmt.Sscan(m[1], &captured)
			fmt.Sscan(m[2], &received)
			fmt.Sscan(m[3], &dropped)
			return
		}
	}
	t.Fatalf("no summary line on stderr: %q", r.errLines())
	return
}

func countPackets(t *testing.T, name string, args ...string) int {
	t.Helper()
	testenv.RequireTool(t, name)
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	s := strings.TrimSpace(string(out))
	if s == "" {
		return 0
	}
	return strings.Count(s, "\n") + 1
}

// checkFile: mode 0600 and tshark and tcpdump both read exactly want packets.
func checkFile(t *testing.T, path string, want int) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("file %s: %v, err %v; want mode 0600", path, fi, err)
	}
	ts, td := countPackets(t, "tshark", "-r", path), countPackets(t, "tcpdump", "-nn", "-r", path)
	if ts != want || td != want {
		t.Fatalf("tshark reads %d packets, tcpdump %d; the capture said %d", ts, td, want)
	}
}

func TestWriteCount(t *testing.T) {
	a, b := pair(t)
	for _, format := range []string{"pcap", "pcapng"} {
		t.Run(format, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c."+format)
			args := []string{"--netns", b.Name, "-i", "vb", "-w", path, "-c", "10"}
			if format == "pcapng" {
				args = append(args, "--pcapng")
			}
			args = append(args, "icmp")
			r := start(t, args...)
			a.Exec(t, "ping", "-c", "6", "-i", "0.05", "-W", "2", "10.77.0.2")
			if code, _ := r.wait(t, 10*time.Second); code != 0 {
				t.Fatalf("exit %d, want 0; stderr %q", code, r.errLines())
			}
			if c, _, d := r.summary(t); c != 10 || d != 0 {
				t.Fatalf("summary %q: want 10 captured (-c 10), 0 dropped", r.errLines())
			}
			checkFile(t, path, 10)
		})
	}
}

func TestDuration(t *testing.T) {
	_, b := pair(t)
	r := start(t, "--netns", b.Name, "-i", "vb", "--duration", "500ms")
	code, took := r.wait(t, 10*time.Second)
	if code != 0 || took < 500*time.Millisecond || took > 10*time.Second {
		t.Fatalf("exit %d after %s, want 0 after about 500ms; stderr %q", code, took, r.errLines())
	}
	if c, _, _ := r.summary(t); c != 0 {
		t.Fatalf("captured %d packets with no traffic", c)
	}
}

func TestMaxBytes(t *testing.T) {
	a, b := pair(t)
	path := filepath.Join(t.TempDir(), "cap.pcap")
	r := start(t, "--netns", b.Name, "-i", "vb", "-w", path, "--max-bytes", "1000", "icmp")
	// 98-byte ICMP frames: 24 + 7*(16+98) = 822 bytes, an eighth would make 936 and a ninth 1050.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	go a.Output(ctx, "ping", "-c", "100", "-i", "0.01", "10.77.0.2")
	if code, _ := r.wait(t, 15*time.Second); code != 0 {
		t.Fatalf("exit %d, want 0; stderr %q", code, r.errLines())
	}
	c, _, _ := r.summary(t)
	fi, _ := os.Stat(path)
	if c != 8 || fi.Size() != 936 {
		t.Fatalf("captured %d, file %d bytes; want 8 packets in 936 bytes under --max-bytes 1000; stderr %q", c, fi.Size(), r.errLines())
	}
	checkFile(t, path, 8)
}

// TestInterrupt: SIGINT ends the capture normally: valid file, summary, exit 0.
func TestInterrupt(t *testing.T) {
	a, b := pair(t)
	path := filepath.Join(t.TempDir(), "int.pcap")
	r := start(t, "--netns", b.Name, "-i", "vb", "-w", path, "icmp")
	a.Exec(t, "ping", "-c", "3", "-i", "0.05", "-W", "2", "10.77.0.2")
	if err := r.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code, _ := r.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit %d after SIGINT, want 0; stderr %q", code, r.errLines())
	}
	c, recv, _ := r.summary(t)
	if c != 6 || recv != 6 {
		t.Fatalf("captured %d, received %d; want 6 (3 pings); stderr %q", c, recv, r.errLines())
	}
	checkFile(t, path, c)
}

// TestTextAny prints one line per packet on -i any, tcpdump style, with interface and direction.
func TestTextAny(t *testing.T) {
	a, b := pair(t)
	r := start(t, "--netns", b.Name, "-i", "any", "-c", "2", "icmp")
	a.Exec(t, "ping", "-c", "1", "-W", "2", "10.77.0.2")
	if code, _ := r.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit %d; stderr %q", code, r.errLines())
	}
	re := regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d\.\d{6} vb In  IP 10\.77\.0\.1 > 10\.77\.0\.2: ICMP echo request, id \d+, seq 1, length 64\n` +
		`\d\d:\d\d:\d\d\.\d{6} vb Out IP 10\.77\.0\.2 > 10\.77\.0\.1: ICMP echo reply, id \d+, seq 1, length 64\n$`)
	if !re.MatchString(r.out()) {
		t.Fatalf("output:\n%s", r.out())
	}
}

func TestErrors(t *testing.T) {
	n := testenv.NewNetNS(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--netns", n.Name, "-i", "nope0"}, fmt.Sprintf(`netdoctor: no interface "nope0" in netns %s: list them with 'ip link' there`, n.Name)},
		{[]string{"--netns", n.Name + "x", "-i", "lo"}, fmt.Sprintf(`netdoctor: network namespace %q does not exist: list them with 'ip netns list'`, n.Name+"x")},
		{[]string{"-c", "-1"}, `netdoctor: -c -1: give a packet count of 0 (no limit) or more`},
		{[]string{"--pcapng"}, `netdoctor: --pcapng needs -w FILE`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			cmd := exec.Command(testenv.Binary(t), append([]string{"capture"}, tc.args...)...)
			var so, se strings.Builder
			cmd.Stdout, cmd.Stderr = &so, &se
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 {
				t.Fatalf("err %v, want exit 2; stderr %q", err, se.String())
			}
			if first := strings.SplitN(se.String(), "\n", 2)[0]; first != tc.want || so.Len() != 0 {
				t.Fatalf("stderr first line %q, want %q; stdout %q", first, tc.want, so.String())
			}
		})
	}
}

// TestVanish: the namespace or the interface going away mid-capture ends the capture within a
// second with exit 2 and one line, and the file stays valid.
func TestVanish(t *testing.T) {
	t.Run("interface", func(t *testing.T) {
		a, b := pair(t)
		path := filepath.Join(t.TempDir(), "v.pcap")
		r := start(t, "--netns", b.Name, "-i", "vb", "-w", path)
		a.Exec(t, "ping", "-c", "2", "-i", "0.05", "-W", "2", "10.77.0.2")
		a.Exec(t, "ip", "link", "del", "va")
		gone := time.Now()
		code, _ := r.wait(t, 10*time.Second)
		// The contract says within 1 s; slack for a loaded machine.
		if took := time.Since(gone); code != 2 || took > 2*time.Second {
			t.Fatalf("exit %d %s after the interface was deleted, want 2 within 1s; stderr %q", code, took, r.errLines())
		}
		want := fmt.Sprintf(`netdoctor: interface "vb" in netns %s went down or vanished during the capture`, b.Name)
		if l := r.errLines(); l[len(l)-1] != want {
			t.Fatalf("last line %q, want %q", l[len(l)-1], want)
		}
		c, _, _ := r.summary(t)
		checkFile(t, path, c)
	})
	t.Run("netns", func(t *testing.T) {
		testenv.RequireRoot(t)
		name := testenv.Name("gon")
		if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
			t.Fatalf("ip netns add: %v: %s", err, out)
		}
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
		if out, err := exec.Command("ip", "-n", name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
			t.Fatalf("lo up: %v: %s", err, out)
		}
		path := filepath.Join(t.TempDir(), "n.pcap")
		r := start(t, "--netns", name, "-i", "lo", "-w", path)
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Fatalf("ip netns del: %v: %s", err, out)
		}
		gone := time.Now()
		code, _ := r.wait(t, 10*time.Second)
		if took := time.Since(gone); code != 2 || took > 2*time.Second {
			t.Fatalf("exit %d %s after the netns was deleted, want 2 within 1s; stderr %q", code, took, r.errLines())
		}
		want := fmt.Sprintf("netdoctor: netns %s vanished while running", name)
		if l := r.errLines(); l[len(l)-1] != want {
			t.Fatalf("last line %q, want %q", l[len(l)-1], want)
		}
		checkFile(t, path, 0)
	})
}

// TestFilter: the filter runs in the kernel (a flood of non-matching packets is never counted as
// received by filter), -d prints what tcpdump -d prints, a bad filter is one line pointing at the
// bad token.
func TestFilter(t *testing.T) {
	a, b := pair(t)
	t.Run("kernel", func(t *testing.T) {
		r := start(t, "--netns", b.Name, "-i", "vb", "-c", "100", "udp dst port 9001")
		flood(t, a, 10000, 100)
		if code, _ := r.wait(t, 10*time.Second); code != 0 {
			t.Fatalf("exit %d; stderr %q", code, r.errLines())
		}
		if c, recv, d := r.summary(t); c != 100 || recv != 100 || d != 0 {
			t.Fatalf("summary %q: want 100 captured, 100 received by filter of 10100 sent, 0 dropped", r.errLines())
		}
	})
	t.Run("dump", func(t *testing.T) {
		testenv.RequireTool(t, "tcpdump")
		for _, expr := range []string{"icmp", "tcp port 80 and host 10.0.0.1"} {
			got, err := exec.Command(testenv.Binary(t), "capture", "-d", "-i", "lo", expr).Output()
			if err != nil {
				t.Fatalf("capture -d %q: %v", expr, err)
			}
			want, err := exec.Command("tcpdump", "-d", "-y", "EN10MB", expr).Output()
			if err != nil {
				t.Fatalf("tcpdump -d %q: %v", expr, err)
			}
			if string(got) != string(want) {
				t.Fatalf("capture -d %q:\n%s\ntcpdump -d:\n%s", expr, got, want)
			}
		}
	})
	t.Run("syntax", func(t *testing.T) {
		cmd := exec.Command(testenv.Binary(t), "capture", "--netns", b.Name, "-i", "vb", "port", "80x")
		var so, se strings.Builder
		cmd.Stdout, cmd.Stderr = &so, &se
		err := cmd.Run()
		lines := strings.Split(strings.TrimSuffix(se.String(), "\n"), "\n")
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 || so.Len() != 0 || len(lines) != 2 ||
			!strings.HasPrefix(lines[0], "netdoctor: filter: ") || !strings.Contains(lines[0], `"80x"`) ||
			lines[1] != "Run 'netdoctor capture --help' for usage." {
			t.Fatalf("err %v, stdout %q, stderr %q: want exit 2 and one line naming \"80x\" plus the usage pointer", err, so.String(), se.String())
		}
	})
}

// flood sends n UDP packets to 10.77.0.2:9000 and m to port 9001 spread among them, from a
// socket opened inside ns.
func flood(t *testing.T, ns *testenv.NetNS, n, m int) {
	t.Helper()
	var conn *net.UDPConn
	if err := ns.NS.Do(func() (err error) {
		conn, err = net.ListenUDP("udp4", &net.UDPAddr{})
		return err
	}); err != nil {
		t.Fatalf("udp socket: %v", err)
	}
	defer conn.Close()
	to := &net.UDPAddr{IP: net.IPv4(10, 77, 0, 2), Port: 9000}
	match := &net.UDPAddr{IP: net.IPv4(10, 77, 0, 2), Port: 9001}
	buf := make([]byte, 32)
	for i := 0; i < n; i++ {
		if _, err := conn.WriteToUDP(buf, to); err != nil {
			t.Fatal(err)
		}
		if i%(n/m) == 0 {
			if _, err := conn.WriteToUDP(buf, match); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestAt captures at both ends of the veth with --at and follows the ping across them (JSON).
func TestAt(t *testing.T) {
	a, b := pair(t)
	r := start(t, "--at", a.Name+":va", "--at", b.Name+":vb", "--duration", "20s", "-o", "json", "icmp")
	a.Exec(t, "ping", "-c", "1", "-W", "2", "10.77.0.2")
	if err := r.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code, _ := r.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit %d; stderr %q", code, r.errLines())
	}
	var tr struct {
		Points []struct {
			Label    string `json:"label"`
			Captured int    `json:"captured"`
		} `json:"points"`
		Packets []struct {
			Summary string `json:"summary"`
			Seen    []struct {
				Point string `json:"point"`
				Dir   string `json:"dir"`
			} `json:"seen"`
			LastPoint string `json:"last_point"`
		} `json:"packets"`
	}
	if err := json.Unmarshal([]byte(r.out()), &tr); err != nil {
		t.Fatalf("output is not a trace: %v\n%s", err, r.out())
	}
	pa, pb := a.Name+":va", b.Name+":vb"
	if len(tr.Packets) != 2 || len(tr.Points) != 2 || tr.Points[0].Captured != 2 || tr.Points[1].Captured != 2 {
		t.Fatalf("want 2 points with 2 packets each, 2 packets followed:\n%s", r.out())
	}
	req, rep := tr.Packets[0], tr.Packets[1]
	if !strings.Contains(req.Summary, "ICMP echo request") || len(req.Seen) != 2 ||
		req.Seen[0].Point != pa || req.Seen[0].Dir != "Out" || req.Seen[1].Point != pb || req.Seen[1].Dir != "In" || req.LastPoint != pb {
		t.Fatalf("echo request should go out of %s and in at %s:\n%s", pa, pb, r.out())
	}
	if !strings.Contains(rep.Summary, "ICMP echo reply") || rep.LastPoint != pa {
		t.Fatalf("echo reply should be last seen at %s:\n%s", pa, r.out())
	}
}

// TestJSON: -o json prints one object per packet and a summary object, all on stdout.
func TestJSON(t *testing.T) {
	a, b := pair(t)
	r := start(t, "--netns", b.Name, "-i", "vb", "-c", "2", "-o", "json", "icmp")
	a.Exec(t, "ping", "-c", "1", "-W", "2", "10.77.0.2")
	if code, _ := r.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit %d; stderr %q", code, r.errLines())
	}
	lines := strings.Split(strings.TrimSpace(r.out()), "\n")
	if len(lines) != 3 {
		t.Fatalf("want 2 packet lines and a summary:\n%s", r.out())
	}
	var pk struct {
		Type    string `json:"type"`
		Summary string `json:"summary"`
		IP      struct {
			Src      string `json:"src"`
			ICMPType int    `json:"icmp_type"`
		} `json:"ip"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &pk); err != nil || pk.Type != "packet" || pk.IP.Src != "10.77.0.1" ||
		pk.IP.ICMPType != 8 || !strings.HasPrefix(pk.Summary, "IP 10.77.0.1 > 10.77.0.2: ICMP echo request") {
		t.Fatalf("first line %s (err %v)", lines[0], err)
	}
	var sum struct {
		Type     string `json:"type"`
		Captured int    `json:"captured"`
		Received int    `json:"received_by_filter"`
		Dropped  int    `json:"dropped_by_kernel"`
		Stopped  string `json:"stopped"`
	}
	if err := json.Unmarshal([]byte(lines[2]), &sum); err != nil || sum.Type != "summary" || sum.Captured != 2 ||
		sum.Received != 2 || sum.Stopped != "count" {
		t.Fatalf("summary line %s (err %v)", lines[2], err)
	}
}
