package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/netdoctor/netdoctor/internal/diag"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

var fixtures = []struct {
	name string
	r    func() *diag.Report
}{
	{"healthy", healthyReport},
	{"vxlan_source", vxlanReport},
	{"notes", notesReport},
}

var exts = map[string]string{"text": "txt", "json": "json", "html": "html"}

func TestGolden(t *testing.T) {
	for _, fx := range fixtures {
		for _, format := range Formats {
			t.Run(fx.name+"/"+format, func(t *testing.T) {
				var b bytes.Buffer
				if err := Write(&b, fx.r(), format); err != nil {
					t.Fatal(err)
				}
				path := filepath.Join("testdata", fx.name+"."+exts[format])
				if *update {
					if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run go test ./internal/report -update to create it)", err)
				}
				if got := b.String(); got != string(want) {
					t.Errorf("%s differs from %s (go test -update rewrites it):\n--- got\n%s", format, path, got)
				}
			})
		}
	}
}

// TestTextOrder checks the order an SRE reads: verdict, failing hop, cause and fix, evidence, other
// findings, path, probes, timings.
func TestTextOrder(t *testing.T) {
	var b bytes.Buffer
	if err := Text(&b, vxlanReport()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	last := -1
	for _, mark := range []string{"VERDICT: cni-kube-proxy: pods on node3", "FAILING HOP: node3 flannel.1 (VXLAN encapsulation)",
		"CAUSE AND FIX", "1. node3's VTEP uses 192.168.56.77", "fix:   Remove the DHCP address", "EVIDENCE",
		"flannel.1: vxlan id 1 local 192.168.56.77", "OTHER FINDINGS", "- warning  node3 eth0 holds two IPv4",
		"- info     NAT rules", "PATH", "[FAIL] node3 flannel.1 (VXLAN encapsulation)  192.168.56.77  mtu 1450  <== FAILS HERE",
		"PROBES", "TIMINGS", "total"} {
		i := strings.Index(out, mark)
		if i < 0 || i < last {
			t.Fatalf("%q missing or out of order (at %d, previous mark at %d):\n%s", mark, i, last, out)
		}
		last = i
	}
}

// TestDeterministic: the order findings arrive in (concurrent checks) never shows.
func TestDeterministic(t *testing.T) {
	a, b := vxlanReport(), vxlanReport()
	f := b.Findings
	f[0], f[1], f[2] = f[2], f[0], f[1]
	for _, format := range []string{"text", "html"} {
		var x, y bytes.Buffer
		if err := Write(&x, a, format); err != nil {
			t.Fatal(err)
		}
		if err := Write(&y, b, format); err != nil {
			t.Fatal(err)
		}
		if x.String() != y.String() {
			t.Errorf("%s output depends on finding order", format)
		}
	}
}

func TestJSONNeverNullAndRoundTrips(t *testing.T) {
	r := &diag.Report{From: "a", To: "b", Verdict: diag.Verdict{Kind: diag.KindHealthy, Summary: "ok"},
		Findings: []diag.Finding{{Check: "x", Kind: diag.KindHealthy, Severity: diag.SeverityInfo}}}
	var b bytes.Buffer
	if err := JSON(&b, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"schemaVersion": 1`, `"probes": []`, `"path": []`, `"evidence": []`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("JSON lacks %s:\n%s", want, b.String())
		}
	}
	if strings.Contains(b.String(), "null") {
		t.Errorf("JSON has null:\n%s", b.String())
	}
	if r.Probes != nil || r.SchemaVersion != 0 || r.Findings[0].Evidence != nil {
		t.Errorf("JSON modified its input: %+v", r)
	}
	for _, fx := range fixtures {
		b.Reset()
		in := fx.r()
		if err := JSON(&b, in); err != nil {
			t.Fatal(err)
		}
		var back diag.Report
		if err := json.Unmarshal(b.Bytes(), &back); err != nil {
			t.Fatal(err)
		}
		if want := normalised(in); !reflect.DeepEqual(back, want) {
			t.Errorf("%s: JSON does not round-trip:\n got %+v\nwant %+v", fx.name, back, want)
		}
	}
}

func TestHTMLSelfContained(t *testing.T) {
	for _, fx := range fixtures {
		var b bytes.Buffer
		if err := HTML(&b, fx.r()); err != nil {
			t.Fatal(err)
		}
		out := strings.ToLower(b.String())
		if !strings.HasPrefix(out, "<!doctype html>") || !strings.Contains(out, "<style>") {
			t.Errorf("%s: not a self-contained page", fx.name)
		}
		for _, bad := range []string{"<script", "<link", "<img", "<iframe", "<object", "src=", "href=", "url(", "@import", "http://", "https://", "//cdn"} {
			if strings.Contains(out, bad) {
				t.Errorf("%s: HTML contains %q: it must need no external asset and no script", fx.name, bad)
			}
		}
	}
	var b bytes.Buffer
	_ = HTML(&b, vxlanReport())
	if !strings.Contains(b.String(), `<li class="hop failing"><div class="name">node3 flannel.1 (VXLAN encapsulation)</div>`) {
		t.Errorf("failing hop not drawn as failing:\n%s", b.String())
	}
}

const hostile = `</style><script>alert(1)</script><img src=x onerror=alert(1)>"' & {{.}}` + "\n" + `javascript:alert(2)`

func hostileReport() *diag.Report {
	h := hostile
	return &diag.Report{From: h, To: h, Verdict: diag.Verdict{Kind: diag.Kind(h), Summary: h},
		Findings: []diag.Finding{{Check: h, Kind: diag.Kind(h), Severity: diag.Severity(h), Hop: diag.Hop{Node: h, Where: h},
			Title: h, Evidence: []string{h}, Cause: h, Fix: h},
			{Check: h, Severity: diag.SeverityCritical, Hop: diag.Hop{Where: h}, Evidence: []string{h}}},
		Probes:  []diag.ProbeRecord{{Name: h, From: h, To: h, Outcome: h, Summary: h, Error: h}},
		Path:    []diag.PathHop{{Hop: diag.Hop{Where: h, Interface: h}, Address: h, Status: h, Note: h}, {Hop: diag.Hop{Where: h}, Status: "failing"}},
		Timings: []diag.Timing{{Step: h, Ms: 1}}, Notes: []string{h}}
}

func TestHTMLEscapesHostileStrings(t *testing.T) {
	var b bytes.Buffer
	if err := HTML(&b, hostileReport()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, bad := range []string{"<script", "<img", "</style><", `"' &`} {
		if strings.Contains(out, bad) {
			t.Errorf("HTML has unescaped %q", bad)
		}
	}
	if !strings.Contains(out, "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;&#34;&#39; &amp; {{.}}") {
		t.Errorf("hostile string not shown escaped:\n%s", out)
	}
	if strings.Count(strings.ToLower(out), "</style>") != 1 {
		t.Errorf("user data closed the style element")
	}
}

func TestTextKeepsHostileStringsOnOneLine(t *testing.T) {
	var b bytes.Buffer
	if err := Text(&b, hostileReport()); err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(b.String(), "\n") {
		if strings.HasPrefix(l, "javascript:") {
			t.Errorf("a newline in user data started a line: %q", l)
		}
	}
}

func TestWriteErrors(t *testing.T) {
	if err := Write(&bytes.Buffer{}, healthyReport(), "yaml"); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("Write(yaml) = %v, want ErrUnknownFormat", err)
	}
	for _, f := range Formats {
		if err := Write(&bytes.Buffer{}, nil, f); err == nil {
			t.Errorf("Write(nil, %s) succeeded", f)
		}
		if err := Write(failWriter{}, healthyReport(), f); err == nil {
			t.Errorf("Write(%s) to a failing writer succeeded", f)
		}
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }
