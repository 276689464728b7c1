package fault_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/netdoctor/netdoctor/internal/lab"
	"github.com/netdoctor/netdoctor/internal/lab/fault"
	"github.com/netdoctor/netdoctor/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// cli runs the netdoctor binary with the lab state under a test-private directory.
type cli struct {
	t    *testing.T
	bin  string
	dir  string
	name string
}

func (c *cli) run(args ...string) (stdout, stderr string, code int) {
	c.t.Helper()
	cmd := exec.Command(c.bin, args...)
	cmd.Env = append(os.Environ(), lab.EnvDir+"="+c.dir)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		c.t.Fatalf("run netdoctor %v: %v", args, err)
	}
	return so.String(), se.String(), code
}

// must runs a lab subcommand for this lab and fails the test unless it exits 0.
func (c *cli) must(args ...string) string {
	c.t.Helper()
	out, errOut, code := c.run(append(args, "--name", c.name)...)
	if code != 0 {
		c.t.Fatalf("netdoctor %v: exit %d\nstdout:\n%s\nstderr:\n%s", args, code, out, errOut)
	}
	return out
}

func (c *cli) state() *lab.State {
	c.t.Helper()
	var s lab.State
	if err := json.Unmarshal([]byte(c.must("lab", "status", "-o", "json")), &s); err != nil {
		c.t.Fatalf("status -o json: %v", err)
	}
	return &s
}

// down tears the lab down and checks nothing of it is left: namespaces, /etc/netns entries, the
// state directory and the processes it started.
func (c *cli) down(st *lab.State) {
	c.t.Helper()
	c.must("lab", "down")
	c.must("lab", "down") // idempotent
	assertGone(c.t, c.dir, st)
}

func assertGone(t *testing.T, dir string, st *lab.State) {
	t.Helper()
	for _, n := range st.Namespaces {
		if _, err := os.Lstat("/run/netns/" + n); err == nil {
			t.Errorf("namespace %s left behind", n)
		}
		if _, err := os.Stat(filepath.Join(lab.EtcNetns, n)); err == nil {
			t.Errorf("%s/%s left behind", lab.EtcNetns, n)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, st.Name)); err == nil {
		t.Errorf("state directory %s left behind", filepath.Join(dir, st.Name))
	}
	pids := []int{st.Plan.VMPID}
	for _, p := range st.Plan.Pods {
		pids = append(pids, p.PID)
	}
	for _, pid := range pids {
		if pid > 0 && alive(pid) {
			t.Errorf("process %d of the lab still runs", pid)
		}
	}
}

// alive: /proc/PID exists and is not a zombie (init reaps the lab's daemonised servers).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return !(i >= 0 && i+2 < len(b) && (b[i+2] == 'Z' || b[i+2] == 'X'))
}

// labConcurrency is how many labs TestLabFaults runs at once.
const labConcurrency = 6

func requireLabTools(t *testing.T) {
	testenv.RequireRoot(t)
	for _, tool := range []string{"ip", "iptables", "iptables-restore", "nft", "ping", "dig"} {
		testenv.RequireTool(t, tool)
	}
	if _, err := os.Stat("/proc/sys/net/bridge"); err != nil {
		testenv.Skip(t, "needs the br_netfilter module loaded (modprobe br_netfilter; scripts/deps.sh does it)")
	}
}

