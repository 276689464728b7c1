package engine

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/netdoctor/netdoctor/internal/check"
	"github.com/netdoctor/netdoctor/internal/diag"
	"github.com/netdoctor/netdoctor/internal/kube"
)

func TestParseFromTo(t *testing.T) {
	from := []struct {
		in   string
		want Spec
		bad  bool
	}{
		{"pod/shop/cart-1", Spec{Kind: "pod", Namespace: "shop", Name: "cart-1"}, false},
		{"pod/cart-1", Spec{Kind: "pod", Namespace: "default", Name: "cart-1"}, false},
		{"node/worker-3", Spec{Kind: "node", Name: "worker-3"}, false},
		{"pid/4242", Spec{Kind: "pid", PID: 4242}, false},
		{"netns/vm1", Spec{Kind: "netns", Name: "vm1"}, false},
		{"netns//run/netns/vm1", Spec{Kind: "netns", Name: "/run/netns/vm1"}, false},
		{"host", Spec{Kind: "host"}, false},
		{"pid/-1", Spec{}, true},
		{"pod/a/b/c", Spec{}, true},
		{"deployment/x", Spec{}, true},
	}
	for _, c := range from {
		got, err := ParseFrom(c.in, "default")
		if (err != nil) != c.bad || !c.bad && got != c.want {
			t.Errorf("ParseFrom(%q) = %+v, %v; want %+v (bad %v)", c.in, got, err, c.want, c.bad)
		}
	}
	to := []struct {
		in   string
		want Spec
		bad  bool
	}{
		{"10.233.0.100:5000", Spec{Kind: "ip", IP: netip.MustParseAddr("10.233.0.100"), Port: 5000, HasPort: true}, false},
		{"10.233.0.100", Spec{Kind: "ip", IP: netip.MustParseAddr("10.233.0.100")}, false},
		{"[fd00::1]:80", Spec{Kind: "ip", IP: netip.MustParseAddr("fd00::1"), Port: 80, HasPort: true}, false},
		{"svc/kube-system/kube-dns:53", Spec{Kind: "svc", Namespace: "kube-system", Name: "kube-dns", Port: 53, HasPort: true}, false},
		{"svc/web", Spec{Kind: "svc", Namespace: "default", Name: "web"}, false},
		{"pod/shop/api-0:8080", Spec{Kind: "pod", Namespace: "shop", Name: "api-0", Port: 8080, HasPort: true}, false},
		{"minio.storage.svc.cluster.local", Spec{Kind: "name", Name: "minio.storage.svc.cluster.local"}, false},
		{"minio.storage:9000", Spec{Kind: "name", Name: "minio.storage", Port: 9000, HasPort: true}, false},
		{"10.0.0.1:0", Spec{}, true},
		{"10.0.0.1:70000", Spec{}, true},
		{"web:http", Spec{}, true},
		{"bad name!", Spec{}, true},
		{"", Spec{}, true},
	}
	for _, c := range to {
		got, err := ParseTo(c.in, "default")
		if (err != nil) != c.bad || !c.bad && got != c.want {
			t.Errorf("ParseTo(%q) = %+v, %v; want %+v (bad %v)", c.in, got, err, c.want, c.bad)
		}
	}
}

