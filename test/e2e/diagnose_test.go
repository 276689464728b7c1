//go:build linux

// Package e2e proves the product on the lab: for every fault of the catalogue, `netdoctor diagnose`
// run as a user would (the binary, a lab brought up by `netdoctor lab up`) gives the catalogue's
// kind, names the failing hop and states the facts; the healthy lab gives healthy with no critical
// finding; and diagnosing changes nothing in any namespace.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netdoctor/netdoctor/internal/diag"
	"github.com/netdoctor/netdoctor/internal/lab"
	"github.com/netdoctor/netdoctor/internal/lab/fault"
	"github.com/netdoctor/netdoctor/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// run runs the netdoctor binary with the lab directory of this test process.
func run(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, testenv.Binary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	code = 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("netdoctor %s: %v", strings.Join(args, " "), err)
	}
	return so.String(), se.String(), code
}

// upLab brings up a uniquely named lab with the fault and registers its removal.
func upLab(t *testing.T, faultName string) (name string, env []string) {
	t.Helper()
	name = testenv.Name("lab")
	env = []string{lab.EnvDir + "=" + os.Getenv(lab.EnvDir)}
	if out, errOut, code := run(t, env, "lab", "up", "--name", name, "--fault", faultName); code != 0 {
		t.Fatalf("lab up --fault %s: exit %d\n%s%s", faultName, code, out, errOut)
	}
	t.Cleanup(func() {
		if out, errOut, code := run(t, env, "lab", "down", "--name", name); code != 0 {
			t.Errorf("lab down %s: exit %d\n%s%s", name, code, out, errOut)
		}
	})
	return name, env
}

func diagnose(t *testing.T, name string, env []string, req lab.Request) (*diag.Report, string, int) {
	t.Helper()
	args := []string{"diagnose", "--lab", name, "--from", req.From, "--to", req.To, "-o", "json"}
	if req.Proto != "" {
		args = append(args, "--proto", req.Proto)
	}
	if req.Size > 0 {
		args = append(args, "--size", strconv.Itoa(req.Size))
	}
	out, errOut, code := run(t, env, args...)
	if code == 2 {
		t.Fatalf("diagnose %v could not run: %s", args, errOut)
	}
	var rep diag.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("diagnose output is not JSON: %v\n%s", err, out)
	}
	return &rep, out, code
}

func TestDiagnoseEveryFault(t *testing.T) {
	testenv.RequireRoot(t)
	t.Setenv(lab.EnvDir, testenv.TempDir(t)+"/labs")
	testenv.RequireTool(t, "iptables")
	for _, f := range fault.Catalogue() {
		t.Run(f.Name, func(t *testing.T) {
			name, env := upLab(t, f.Name)
			l, err := lab.Open(name)
			if err != nil {
				t.Fatal(err)
			}
			f := l.Expand(f)
			req := f.Request
			before := captureLab(t, name)
			rep, raw, code := diagnose(t, name, env, req)
			after := captureLab(t, name)
			for ns, b := range before {
				if d := testenv.DiffCaptures(b, after[ns]); d != "" {
					t.Errorf("diagnose changed namespace %s:\n%s", ns, d)
				}
			}
			if rep.Verdict.Kind != f.Kind {
				t.Fatalf("verdict %s (%s), want %s\nreport: %s", rep.Verdict.Kind, rep.Verdict.Summary, f.Kind, raw)
			}
			if f.Kind == diag.KindHealthy {
				if code != 0 {
					t.Errorf("healthy lab: exit %d, want 0", code)
				}
				for _, fd := range rep.Findings {
					if fd.Severity == diag.SeverityCritical {
						t.Errorf("healthy lab has a critical finding: %s: %s", fd.Check, fd.Title)
					}
				}
				return
			}
			if code != 1 {
				t.Errorf("exit %d, want 1 for a problem", code)
			}
			crit := critical(rep)
			if len(crit) == 0 {
				t.Fatalf("no critical finding; report: %s", raw)
			}
			if !hopNamed(crit, f.Hop) {
				t.Errorf("no critical finding at the failing hop %+v; findings: %s", f.Hop, hops(crit))
			}
			for _, fd := range crit[:1] {
				if fd.Cause == "" || fd.Fix == "" || len(fd.Evidence) == 0 {
					t.Errorf("finding %s lacks cause, fix or evidence: %+v", fd.Check, fd)
				}
			}
			text := strings.Join(findingText(crit), "\n")
			for k, v := range f.Facts {
				if factChecked(k) && !strings.Contains(text, v) {
					t.Errorf("fact %s=%q not stated in the critical findings:\n%s", k, v, text)
				}
			}
		})
	}
}

