// Package arch enforces the dependency rules of docs/architecture.md and the house style that can
// be checked mechanically: imports point one way (cmd → engine → checks → probes), the shared
// vocabulary depends on nothing, only the lab mutates networking, every package is documented,
// file names have no hyphens.
package arch

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const module = "github.com/netdoctor/netdoctor/"

type pkg struct {
	ImportPath string
	Dir        string
	Imports    []string
	Deps       []string
	GoFiles    []string
	Doc        string
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", "./...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var pkgs []pkg
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func rel(p string) string { return strings.TrimPrefix(p, module) }

func internalImports(p pkg) []string {
	var out []string
	for _, i := range p.Imports {
		if strings.HasPrefix(i, module) {
			out = append(out, rel(i))
		}
	}
	return out
}

func under(p, prefix string) bool { return p == prefix || strings.HasPrefix(p, prefix+"/") }

// TestDependencyRules: the rules of docs/architecture.md, one table row each.
func TestDependencyRules(t *testing.T) {
	rules := []struct {
		name    string
		applies func(pkg string) bool
		forbid  func(imp string) bool
	}{
		{"diag imports nothing internal", func(p string) bool { return p == "internal/diag" },
			func(string) bool { return true }},
		{"report imports only diag", func(p string) bool { return p == "internal/report" },
			func(i string) bool { return i != "internal/diag" }},
		{"probes, netns and nodestate never import checks, engine, report, kube or cmd",
			func(p string) bool {
				return under(p, "internal/probe") || p == "internal/netns" || p == "internal/nodestate" || under(p, "internal/capture")
			},
			func(i string) bool {
				return under(i, "internal/check") || i == "internal/engine" || i == "internal/report" || under(i, "internal/kube") || under(i, "cmd")
			}},
		{"a check never imports another check", func(p string) bool {
			return strings.HasPrefix(p, "internal/check/") && p != "internal/check/registry"
		}, func(i string) bool { return strings.HasPrefix(i, "internal/check/") }},
		{"checks see the world only through check.Env: no probes, capture, netns or engine",
			func(p string) bool { return under(p, "internal/check") && p != "internal/check/registry" },
			func(i string) bool {
				return under(i, "internal/probe") || under(i, "internal/capture") || i == "internal/netns" || i == "internal/engine" || i == "internal/local" || under(i, "cmd")
			}},
		{"the engine does not know how nodes are reached", func(p string) bool { return p == "internal/engine" },
			func(i string) bool {
				return under(i, "internal/probe") || under(i, "internal/capture") || i == "internal/local" || under(i, "cmd") || under(i, "internal/lab")
			}},
		{"nothing internal imports a command", func(p string) bool { return strings.HasPrefix(p, "internal/") },
			func(i string) bool { return under(i, "cmd") }},
	}
	for _, p := range listPackages(t) {
		name := rel(p.ImportPath)
		for _, r := range rules {
			if !r.applies(name) {
				continue
			}
			for _, i := range internalImports(p) {
				if r.forbid(i) {
					t.Errorf("%s: %s imports %s", r.name, name, i)
				}
			}
		}
		// No client-go below the cluster view.
		if under(name, "internal/probe") || name == "internal/netns" || name == "internal/nodestate" || name == "internal/diag" {
			for _, d := range p.Deps {
				if strings.HasPrefix(d, "k8s.io/client-go") {
					t.Errorf("%s depends on client-go (through %s)", name, d)
				}
			}
		}
	}
}

// mutating are calls that change networking; only the lab (and the test harness) may make them.
var mutating = regexp.MustCompile(`\.(LinkAdd|LinkDel|LinkSetUp|LinkSetDown|LinkSetMTU|LinkSetMaster|LinkSetNsFd|AddrAdd|AddrDel|AddrReplace|RouteAdd|RouteDel|RouteReplace|NeighAdd|NeighSet|NeighDel|RuleAdd|RuleDel)\(|"iptables-restore"|"ip6tables-restore"|"(ip|iptables|nft)", "(-A|-I|-D|add|del|flush|-f)"`)

// TestOnlyLabMutates: outside internal/lab and internal/testenv, no non-test file calls a mutating
// netlink function or runs a ruleset-writing command.
func TestOnlyLabMutates(t *testing.T) {
	for _, p := range listPackages(t) {
		name := rel(p.ImportPath)
		if under(name, "internal/lab") || name == "internal/testenv" || under(name, "bench") {
			continue
		}
		for _, f := range p.GoFiles {
			b, err := os.ReadFile(filepath.Join(p.Dir, f))
			if err != nil {
				t.Fatal(err)
			}
			for i, line := range strings.Split(string(b), "\n") {
				if strings.HasPrefix(strings.TrimSpace(line), "//") {
					continue
				}
				if m := mutating.FindString(line); m != "" {
					t.Errorf("%s/%s:%d mutates networking (%s): only internal/lab may", name, f, i+1, m)
				}
			}
		}
	}
}

// TestPackagesDocumented: every package has a package doc comment.
func TestPackagesDocumented(t *testing.T) {
	for _, p := range listPackages(t) {
		if len(p.GoFiles) > 0 && strings.TrimSpace(p.Doc) == "" {
			t.Errorf("package %s has no package doc comment", rel(p.ImportPath))
		}
	}
}

// TestFileNames: snake_case Go file names, no hyphens (as CoreDNS's presubmit checks).
func TestFileNames(t *testing.T) {
	err := filepath.Walk("../..", func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if info.IsDir() && (info.Name() == ".git" || info.Name() == "testdata") {
			return filepath.SkipDir
		}
		if strings.HasSuffix(path, ".go") && strings.Contains(filepath.Base(path), "-") {
			t.Errorf("%s: Go file names use underscores, not hyphens", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