func TestClassify(t *testing.T) {
	ap := netip.MustParseAddrPort("10.1.0.5:80")
	ip := ap.Addr()
	cases := []struct {
		name string
		obs  check.Observations
		want diag.Kind
	}{
		{"name does not resolve", check.Observations{DNS: &check.DNSObs{Name: "x", Outcome: "timeout"}}, diag.KindDNSFailure},
		{"dns server silent", check.Observations{UDP: &check.UDPObs{Addr: ap, Outcome: "timeout"}}, diag.KindDNSFailure},
		{"all connect", check.Observations{TCP: &check.TCPObs{Addr: ap, Sent: 3, Connected: 3}}, diag.KindHealthy},
		{"connect but large stalls", check.Observations{TCP: &check.TCPObs{Addr: ap, Sent: 3, Connected: 3}, Large: &check.LargeObs{Outcome: "stalled", Bytes: 65536}}, diag.KindLargePacketLoss},
		{"refused", check.Observations{TCP: &check.TCPObs{Addr: ap, Sent: 3, Refused: 3}}, diag.KindPortUnreachable},
		{"timeout but ping works", check.Observations{ICMP: &check.ICMPObs{Target: ip, Sent: 3, Received: 3}, TCP: &check.TCPObs{Addr: ap, Sent: 3, Timeout: 3}}, diag.KindPortUnreachable},
		{"timeout and ping fails", check.Observations{ICMP: &check.ICMPObs{Target: ip, Sent: 3}, TCP: &check.TCPObs{Addr: ap, Sent: 3, Timeout: 3}}, diag.KindNetworkUnreachable},
		{"some connects lost", check.Observations{TCP: &check.TCPObs{Addr: ap, Sent: 3, Connected: 2, Timeout: 1}}, diag.KindNetworkUnreachable},
		{"ping partial", check.Observations{ICMP: &check.ICMPObs{Target: ip, Sent: 3, Received: 2}}, diag.KindNetworkUnreachable},
		{"ping ok, large DF ping fails", check.Observations{ICMP: &check.ICMPObs{Target: ip, Sent: 3, Received: 3}, Large: &check.LargeObs{Outcome: "failed", Bytes: 1500}}, diag.KindLargePacketLoss},
		{"black hole", check.Observations{ICMP: &check.ICMPObs{Target: ip, Sent: 3, Received: 3}, PMTU: &check.PMTUObs{BlackHole: true}}, diag.KindLargePacketLoss},
	}
	for _, c := range cases {
		obs := c.obs
		proto := "tcp"
		if obs.UDP != nil {
			proto = "dns"
		}
		if got, sum := Classify(&check.Endpoint{}, proto, &obs); got != c.want || sum == "" {
			t.Errorf("%s: %s (%q), want %s", c.name, got, sum, c.want)
		}
	}
}

func TestVerdict(t *testing.T) {
	dnsF := diag.Finding{Check: "dns", Kind: diag.KindDNSFailure, Severity: diag.SeverityCritical, Title: "pods answer, ClusterIP does not"}
	kp := diag.Finding{Check: "kube-proxy", Kind: diag.KindCNIKubeProxy, Severity: diag.SeverityCritical, Title: "kube-proxy evicted"}
	warn := diag.Finding{Check: "mtu", Kind: diag.KindLargePacketLoss, Severity: diag.SeverityWarning, Title: "pod MTU above tunnel"}
	if v := Verdict(diag.KindDNSFailure, "no resolve", []diag.Finding{dnsF, kp}); v.Kind != diag.KindCNIKubeProxy || !strings.Contains(v.Summary, "kube-proxy evicted") {
		t.Errorf("data-plane root cause: %+v", v)
	}
	if v := Verdict(diag.KindDNSFailure, "no resolve", []diag.Finding{dnsF, warn}); v.Kind != diag.KindDNSFailure {
		t.Errorf("symptom finding: %+v", v)
	}
	if v := Verdict(diag.KindPortUnreachable, "refused", nil); v.Kind != diag.KindPortUnreachable || !strings.Contains(v.Summary, "no check found the cause") {
		t.Errorf("unexplained: %+v", v)
	}
	if v := Verdict(diag.KindHealthy, "ok", []diag.Finding{warn}); v.Kind != diag.KindHealthy {
		t.Errorf("healthy with a warning: %+v", v)
	}
}

// fakeProber answers every TCP connect with a timeout and ICMP with replies.
type fakeProber struct{}

func (fakeProber) TCP(_ context.Context, _ check.Vantage, to netip.AddrPort, n int) (*check.TCPObs, error) {
	return &check.TCPObs{Addr: to, Sent: n, Timeout: n, Outcome: "timeout"}, nil
}
func (fakeProber) Ping(_ context.Context, _ check.Vantage, to netip.Addr, _ int, _ bool, n int) (*check.ICMPObs, error) {
	return &check.ICMPObs{Target: to, Sent: n, Received: n, Outcome: "ok"}, nil
}
func (fakeProber) DNS(context.Context, check.Vantage, check.DNSQuery) (*check.DNSObs, error) {
	return nil, errors.New("no dns")
}
func (fakeProber) PMTU(context.Context, check.Vantage, netip.Addr) (*check.PMTUObs, error) {
	return nil, errors.New("no pmtu")
}

type fakeResolver struct{}

func (fakeResolver) PodNetns(context.Context, *corev1.Pod) (string, error) {
	return "/run/netns/x", nil
}