// factChecked selects the facts a diagnosis must state word for word: addresses, MTUs, names of
// nodes, services, interfaces and pod states. Prose facts are for people.
func factChecked(k string) bool {
	switch {
	case strings.HasSuffix(k, "_ip"), strings.HasSuffix(k, "_mtu"), k == "node", k == "service", k == "cluster_ip",
		k == "reason", k == "pod_phase", k == "largest_packet", k == "vxlan_device", k == "port", k == "policy":
		return true
	}
	return false
}

func critical(r *diag.Report) []diag.Finding {
	var out []diag.Finding
	for _, f := range r.Findings {
		if f.Severity == diag.SeverityCritical {
			out = append(out, f)
		}
	}
	return out
}

// hopNamed: some critical finding is at the ground truth's hop: its node (and interface, when both
// name one), else its namespace; a hop outside the cluster (a router's namespace) must not be blamed
// on a node. A truth that names only a service or "every node" is checked by kind and facts alone.
func hopNamed(fs []diag.Finding, h diag.Hop) bool {
	for _, f := range fs {
		switch {
		case h.Node != "":
			if f.Hop.Node == h.Node && (h.Interface == "" || f.Hop.Interface == "" || f.Hop.Interface == h.Interface) {
				return true
			}
		case h.Netns != "":
			if filepath.Base(f.Hop.Netns) == filepath.Base(h.Netns) || f.Hop.Node == "" && !strings.Contains(h.Netns, "node") {
				return true
			}
		default:
			return true
		}
	}
	return false
}

func hops(fs []diag.Finding) string {
	var s []string
	for _, f := range fs {
		s = append(s, f.Check+" @ "+f.Hop.Node+"/"+f.Hop.Interface+" ("+f.Hop.Where+"): "+f.Title)
	}
	return strings.Join(s, "; ")
}

func findingText(fs []diag.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Title, f.Cause, f.Fix, f.Hop.Where)
		out = append(out, f.Evidence...)
	}
	return out
}

// captureLab snapshots every namespace of the lab (links, addresses, routes, rules, neighbours, FDB,
// iptables, nft, sysctls) to prove diagnosing is read-only.
func captureLab(t *testing.T, name string) map[string]string {
	t.Helper()
	st := map[string]string{}
	ents, _ := os.ReadDir("/run/netns")
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), name+"-") {
			st[e.Name()] = dropNoise(testenv.CaptureNamed(t, e.Name()))
		}
	}
	if len(st) == 0 {
		t.Fatalf("lab %s has no namespaces", name)
	}
	return st
}

