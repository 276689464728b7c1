//go:build linux

package capture

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/bpf"

	"github.com/netdoctor/netdoctor/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// tcpdumpProgram compiles expr with the real tcpdump (-ddd) for a link type: the oracle program
// these tests attach, independent of our own filter compiler.
func tcpdumpProgram(t *testing.T, linkType, expr string) []bpf.RawInstruction {
	t.Helper()
	testenv.RequireTool(t, "tcpdump")
	out, err := exec.Command("tcpdump", "-ddd", "-y", linkType, expr).Output()
	if err != nil {
		t.Fatalf("tcpdump -ddd -y %s %q: %v", linkType, expr, err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	n, _ := strconv.Atoi(lines[0])
	var prog []bpf.RawInstruction
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) != 4 {
			t.Fatalf("tcpdump -ddd line %q", l)
		}
		v := make([]uint64, 4)
		for i := range f {
			v[i], _ = strconv.ParseUint(f[i], 10, 32)
		}
		prog = append(prog, bpf.RawInstruction{Op: uint16(v[0]), Jt: uint8(v[1]), Jf: uint8(v[2]), K: uint32(v[3])})
	}
	if len(prog) != n {
		t.Fatalf("tcpdump -ddd: %d instructions, header says %d", len(prog), n)
	}
	return prog
}

// pair is two namespaces joined by a veth: a (10.77.0.1, iface ifA) and b (10.77.0.2, iface ifB),
// with IPv6 off so that only the test's traffic flows.
type pair struct {
	a, b     *testenv.NetNS
	ifA, ifB string
}

func newPair(t *testing.T) *pair {
	t.Helper()
	p := &pair{a: testenv.NewNetNS(t), b: testenv.NewNetNS(t), ifA: "va", ifB: "vb"}
	for _, n := range []*testenv.NetNS{p.a, p.b} {
		n.Exec(t, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	}
	testenv.Veth(t, p.a, p.ifA, "10.77.0.1/24", p.b, p.ifB, "10.77.0.2/24")
	// Resolve ARP now so that captures see only what the test sends.
	p.a.Exec(t, "ping", "-c", "1", "-W", "2", "10.77.0.2")
	return p
}

// loop runs h.Loop in the background and returns a function that stops it and waits for it.
func loop(t *testing.T, h *Handle, fn func(*Packet) error) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Loop(ctx, fn) }()
	return func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("Loop did not return within 10s of cancel")
			return nil
		}
	}
}

// tshark runs tshark (on a file: it needs no namespace) and returns its output.
func tshark(t *testing.T, args ...string) string {
	t.Helper()
	testenv.RequireTool(t, "tshark")
	out, err := exec.Command("tshark", args...).Output()
	if err != nil {
		t.Fatalf("tshark %s: %v", strings.Join(args, " "), err)
	}
	return string(out)
}

// countLines runs a reader (tshark -r, tcpdump -r) and counts the packet lines it prints.
func countLines(t *testing.T, name string, args ...string) int {
	t.Helper()
	testenv.RequireTool(t, name)
	cmd := exec.Command(name, args...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	s := strings.TrimSpace(string(out))
	if s == "" {
		return 0
	}
	return strings.Count(s, "\n") + 1
}