func TestDiagnoseRunsChecksConcurrentlyAndSurvivesBadOnes(t *testing.T) {
	pod := corev1.Pod{}
	pod.Namespace, pod.Name, pod.Spec.NodeName, pod.Status.PodIP = "default", "c", "n1", "10.2.0.3"
	tgt := corev1.Pod{}
	tgt.Namespace, tgt.Name, tgt.Spec.NodeName, tgt.Status.PodIP = "default", "t", "n1", "10.2.0.4"
	c := &kube.Cluster{Pods: []corev1.Pod{pod, tgt}}
	slow := check.Func("slow", func(ctx context.Context, _ *check.Env) ([]diag.Finding, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	panicky := check.Func("panicky", func(context.Context, *check.Env) ([]diag.Finding, error) { panic("boom") })
	finder := check.Func("finder", func(_ context.Context, env *check.Env) ([]diag.Finding, error) {
		if env.Symptom != diag.KindPortUnreachable {
			t.Errorf("checks see symptom %s, want port-unreachable", env.Symptom)
		}
		return []diag.Finding{{Kind: diag.KindPortUnreachable, Severity: diag.SeverityCritical, Title: "nothing listens", Hop: diag.Hop{Node: "n1"}}}, nil
	})
	start := time.Now()
	rep, err := Diagnose(context.Background(), Config{Cluster: c, Prober: fakeProber{}, Resolver: fakeResolver{},
		Checks: []check.Check{slow, panicky, finder}, CheckTimeout: 200 * time.Millisecond},
		Request{From: "pod/default/c", To: "pod/default/t:8080"})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v: a check past its deadline held the diagnosis", d)
	}
	if rep.Verdict.Kind != diag.KindPortUnreachable || len(rep.Findings) != 1 || rep.Findings[0].Check != "finder" {
		t.Errorf("verdict %+v findings %+v", rep.Verdict, rep.Findings)
	}
	notes := strings.Join(rep.Notes, "\n")
	if !strings.Contains(notes, "check slow could not run") || !strings.Contains(notes, "check panicky could not run: internal error: boom") {
		t.Errorf("notes %q: want the slow and the panicking check reported", notes)
	}
	if rep.SchemaVersion != diag.SchemaVersion || len(rep.Probes) != 2 {
		t.Errorf("schema %d probes %+v", rep.SchemaVersion, rep.Probes)
	}
}

func TestDiagnoseBadRequests(t *testing.T) {
	c := &kube.Cluster{Source: "dump.yaml"}
	for _, r := range []Request{
		{From: "pod/default/ghost", To: "10.0.0.1:80"},
		{From: "host", To: "svc/default/missing:80"},
		{From: "host", To: "10.0.0.1", Proto: "sctp"},
		{From: "host", To: "10.0.0.1", Proto: "tcp"},
		{From: "bogus", To: "10.0.0.1"},
	} {
		_, err := Diagnose(context.Background(), Config{Cluster: c, Resolver: fakeResolver{}}, r)
		if !errors.Is(err, ErrBadRequest) {
			t.Errorf("%+v: err %v, want ErrBadRequest", r, err)
		}
	}
}

func TestPlan(t *testing.T) {
	names := []string{"kube-proxy", "service-endpoints", "pod-route", "vxlan-source", "mtu", "dns", "listener", "firewall", "sysctls", "ipam", "masquerade"}
	var all []check.Check
	for _, n := range names {
		all = append(all, check.Func(n, nil))
	}
	plan := func(k diag.Kind) string {
		var out []string
		for _, c := range Plan(k, all) {
			out = append(out, c.Name())
		}
		return strings.Join(out, " ")
	}
	cases := map[diag.Kind]string{
		diag.KindHealthy:            "kube-proxy service-endpoints vxlan-source mtu sysctls ipam masquerade",
		diag.KindDNSFailure:         "kube-proxy service-endpoints pod-route vxlan-source dns firewall sysctls ipam masquerade",
		diag.KindLargePacketLoss:    "kube-proxy service-endpoints pod-route vxlan-source mtu firewall sysctls",
		diag.KindNetworkUnreachable: strings.Join(names, " "),
		diag.KindPortUnreachable:    strings.Join(names, " "),
	}
	for k, want := range cases {
		if got := plan(k); got != want {
			t.Errorf("Plan(%s) = %s\nwant %s", k, got, want)
		}
	}
}