// dropNoise removes what `ip` prints when another lab's namespace disappears while it resolves
// peer namespace ids: it is about the reader racing a deletion, not about this lab's configuration.
func dropNoise(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.Contains(l, "Peer netns reference is invalid") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// TestLocaliseByCapture breaks the lab where no node can see it — the underlay switch drops the
// VXLAN packets towards node2 — so no check explains the symptom and the diagnosis must fall back
// to capturing along the path: the packets are last seen on node1's NIC and never reach node2's.
func TestLocaliseByCapture(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireTool(t, "nft")
	t.Setenv(lab.EnvDir, testenv.TempDir(t)+"/labs")
	name, env := upLab(t, "none")
	l, err := lab.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	node2 := l.Plan.Node("node2")
	var web string
	for _, p := range l.Plan.Pods {
		if p.Node == "node2" && strings.HasPrefix(p.Name, "web-") {
			web = p.Namespace + "/" + p.Name
		}
	}
	if node2 == nil || web == "" {
		t.Fatalf("lab plan has no node2 or no web pod on it")
	}
	under := &testenv.NetNS{Name: l.Plan.Underlay}
	under.Exec(t, "nft", "add table bridge ndtest")
	under.Exec(t, "nft", "add chain bridge ndtest ndfw { type filter hook forward priority 0 ; }")
	under.Exec(t, "nft", "add rule bridge ndtest ndfw udp dport 8472 ip daddr "+node2.IP.String()+" drop")

	rep, raw, code := diagnose(t, name, env, lab.Request{From: "pod/default/client-node1", To: "pod/" + web + ":8080", Proto: "tcp"})
	if code != 1 || rep.Verdict.Kind != diag.KindNetworkUnreachable {
		t.Fatalf("exit %d verdict %s, want 1 network-unreachable; report: %s", code, rep.Verdict.Kind, raw)
	}
	var loc *diag.Finding
	for i, f := range rep.Findings {
		if f.Check == "capture-localise" && f.Severity == diag.SeverityCritical {
			loc = &rep.Findings[i]
		}
	}
	if loc == nil {
		t.Fatalf("no capture-localise finding; report: %s", raw)
	}
	if !strings.Contains(loc.Title, "last seen at node1:eth0") || !strings.Contains(loc.Title, "never reached node2:eth0") {
		t.Errorf("localisation %q, want last seen at node1:eth0, never reached node2:eth0", loc.Title)
	}

	// The evidence bundle holds the captures behind that finding, one pcap per point, readable by
	// tcpdump, and the encapsulated SYN is in node1's NIC capture.
	tcpdump := testenv.RequireTool(t, "tcpdump")
	bundle := testenv.TempDir(t) + "/" + testenv.Name("bun") + ".tar.gz"
	if _, errOut, code := run(t, env, "diagnose", "--lab", name, "--from", "pod/default/client-node1", "--to", "pod/"+web+":8080", "--bundle", bundle, "-o", "json"); code != 1 {
		t.Fatalf("diagnose --bundle: exit %d: %s", code, errOut)
	}
	dir := t.TempDir()
	if out, err := exec.Command("tar", "xzf", bundle, "-C", dir).CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, out)
	}
	pcap := dir + "/netdoctor-bundle/captures/node1_eth0.pcap"
	out, err := exec.Command(tcpdump, "-nn", "-r", pcap).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "8472") || !strings.Contains(string(out), "Flags [S]") {
		t.Errorf("tcpdump -r %s: %v\n%s", pcap, err, out)
	}
}

// TestLabRunsRealCoreDNS: with CoreDNS built (scripts/coredns.sh, which scripts/test.sh runs), the
// lab's CoreDNS pods run the real thing, and a pod resolves a service through the kube-dns ClusterIP.
func TestLabRunsRealCoreDNS(t *testing.T) {
	testenv.RequireRoot(t)
	dig := testenv.RequireTool(t, "dig")
	core := lab.CoreDNSPath()
	if core == "" {
		testenv.Skip(t, "needs a CoreDNS build: bash scripts/coredns.sh")
	}
	t.Setenv(lab.EnvDir, testenv.TempDir(t)+"/labs")
	name, _ := upLab(t, "none")
	l, err := lab.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	if l.State.CoreDNS != core {
		t.Fatalf("lab runs CoreDNS %q, want %q", l.State.CoreDNS, core)
	}
	n := 0
	for _, p := range l.Plan.Pods {
		if !p.DNS || p.DNSPID == 0 {
			continue
		}
		exe, err := os.Readlink("/proc/" + strconv.Itoa(p.DNSPID) + "/exe")
		if err != nil || exe != core {
			t.Errorf("DNS pod %s: process %d runs %q (%v), want %s", p.Name, p.DNSPID, exe, err, core)
		}
		n++
	}
	if n != 2 {
		t.Errorf("%d CoreDNS processes, want 2 (one per CoreDNS pod)", n)
	}
	client := &testenv.NetNS{Name: name + "-pod-client-node3"}
	out := client.Exec(t, dig, "+short", "+search", "web.default")
	if strings.TrimSpace(out) != "10.96.0.100" {
		t.Errorf("dig web.default from client-node3 = %q, want the web ClusterIP 10.96.0.100", out)
	}
}
