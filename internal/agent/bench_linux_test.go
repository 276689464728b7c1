//go:build linux

package agent_test

import (
	"bufio"
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netdoctor/netdoctor/internal/agent"
	"github.com/netdoctor/netdoctor/internal/check"
	"github.com/netdoctor/netdoctor/internal/image"
	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/nodestate"
	"github.com/netdoctor/netdoctor/internal/testenv"
)

// procStatus reads a "Name: N kB" field of /proc/PID/status in MiB.
func procStatus(b *testing.B, pid int, field string) float64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, field+":") {
			kb, _ := strconv.Atoi(strings.Fields(l)[1])
			return float64(kb) / 1024
		}
	}
	return 0
}

// cpuSeconds is the user+system CPU time of pid.
func cpuSeconds(b *testing.B, pid int) float64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		b.Fatal(err)
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	sum := 0
	for _, i := range []int{11, 12, 13, 14} { // utime, stime, and of waited-for children (iptables-save)
		v, _ := strconv.Atoi(f[i])
		sum += v
	}
	return float64(sum) / 100 // USER_HZ
}

var agentBin struct {
	sync.Once
	path string
	err  error
}

// agentBinary builds the agent-only binary exactly as the image does (image.AgentBuild), once.
func agentBinary(b *testing.B) string {
	dir := testenv.TempDir(b)
	agentBin.Do(func() {
		_, me, _, _ := runtime.Caller(0)
		agentBin.path = filepath.Join(dir, image.AgentPath)
		agentBin.err = image.AgentBuild(filepath.Join(filepath.Dir(me), "../.."), agentBin.path, "amd64", "bench").Run(context.Background())
	})
	if agentBin.err != nil {
		b.Fatal(agentBin.err)
	}
	return agentBin.path
}

// BenchmarkAgentDiagnoses runs the real agent binaries — the full netdoctor (`netdoctor agent`)
// and the agent-only netdoctor-agent of the image — for one node (a test namespace) and measures
// each while 20 concurrent callers each run what a diagnosis asks of one node: a node snapshot,
// three FIB look-ups, a TCP probe and a ping. Metrics: idle RSS (and its anonymous part), peak
// RSS and CPU milliseconds per diagnosis of the agent process (with the tools it runs,
// iptables-save).
func BenchmarkAgentDiagnoses(b *testing.B) {
	f := setup(b)
	kc := f.api.Kubeconfig(b, "agent", "")
	for _, bin := range []struct{ name, path string }{{"netdoctor", testenv.Binary(b)}, {"netdoctor-agent", agentBinary(b)}} {
		b.Run(bin.name, func(b *testing.B) { benchAgent(b, f, bin.path, kc) })
	}
}

func benchAgent(b *testing.B, f *fixture, bin, kc string) {
	cmd := exec.Command(bin, "agent", "--listen", "127.0.0.1:0", "--node-name", "n1",
		"--node-netns", f.line.Hosts[0].Path, "--kubeconfig", kc)
	cmd.Env = append(os.Environ(), "KUBECONFIG=")
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer testenv.Kill(cmd)
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.Fatal(err)
	}
	url := "http://" + strings.TrimSpace(line[strings.LastIndex(line, " on ")+4:])
	pid := cmd.Process.Pid
	time.Sleep(time.Second) // idle means idle for a while: nothing to wait for
	idle, idleAnon := procStatus(b, pid, "VmRSS"), procStatus(b, pid, "RssAnon")
	cpu0 := cpuSeconds(b, pid)
	peer := netip.MustParseAddr(f.line.Addr(1))
	ctx := context.Background()
	b.SetParallelism(10) // 20 callers on 2 CPUs
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c := agent.NewClient(&kube.Cluster{}, agent.ClientOptions{Token: f.api.Token("alice"), Agents: map[string]string{"n1": url}})
			dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			_, err := c.Node(dctx, "n1")
			for i := 0; i < 3 && err == nil; i++ {
				_, err = c.Route(dctx, "n1", nodestate.RouteQuery{Dst: peer})
			}
			if err == nil {
				_, err = c.TCP(dctx, check.Vantage{Node: "n1"}, netip.AddrPortFrom(peer, 9), 1)
			}
			if err == nil {
				_, err = c.Ping(dctx, check.Vantage{Node: "n1"}, peer, 56, false, 1)
			}
			cancel()
			c.Close()
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(idle, "idle-RSS-MiB")
	b.ReportMetric(idleAnon, "idle-anon-MiB") // RSS less the binary's (shared, file-backed) pages
	b.ReportMetric(procStatus(b, pid, "VmHWM"), "peak-RSS-MiB")
	b.ReportMetric((cpuSeconds(b, pid)-cpu0)/float64(b.N)*1000, "agent-CPU-ms/diagnosis")
}
