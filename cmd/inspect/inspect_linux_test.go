//go:build linux

package inspect_test

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/netdoctor/netdoctor/internal/nodestate"
	"github.com/netdoctor/netdoctor/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// run runs the real binary and returns stdout, stderr and the exit code.
func run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(testenv.Binary(t), args...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return so.String(), se.String(), code
}

func TestInspectCommands(t *testing.T) {
	testenv.RequireRoot(t)
	restore := testenv.RequireTool(t, "iptables-nft-restore")
	n := testenv.NewNetNS(t)
	peer := testenv.NewNetNS(t)
	testenv.Veth(t, n, "cni0", "10.244.1.1/24", peer, "eth0", "10.244.1.5/24")
	n.Exec(t, "ip", "route", "add", "blackhole", "10.99.0.0/16")
	n.Exec(t, "sh", "-c", restore+` <<'EOF'
*nat
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-TCOU7JCQXEZGVUNU - [0:0]
:KUBE-SEP-IT2ZTR26TO4XFPTO - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A KUBE-SERVICES -d 10.96.0.10/32 -p udp -m comment --comment "kube-system/kube-dns:dns cluster IP" -m udp --dport 53 -j KUBE-SVC-TCOU7JCQXEZGVUNU
-A KUBE-SVC-TCOU7JCQXEZGVUNU -m comment --comment "kube-system/kube-dns:dns -> 10.244.1.5:53" -j KUBE-SEP-IT2ZTR26TO4XFPTO
-A KUBE-SEP-IT2ZTR26TO4XFPTO -p udp -m comment --comment "kube-system/kube-dns:dns" -m udp -j DNAT --to-destination 10.244.1.5:53
COMMIT
EOF`)
	before := testenv.CaptureNetNS(t, n)

	out, errOut, code := run(t, "inspect", "--netns", n.Name, "--root", t.TempDir())
	if code != 0 || errOut != "" || !strings.Contains(out, "cni0") || !strings.Contains(out, "iptables (backend nft): 5 rules") ||
		!strings.Contains(out, "blackhole 10.99.0.0/16") {
		t.Errorf("inspect: exit %d, stderr %q, stdout:\n%s", code, errOut, out)
	}
	out, _, code = run(t, "inspect", "--netns", n.Name, "-o", "json")
	var snap nodestate.Snapshot
	if err := json.Unmarshal([]byte(out), &snap); err != nil || code != 0 || snap.Link("cni0") == nil {
		t.Errorf("inspect -o json: exit %d, err %v", code, err)
	}

	out, _, code = run(t, "inspect", "nat", "--netns", n.Name, "--to", "10.96.0.10:53/udp", "--from-iface", "cni0", "--src", "10.244.1.5")
	if code != 0 || !strings.Contains(out, "10.244.1.5:53          100.0%  KUBE-SEP-IT2ZTR26TO4XFPTO") || !strings.Contains(out, "Service: kube-system/kube-dns:dns") {
		t.Errorf("inspect nat (match): exit %d, stdout:\n%s", code, out)
	}
	out, _, code = run(t, "inspect", "nat", "--netns", n.Name, "--to", "10.96.0.10:53/tcp")
	if code != 1 || !strings.Contains(out, "Result: no NAT rule matches tcp 10.96.0.10:53") {
		t.Errorf("inspect nat (no match): exit %d, stdout:\n%s", code, out)
	}
	out, _, code = run(t, "inspect", "nat", "--netns", n.Name, "--to", "10.96.0.10:53/udp", "-o", "json")
	var w nodestate.NATWalk
	if err := json.Unmarshal([]byte(out), &w); err != nil || code != 0 || len(w.Endpoints) != 1 || w.Backend != "iptables-nft" {
		t.Errorf("inspect nat -o json: exit %d, err %v, walk %+v", code, err, w)
	}

	out, _, code = run(t, "inspect", "route", "--netns", n.Name, "--to", "10.244.1.9")
	if code != 0 || !strings.Contains(out, "unicast dev cni0 src 10.244.1.1 table main") {
		t.Errorf("inspect route: exit %d, stdout:\n%s", code, out)
	}
	out, _, code = run(t, "inspect", "route", "--netns", n.Name, "--to", "10.99.1.1", "--from-iface", "cni0", "--src", "10.244.1.5")
	if code != 1 || !strings.Contains(out, "forwarding is disabled on cni0 (net.ipv4.conf.cni0.forwarding=0)") {
		t.Errorf("inspect route (forwarding off): exit %d, stdout:\n%s", code, out)
	}
	n.Exec(t, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	before = testenv.CaptureNetNS(t, n)
	out, _, code = run(t, "inspect", "route", "--netns", n.Name, "--to", "10.99.1.1", "--from-iface", "cni0", "--src", "10.244.1.5")
	if code != 1 || !strings.Contains(out, ": blackhole") {
		t.Errorf("inspect route (blackhole): exit %d, stdout:\n%s", code, out)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"inspect", "--netns", "nd-no-such-ns"}, `netdoctor: network namespace "nd-no-such-ns" does not exist`},
		{[]string{"inspect", "nat", "--netns", n.Name}, "netdoctor: --to VIP:PORT is required"},
		{[]string{"inspect", "nat", "--netns", n.Name, "--to", "10.96.0.10"}, `netdoctor: --to: "10.96.0.10" is not IP:PORT`},
		{[]string{"inspect", "nat", "--netns", n.Name, "--to", "10.96.0.10:53/icmp"}, `netdoctor: --to: protocol "icmp": use tcp, udp or sctp`},
		{[]string{"inspect", "nat", "--netns", n.Name, "--to", "10.96.0.10:53", "--from-iface", "nope0"}, `netdoctor: --from-iface "nope0": no such interface`},
		{[]string{"inspect", "route", "--netns", n.Name, "--to", "10.1.1.1", "--from-iface", "cni0"}, "netdoctor: --from-iface needs --src"},
		{[]string{"inspect", "route", "--netns", n.Name, "--to", "banana"}, `netdoctor: --to "banana" is not an IP address`},
		{[]string{"inspect", "--netns", n.Name, "-o", "yaml"}, `netdoctor: unknown output format "yaml"`},
	} {
		out, errOut, code := run(t, c.args...)
		if code != 2 || out != "" || !strings.HasPrefix(errOut, c.want) || strings.Count(errOut, "\n") > 2 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and %q", c.args, code, out, errOut, c.want)
		}
	}
	if d := testenv.DiffCaptures(before, testenv.CaptureNetNS(t, n)); d != "" {
		t.Errorf("inspect changed the namespace:\n%s", d)
	}
}
