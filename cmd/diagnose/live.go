package diagnose

// live-cluster hook (issue 8): the live API server as the cluster view, and the node agents for
// the nodes whose namespaces are not on this machine.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/netdoctor/netdoctor/internal/agent"
	"github.com/netdoctor/netdoctor/internal/cli"
	"github.com/netdoctor/netdoctor/internal/diag"
	"github.com/netdoctor/netdoctor/internal/engine"
	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/kube/live"
	"github.com/netdoctor/netdoctor/internal/local"
)

// addLiveFlags adds kubectl's connection flags, --agent and --ephemeral…, and completes --from
// and --to from the live API.
func (o *Options) addLiveFlags(c *cobra.Command, f *pflag.FlagSet) {
	o.kube = live.AddFlags(f)
	for _, name := range []string{"from", "to"} {
		target := name == "to"
		_ = c.RegisterFlagCompletionFunc(name, func(cmd *cobra.Command, _ []string, prefix string) ([]string, cobra.ShellCompDirective) {
			ns := ""
			if cmd.Flags().Changed("namespace") {
				ns = o.Namespace
			}
			return o.kube.Complete(cmd.Context(), ns, target, prefix), cobra.ShellCompDirectiveNoFileComp
		})
	}
	f.StringToStringVar(&o.agents, "agent", nil, "reach NODE's agent at URL (NODE=URL, repeatable); default: the netdoctor-agent pod on the node")
	f.StringVar(&o.agentCA, "agent-ca", "", "CA certificate (PEM) that signed the agents' serving certificates")
	o.agentVia = agent.ViaAuto
	f.BoolVar(&o.agentsOnly, "agents-only", false, "read nodes and probe only through the node agents, even where a namespace is on this machine (a lab, or a node you are logged into)")
	f.Var((*viaFlag)(&o.agentVia), "agent-via", "how to reach the agent pods: auto (their IP, else the API server's pod proxy), proxy (always the API server's pod proxy) or direct (their IP only)")
	o.eph = &ephemeralFlags{}
	f.BoolVar(&o.eph.on, "ephemeral", false, "no agent DaemonSet: run the agent as short-lived pods on the nodes the diagnosis needs, deleted afterwards")
	f.StringVar(&o.eph.namespace, "ephemeral-namespace", "netdoctor", "namespace of the ephemeral agent pods")
	f.StringVar(&o.eph.image, "ephemeral-image", "netdoctor/netdoctor:v0.1.0", "image of the ephemeral agent pods")
	f.IntVar(&o.eph.port, "ephemeral-port", agent.DefaultPort+1, "port the ephemeral agents listen on (host network)")
	f.StringVar(&o.eph.tlsSecret, "ephemeral-tls-secret", "netdoctor-agent-tls", "secret with the agents' tls.crt/tls.key (\"\": plain HTTP)")
	f.StringVar(&o.eph.serviceAccount, "ephemeral-service-account", "netdoctor-agent", "service account of the ephemeral agent pods")
}

// viaFlag is --agent-via: auto, proxy or direct.
type viaFlag string

func (v *viaFlag) String() string { return string(*v) }
func (v *viaFlag) Type() string   { return "auto|proxy|direct" }
func (v *viaFlag) Set(s string) error {
	switch s {
	case agent.ViaAuto, agent.ViaProxy, agent.ViaDirect:
		*v = viaFlag(s)
		return nil
	}
	return fmt.Errorf("want auto, proxy or direct, not %q", s)
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
	start := time.Now()
	defer func() { o.liveTime = time.Since(start) }()
	c, err := live.FromAPI(ctx, rc, live.Options{Timeout: o.Timeout, Warnf: func(f string, a ...any) { warns = append(warns, fmt.Sprintf(f, a...)) }})
	if err != nil {
		return nil, cli.Failf("%v", err)
	}
	o.liveNotes = warns
	return c, nil
}

// useAgents routes node and pod access that is not on this machine to the node agents, with the
// caller's own bearer token, when the cluster view is live. It returns the clean-up to defer.
func (o *Options) useAgents(cfg *engine.Config, acc *local.Access, s *cli.Streams) func() {
	if o.restCfg == nil && len(o.agents) == 0 {
		return func() {}
	}
	token, noToken := "", ""
	if o.restCfg != nil {
		t, err := live.BearerToken(o.restCfg)
		if err != nil {
			noToken = fmt.Sprintf("%v: use a kubeconfig user with a token (an exec plugin or a ServiceAccount token) to reach the node agents", err)
		}
		token = t
	}
	opts := agent.ClientOptions{Token: token, NoToken: noToken, Agents: o.agents, Via: o.agentVia, APIServer: o.restCfg}
	if o.agentCA != "" {
		tc, err := agent.TLSFromCA(o.agentCA)
		if err != nil {
			o.liveNotes = append(o.liveNotes, err.Error())
		}
		opts.TLS = tc
	}
	var cleanup func()
	if o.eph.on && o.restCfg != nil {
		opts.Launcher, cleanup = o.ephemeral(s)
	}
	cl := agent.NewClient(cfg.Cluster, opts)
	o.agentClient = cl
	fb := &agent.Fallback{Local: acc, Remote: cl}
	cfg.Views, cfg.Prober, cfg.Resolver = fb, fb, fb
	if o.agentsOnly {
		cfg.Views, cfg.Prober, cfg.Resolver = cl, cl, cl
	}
	return func() {
		cl.Close()
		if cleanup != nil {
			cleanup()
		}
	}
}