// TestLabFaults brings up a healthy lab and every fault of the catalogue, each in its own lab, and
// checks with real traffic that the healthy lab passes every fault's flows and each fault shows its
// symptom; then that every lab is gone and the root namespace is unchanged.
func TestLabFaults(t *testing.T) {
	requireLabTools(t)
	bin := testenv.Binary(t)
	dir := filepath.Join(testenv.TempDir(t), "labs")
	before := testenv.CaptureRoot()
	t.Run("group", func(t *testing.T) {
		// Labs are mostly idle (flows wait on timeouts), so run labConcurrency of them at once
		// whatever -parallel says: t.Run may be called from several goroutines.
		var wg sync.WaitGroup
		sem := make(chan struct{}, labConcurrency)
		run := func(name string, fn func(t *testing.T)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				t.Run(name, fn)
			}()
		}
		run("healthy", func(t *testing.T) {
			testHealthy(t, &cli{t: t, bin: bin, dir: dir, name: testenv.Name("lab")}, before)
		})
		for _, f := range fault.Catalogue()[1:] {
			run(f.Name, func(t *testing.T) {
				testFault(t, &cli{t: t, bin: bin, dir: dir, name: testenv.Name("lab")}, f)
			})
		}
		wg.Wait()
	})
	if d := before.Diff(testenv.CaptureRoot()); d != "" {
		t.Errorf("root namespace changed:\n%s", d)
	}
}

func testHealthy(t *testing.T, c *cli, before testenv.RootState) {
	out, errOut, code := c.run("lab", "up", "--name", c.name)
	if code != 0 || errOut != "" {
		t.Fatalf("lab up: exit %d, stderr %q (progress must be quiet when not a terminal)", code, errOut)
	}
	first := c.state()
	t.Cleanup(func() { c.run("lab", "down", "--name", c.name) })
	if !strings.Contains(out, "lab "+c.name+" is up") {
		t.Errorf("lab up printed %q", out)
	}
	if d := before.Diff(testenv.CaptureRoot()); d != "" {
		t.Errorf("root namespace changed while the lab is up:\n%s", d)
	}
	// Every flow of every fault works in the healthy lab.
	if out := c.must("lab", "verify", "--healthy", "all"); !strings.Contains(out, "all flows healthy: yes") {
		t.Errorf("healthy verify:\n%s", out)
	}
	// The pod's processes see the kubelet-style resolv.conf.
	client := first.Plan.Client("node1")
	b, err := os.ReadFile("/proc/" + strconv.Itoa(client.PID) + "/root/etc/resolv.conf")
	want := "search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n"
	if err != nil || string(b) != want {
		t.Errorf("/proc/%d/root/etc/resolv.conf = %q, %v; want %q", client.PID, b, err, want)
	}
	// The real dig, from the pod, resolves through the kube-dns ClusterIP.
	if out, err := exec.Command("ip", "netns", "exec", client.Netns, "dig", "+short", "+time=2", "+tries=2", "web.default.svc.cluster.local").CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != lab.WebIP.String() {
		t.Errorf("dig in %s: %q, %v; want %s", client.Netns, out, err, lab.WebIP)
	}
	// The dump is where DumpPath says, and names the lab's netns paths.
	dump, err := os.ReadFile(filepath.Join(c.dir, c.name, "dump.yaml"))
	if err != nil || !strings.Contains(string(dump), "netdoctor.dev/netns: /run/netns/"+c.name+"-node1") {
		t.Errorf("dump.yaml: %v", err)
	}
	// A second up replaces the first lab cleanly.
	c.must("lab", "up")
	second := c.state()
	for _, p := range first.Plan.Pods {
		if p.PID > 0 && alive(p.PID) {
			t.Errorf("pod %s process %d of the first lab survived the second up", p.Name, p.PID)
		}
	}
	if len(second.Namespaces) != len(first.Namespaces) {
		t.Errorf("second up has %d namespaces, first %d", len(second.Namespaces), len(first.Namespaces))
	}
	c.down(second)
}

func testFault(t *testing.T, c *cli, f lab.Fault) {
	c.must("lab", "up", "--fault", f.Name)
	st := c.state()
	t.Cleanup(func() { c.run("lab", "down", "--name", c.name) })
	out, _, code := c.run("lab", "verify", "--name", c.name)
	if code != 0 {
		t.Errorf("lab verify: exit %d: symptom not as the fault says:\n%s", code, out)
	}
	switch f.Name {
	case "dual-ip-vxlan-source":
		checkDualIP(t, st)
	case "mtu-blackhole-outside-vm":
		checkMTUBlackhole(t, st, out)
		checkRetransmissionsOnTheWire(t, c, st)
	case "kube-proxy-evicted-new-node":
		checkKubeProxyEvicted(t, c, st)
	}
	c.down(st)
}

