package agent

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"

	"github.com/netdoctor/netdoctor/internal/cli"
)

// TestStandaloneTakesTheAgentsArguments: the agent-only binary parses exactly the flags of
// `netdoctor agent` (same names, shorthands, types and defaults) plus netdoctor's global -q/-v,
// and the DaemonSet's args as they are.
func TestStandaloneTakesTheAgentsArguments(t *testing.T) {
	s := &cli.Streams{Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}
	full := NewCommand(s).Flags()
	alone, _ := standaloneFlags(s, &options{})
	full.VisitAll(func(f *pflag.Flag) {
		g := alone.Lookup(f.Name)
		if g == nil || g.Shorthand != f.Shorthand || g.Value.Type() != f.Value.Type() || g.DefValue != f.DefValue {
			t.Errorf("flag --%s of `netdoctor agent` (-%s %s, default %q): netdoctor-agent has %+v", f.Name, f.Shorthand, f.Value.Type(), f.DefValue, g)
		}
	})
	for _, name := range []string{"quiet", "verbose", "help"} {
		if alone.Lookup(name) == nil {
			t.Errorf("netdoctor-agent lacks --%s", name)
		}
	}

	b, err := os.ReadFile("../../deploy/agent/daemonset.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var ds appsv1.DaemonSet
	if err := yaml.UnmarshalStrict(b, &ds); err != nil {
		t.Fatal(err)
	}
	args := ds.Spec.Template.Spec.Containers[0].Args
	o, _, help, err := parseStandalone(s, args)
	if err != nil || help || o.listen != ":7441" || o.root != "/host" || o.tlsCert != "/tls/tls.crt" || o.tlsKey != "/tls/tls.key" {
		t.Errorf("the DaemonSet's args %q: %+v, help %v, %v", args, o, help, err)
	}
	if o, _, _, err := parseStandalone(s, args[1:]); err != nil || o.listen != ":7441" {
		t.Errorf("without the leading \"agent\": %+v, %v", o, err)
	}
}

// TestStandaloneUsage: --help prints the usage (exit 0); an unknown flag or an argument is a usage
// error (exit 2) in one line.
func TestStandaloneUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	s := &cli.Streams{Out: &out, ErrOut: &errOut}
	if err := Standalone(context.Background(), s, []string{"agent", "--help"}); err != nil || !strings.Contains(out.String(), "Usage:\n  netdoctor-agent agent [--listen ADDR]") || !strings.Contains(out.String(), "--kubeconfig string") {
		t.Errorf("--help: %v\n%s", err, out.String())
	}
	for _, args := range [][]string{{"agent", "--no-such-flag"}, {"agent", "extra"}, {"--max-calls", "x"}} {
		err := Standalone(context.Background(), s, args)
		if cli.Code(err) != 2 || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: exit %d, %v", args, cli.Code(err), err)
		}
	}
	if err := Standalone(context.Background(), s, []string{"agent", "--node-name", ""}); cli.Code(err) != 2 || !strings.Contains(err.Error(), "--node-name is required") {
		t.Errorf("no node name: %v", err)
	}
}