// ephemeralFlags configure --ephemeral.
type ephemeralFlags struct {
	on                                          bool
	namespace, image, tlsSecret, serviceAccount string
	port                                        int
}

// ephemeral prepares on-demand agent pods: it first removes expired leftovers of killed runs, and
// returns the launcher and the clean-up that deletes this run's pods (also on a second Ctrl-C).
func (o *Options) ephemeral(s *cli.Streams) (agent.Launcher, func()) {
	core, err := corev1client.NewForConfig(o.restCfg)
	if err != nil {
		o.liveNotes = append(o.liveNotes, fmt.Sprintf("--ephemeral: %v", err))
		return nil, nil
	}
	e := &agent.Ephemeral{Pods: core.Pods(o.eph.namespace), Namespace: o.eph.namespace, Image: o.eph.image, Port: o.eph.port,
		TLSSecret: o.eph.tlsSecret, ServiceAccount: o.eph.serviceAccount, Lifetime: o.Timeout + 2*time.Minute, StartTimeout: min(o.Timeout, time.Minute)}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	gone, err := e.RemoveLeftovers(ctx)
	cancel()
	if err != nil {
		o.liveNotes = append(o.liveNotes, fmt.Sprintf("--ephemeral: %v", err))
	} else if len(gone) > 0 {
		o.liveNotes = append(o.liveNotes, fmt.Sprintf("--ephemeral: removed %d agent pod(s) left by an interrupted run: %s", len(gone), strings.Join(gone, ", ")))
	}
	clean := func(d time.Duration) {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		if _, err := e.Cleanup(ctx); err != nil {
			fmt.Fprintf(s.ErrOut, "netdoctor: %v (the pods end by themselves within %s; the next --ephemeral run removes them)\n", err, e.Lifetime)
		}
	}
	unregister := cli.OnAbort(func() { clean(5 * time.Second) })
	return e, func() { unregister(); clean(15 * time.Second) }
}

// addLive adds the live view's notes, the time its fetch took, and a warning finding per node
// whose agent could not be used (its checks are missing from the report).
func (o *Options) addLive(rep *diag.Report) {
	rep.Notes = append(rep.Notes, o.liveNotes...)
	if o.agentClient != nil {
		for _, f := range o.agentClient.Failures() {
			fd := diag.Finding{Check: "node-agent", Kind: rep.Verdict.Kind, Severity: diag.SeverityWarning,
				Hop:      diag.Hop{Node: f.Node, Where: "netdoctor agent"},
				Title:    "node " + f.Node + " could not be inspected: its netdoctor agent " + agentProblem(f.Err),
				Evidence: []string{f.Err.Error()},
				Cause:    "the checks that read node " + f.Node + "'s network state or probe from it could not run, so this report may miss the cause there",
				Fix:      agentFix(f.Err)}
			rep.Findings = append(rep.Findings, fd)
		}
	}
	if o.liveTime > 0 {
		rep.Timings = append([]diag.Timing{{Step: "cluster view from the API server", Ms: float64(o.liveTime.Microseconds()) / 1000}}, rep.Timings...)
	}
}

func agentProblem(err error) string {
	switch {
	case errors.Is(err, agent.ErrNoAgent):
		return "is not running"
	case errors.Is(err, agent.ErrUnreachable):
		return "did not answer"
	case errors.Is(err, agent.ErrUnauthenticated):
		return "did not accept the credentials"
	case errors.Is(err, agent.ErrForbidden):
		return "refused this user"
	}
	return "failed"
}

func agentFix(err error) string {
	switch {
	case errors.Is(err, agent.ErrNoAgent):
		return "install the agent DaemonSet (kubectl apply -k deploy/, or the Helm chart), or run with --ephemeral"
	case errors.Is(err, agent.ErrUnreachable):
		return "check the agent pod on that node (kubectl -n netdoctor get pods -l app.kubernetes.io/name=netdoctor-agent -o wide) and that port 7441 is reachable from here"
	case errors.Is(err, agent.ErrUnauthenticated):
		return "use a kubeconfig user that authenticates with a bearer token (an exec plugin or a ServiceAccount token)"
	case errors.Is(err, agent.ErrForbidden):
		return "bind the ClusterRole netdoctor-diagnose (deploy/rbac/diagnose-clusterrole.yaml) and, to reach the agents through the API server, the Role netdoctor-agent-proxy (deploy/rbac/agent-proxy-role.yaml) to this user"
	}
	return "see the evidence"
}