func ipOut(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %v: %s", args, err, out)
	}
	return string(out)
}

// Seed 1: the new node's NIC has the static and a dynamic address; flannel.1 encapsulates from the
// dynamic one; peers' FDB entries and the node annotation point at it; Node InternalIP is static.
func checkDualIP(t *testing.T, st *lab.State) {
	n := st.Plan.NewNode()
	addrs := ipOut(t, "ip", "-n", n.Netns, "addr", "show", "dev", "eth0")
	if !strings.Contains(addrs, "inet 192.168.56.13/24") || !regexpMatch(`inet 192\.168\.56\.200/24 .*dynamic`, addrs) {
		t.Errorf("new node eth0 should hold 192.168.56.13 and a dynamic 192.168.56.200:\n%s", addrs)
	}
	if link := ipOut(t, "ip", "-n", n.Netns, "-d", "link", "show", "flannel.1"); !strings.Contains(link, "local 192.168.56.200") {
		t.Errorf("flannel.1 does not encapsulate from the DHCP address:\n%s", link)
	}
	if fdb := ipOut(t, "bridge", "-n", st.Plan.Nodes[0].Netns, "fdb", "show", "dev", "flannel.1"); !strings.Contains(fdb, n.VtepMAC+" dst 192.168.56.200 self permanent") {
		t.Errorf("node1 FDB for the new node's VTEP:\n%s", fdb)
	}
	dump, _ := os.ReadFile(filepath.Join(st.Dir, "dump.yaml"))
	if !strings.Contains(string(dump), "flannel.alpha.coreos.com/public-ip: 192.168.56.200") || !strings.Contains(string(dump), "address: 192.168.56.13\n      type: InternalIP") {
		t.Errorf("dump lacks the DHCP public-ip annotation or the static InternalIP")
	}
}

// Seed 2: handshake and small GET pass, the large POST times out with retransmissions; the real ping
// shows the black hole: 1412-byte DF payloads (1440 on the wire) pass, 1472 (1500) vanish without
// an ICMP error.
func checkMTUBlackhole(t *testing.T, st *lab.State, verify string) {
	for _, want := range []string{"TCP handshake: tcp", ": ok (connected)", "small GET: http", "large POST: http", "(200000 bytes): timeout", "retransmissions"} {
		if !strings.Contains(verify, want) {
			t.Errorf("verify output lacks %q:\n%s", want, verify)
		}
	}
	ping := func(size string) (string, error) {
		out, err := exec.Command("ip", "netns", "exec", st.Plan.VM, "ping", "-n", "-c", "2", "-i", "0.2", "-W", "1", "-M", "do", "-s", size, "192.168.56.11").CombinedOutput()
		return string(out), err
	}
	if out, err := ping("1412"); err != nil {
		t.Errorf("ping -M do -s 1412 from the VM should pass: %v\n%s", err, out)
	}
	out, err := ping("1472")
	if err == nil || strings.Contains(out, "Frag needed") || strings.Contains(out, "mtu =") {
		t.Errorf("ping -M do -s 1472 should vanish without frag-needed: %v\n%s", err, out)
	}
}

