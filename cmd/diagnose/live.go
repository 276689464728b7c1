package diagnose

// live-cluster hook (issue 8): the live API server as the cluster view, and the node agents for
// the nodes whose namespaces are not on this machine.

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/netdoctor/netdoctor/internal/agent"
	"github.com/netdoctor/netdoctor/internal/cli"
	"github.com/netdoctor/netdoctor/internal/engine"
	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/kube/live"
	"github.com/netdoctor/netdoctor/internal/local"
)

// addLiveFlags adds kubectl's connection flags and --agent.
func (o *Options) addLiveFlags(f *pflag.FlagSet) {
	o.kube = live.AddFlags(f)
	f.StringToStringVar(&o.agents, "agent", nil, "reach NODE's agent at URL (NODE=URL, repeatable); default: the netdoctor-agent pod on the node")
	f.StringVar(&o.agentCA, "agent-ca", "", "CA certificate (PEM) that signed the agents' serving certificates")
}

// useLive: no dump or lab named, and kubectl-plugin mode or a kubeconfig given.
func (o *Options) useLive() bool {
	return o.ClusterDump == "" && o.Lab == "" && (o.plugin || o.kube.Given())
}

// liveView lists the cluster view from the API server, bounded by the diagnosis timeout.
func (o *Options) liveView(ctx context.Context) (*kube.Cluster, error) {
	rc, err := o.kube.RESTConfig()
	if err != nil {
		return nil, cli.Failf("%v", err)
	}
	o.restCfg = rc
	var warns []string
	c, err := live.FromAPI(ctx, rc, live.Options{Timeout: o.Timeout, Warnf: func(f string, a ...any) { warns = append(warns, fmt.Sprintf(f, a...)) }})
	if err != nil {
		return nil, cli.Failf("%v", err)
	}
	o.liveNotes = warns
	return c, nil
}

// useAgents routes node and pod access that is not on this machine to the node agents, with the
// caller's own bearer token, when the cluster view is live. It returns the clean-up to defer.
func (o *Options) useAgents(cfg *engine.Config, acc *local.Access) func() {
	if o.restCfg == nil && len(o.agents) == 0 {
		return func() {}
	}
	token := ""
	if o.restCfg != nil {
		token = o.restCfg.BearerToken
	}
	if token == "" && o.restCfg != nil && o.restCfg.BearerTokenFile != "" {
		if b, err := os.ReadFile(o.restCfg.BearerTokenFile); err == nil {
			token = strings.TrimSpace(string(b))
		}
	}
	opts := agent.ClientOptions{Token: token, Agents: o.agents}
	if o.agentCA != "" {
		tc, err := agent.TLSFromCA(o.agentCA)
		if err != nil {
			o.liveNotes = append(o.liveNotes, err.Error())
		}
		opts.TLS = tc
	}
	cl := agent.NewClient(cfg.Cluster, opts)
	fb := &agent.Fallback{Local: acc, Remote: cl}
	cfg.Views, cfg.Prober, cfg.Resolver = fb, fb, fb
	return cl.Close
}