// Seed 3: no kube-proxy rules on the new node (but on the others); the dump shows the evicted pod
// without priorityClassName and an Event; dig via the ClusterIP fails from the new node while dig to
// a CoreDNS pod IP answers.
func checkKubeProxyEvicted(t *testing.T, c *cli, st *lab.State) {
	n := st.Plan.NewNode()
	if rules := ipOut(t, "ip", "netns", "exec", n.Netns, "iptables-save", "-t", "nat"); strings.Contains(rules, "KUBE-SERVICES") || strings.Contains(rules, "KUBE-SVC-") || strings.Contains(rules, "KUBE-SEP-") {
		t.Errorf("new node still has kube-proxy rules:\n%s", rules)
	}
	if rules := ipOut(t, "ip", "netns", "exec", st.Plan.Nodes[0].Netns, "iptables-save", "-t", "nat"); !strings.Contains(rules, "KUBE-SVC-TCOU7JCQXEZGVUNU") {
		t.Errorf("node1 lacks the kube-dns service chain:\n%s", rules)
	}
	dump := c.must("lab", "dump")
	if !regexpMatch(`(?s)name: `+st.Plan.KubeProxyPodName(n.Name)+`.*?phase: Failed\n    reason: Evicted`, dump) || !strings.Contains(dump, "kind: Event") || strings.Count(dump, "reason: Evicted") < 2 {
		t.Errorf("dump lacks the evicted kube-proxy pod or its Event")
	}
	client := st.Plan.Client(n.Name)
	dig := func(args ...string) (string, error) {
		out, err := exec.Command("ip", append([]string{"netns", "exec", client.Netns, "dig", "+time=1", "+tries=1"}, args...)...).CombinedOutput()
		return string(out), err
	}
	if out, err := dig("web.default.svc.cluster.local"); err == nil && strings.Contains(out, "status: NOERROR") {
		t.Errorf("dig via kube-dns from the new node should fail:\n%s", out)
	}
	coredns := st.Plan.PodsByApp("kube-dns")[0].IP.String()
	if out, err := dig("@"+coredns, "+short", "web.default.svc.cluster.local"); err != nil || strings.TrimSpace(out) != lab.WebIP.String() {
		t.Errorf("dig @%s from the new node: %v\n%s", coredns, err, out)
	}
}

var segLen = regexp.MustCompile(`length (\d+)$`)

// checkRetransmissionsOnTheWire runs the flows again under tcpdump on the VM's NIC and checks the
// capture shows full-size segments of the POST (1448 bytes of payload: 1500-byte packets, MSS 1460
// with timestamps) sent more than once.
func checkRetransmissionsOnTheWire(t *testing.T, c *cli, st *lab.State) {
	testenv.RequireTool(t, "tcpdump")
	pcap := filepath.Join(testenv.TempDir(t), c.name+".pcap")
	cmd := exec.Command("ip", "netns", "exec", st.Plan.VM, "tcpdump", "-i", "eth0", "-nn", "-U", "-w", pcap, "tcp port 30880")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer testenv.Kill(cmd)
	// Readiness: tcpdump says "listening on" once its socket is open.
	buf := make([]byte, 256)
	var got string
	for !strings.Contains(got, "listening on") {
		n, err := stderr.Read(buf)
		if err != nil {
			t.Fatalf("tcpdump did not start: %v: %s", err, got)
		}
		got += string(buf[:n])
	}
	c.run("lab", "verify", "--name", c.name)
	_ = cmd.Process.Signal(os.Interrupt)
	_ = cmd.Wait()
	out, err := exec.Command("tcpdump", "-nn", "-r", pcap, "src host "+lab.VMAddr.String()).CombinedOutput()
	if err != nil {
		t.Fatalf("tcpdump -r: %v: %s", err, out)
	}
	seen := map[string]int{}
	retrans := 0
	for _, line := range strings.Split(string(out), "\n") {
		// Payload + 52 bytes of IP/TCP headers (with timestamps) = a 1500-byte packet.
		m := segLen.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if n, _ := strconv.Atoi(m[1]); n+52 != 1500 {
			continue
		}
		i := strings.Index(line, " seq ")
		if i < 0 {
			continue
		}
		seq := strings.Fields(line[i+5:])[0]
		seen[seq]++
		if seen[seq] == 2 {
			retrans++
		}
	}
	if retrans == 0 {
		t.Errorf("no 1500-byte segment from the VM was retransmitted in the capture:\n%s", out)
	}
}
