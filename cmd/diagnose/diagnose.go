// Package diagnose is `netdoctor diagnose`: the seed workflow, automatic — symptom probes, the five
// kinds, the path checks — ending in a verdict, the failing hop, the cause and the fix.
package diagnose

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"

	"github.com/netdoctor/netdoctor/internal/agent"
	"github.com/netdoctor/netdoctor/internal/bundle"
	"github.com/netdoctor/netdoctor/internal/check/registry"
	"github.com/netdoctor/netdoctor/internal/cli"
	"github.com/netdoctor/netdoctor/internal/diag"
	"github.com/netdoctor/netdoctor/internal/engine"
	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/kube/live"
	"github.com/netdoctor/netdoctor/internal/lab"
	"github.com/netdoctor/netdoctor/internal/local"
	"github.com/netdoctor/netdoctor/internal/report"
)

// DefaultTimeout bounds a whole diagnosis.
const DefaultTimeout = 30 * time.Second

// Options are the flags of diagnose.
type Options struct {
	From, To    string
	Proto       string
	Size        int
	Output      string
	ClusterDump string
	Lab         string
	Namespace   string
	Timeout     time.Duration
	Bundle      string
	DropTracer  bool

	format cli.Format
	// live-cluster hook (issue 8): kubectl connection flags; the live API is the cluster view in
	// kubectl-plugin mode or when a kubeconfig is named, unless --cluster-dump/--lab is given.
	kube        *live.Flags
	plugin      bool
	liveNotes   []string
	agents      map[string]string
	agentCA     string
	agentVia    string
	agentsOnly  bool
	eph         *ephemeralFlags
	restCfg     *rest.Config
	liveTime    time.Duration
	agentClient *agent.Client
}

// NewCommand returns the `diagnose` command.
func NewCommand(s *cli.Streams) *cobra.Command {
	o := &Options{}
	c := &cobra.Command{
		Use:   "diagnose --from SRC --to DST [--proto tcp|udp|icmp|dns] [--size BYTES] [-o text|json|html]",
		Short: "Find out why SRC cannot talk to DST: verdict, failing hop, cause and fix",
		Long: `Runs the pod-network troubleshooting workflow automatically: probes from the client's own network
namespace, classifies the symptom (network-unreachable, port-unreachable, dns-failure,
large-packet-loss, cni-kube-proxy), checks kube-proxy and the service's NAT rules, routes and the
VXLAN tunnel, MTUs, DNS, sysctls and IPAM on the nodes of the path, and names the failing hop,
the root cause and the fix. It changes nothing (read-only).

SRC: pod/NS/NAME, node/NAME, pid/PID, netns/NAME-or-PATH, or host.
DST: IP, IP:PORT, NAME[:PORT], svc/NS/NAME[:PORT], pod/NS/NAME[:PORT].
The cluster view comes from --cluster-dump (kubectl get -A -o yaml output, or 'netdoctor lab dump'),
or from the running lab (--lab, default "ndlab").

Exit status: 0 healthy, 1 a problem was found, 2 could not diagnose.`,
		Example: `  netdoctor diagnose --from pod/default/client --to svc/default/web:80
  netdoctor diagnose --from pod/default/client --to kubernetes.default --proto dns -o json
  netdoctor diagnose --from netns/vm --to 192.168.56.11:30080 --cluster-dump cluster.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// live-cluster hook (issue 8): plugin mode and the kubeconfig's namespace.
			o.plugin = cmd.Root().Annotations[cobra.CommandDisplayNameAnnotation] == "kubectl netdoctor"
			if o.useLive() && !cmd.Flags().Changed("namespace") {
				ns, err := o.kube.Namespace()
				if err != nil {
					return cli.Failf("%v", err)
				}
				o.Namespace = ns
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context(), s)
		},
	}
	f := c.Flags()
	f.StringVar(&o.From, "from", "", "the client: pod/NS/NAME, node/NAME, pid/PID, netns/NAME-or-PATH or host")
	f.StringVar(&o.To, "to", "", "the target: IP[:PORT], NAME[:PORT], svc/NS/NAME[:PORT] or pod/NS/NAME[:PORT]")
	f.StringVar(&o.Proto, "proto", "", "tcp, udp, icmp or dns (default: tcp with a port, dns for a name, icmp otherwise)")
	f.IntVar(&o.Size, "size", 0, "bytes for the large-packet test (default: 64 KiB over TCP, 1500-byte DF pings over ICMP)")
	f.StringVarP(&o.Output, "output", "o", "text", "output format: text, json or html")
	f.StringVar(&o.ClusterDump, "cluster-dump", "", "cluster view from this dump file (kubectl get -A -o yaml|json)")
	f.StringVar(&o.Lab, "lab", "", "diagnose this netdoctor lab (default: the running lab \"ndlab\" when no dump is given)")
	f.StringVarP(&o.Namespace, "namespace", "n", "default", "Kubernetes namespace for pod/NAME and svc/NAME")
	f.DurationVar(&o.Timeout, "timeout", DefaultTimeout, "give up after this long and report what was measured")
	f.BoolVar(&o.DropTracer, "drop-tracer", true, "attach the eBPF kernel drop tracer while re-sending the failing probe (false: rule counters and captures only)")
	f.StringVar(&o.Bundle, "bundle", "", "also write an evidence bundle (report, node views, cluster objects; no secrets) to this new .tar.gz file, mode 0600")
	o.addLiveFlags(c, f) // live-cluster hook (issue 8)
	return c
}

// Validate checks the flags.
func (o *Options) Validate() error {
	var err error
	if o.format, err = cli.ParseFormat("diagnose", o.Output, cli.FormatText, cli.FormatJSON, cli.FormatHTML); err != nil {
		return err
	}
	if o.From == "" {
		return cli.Usagef("diagnose", "--from is required: pod/NS/NAME, node/NAME, pid/PID, netns/NAME or host")
	}
	if o.To == "" {
		return cli.Usagef("diagnose", "--to is required: IP[:PORT], NAME[:PORT], svc/NS/NAME[:PORT] or pod/NS/NAME[:PORT]")
	}
	if o.Size < 0 || o.Size > 16<<20 {
		return cli.Usagef("diagnose", "--size %d out of range 0-16777216", o.Size)
	}
	if o.Timeout <= 0 {
		return cli.Usagef("diagnose", "--timeout must be positive")
	}
	if o.Bundle != "" {
		if _, err := os.Lstat(o.Bundle); err == nil {
			return cli.Usagef("diagnose", "--bundle %q exists: give a new file name", o.Bundle)
		}
	}
	if o.ClusterDump != "" && o.Lab != "" {
		return cli.Usagef("diagnose", "--cluster-dump and --lab name two cluster views: give one")
	}
	return nil
}

// clusterView loads the cluster view the flags name.
func (o *Options) clusterView(ctx context.Context) (*kube.Cluster, error) {
	if o.ClusterDump != "" {
		c, err := kube.LoadDump(o.ClusterDump)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, cli.Failf("cluster dump %q does not exist", o.ClusterDump)
			}
			return nil, cli.Failf("%v", err)
		}
		return c, nil
	}
	if o.useLive() { // live-cluster hook (issue 8)
		return o.liveView(ctx)
	}
	st, err := lab.Current(o.Lab)
	if err != nil {
		if errors.Is(err, lab.ErrNoLab) {
			return nil, cli.Failf("no cluster view: give --cluster-dump FILE, or start a lab with 'netdoctor lab up'")
		}
		return nil, cli.Failf("%v", err)
	}
	c, err := kube.LoadDump(lab.DumpPath(st.Name))
	if err != nil {
		return nil, cli.Failf("lab %s: %v", st.Name, err)
	}
	return c, nil
}

// Run diagnoses and writes the report.
func (o *Options) Run(ctx context.Context, s *cli.Streams) error {
	c, err := o.clusterView(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := cli.Deadline(ctx, o.Timeout)
	defer cancel()
	acc := local.New(c)
	acc.NoDropTracer = !o.DropTracer
	if o.Bundle != "" {
		// Captures made during the diagnosis go into the bundle; the directory is removed after.
		dir, err := os.MkdirTemp("", "netdoctor-captures-")
		if err != nil {
			return cli.Failf("diagnose: %v", err)
		}
		defer os.RemoveAll(dir)
		unregister := cli.OnAbort(func() { os.RemoveAll(dir) })
		defer unregister()
		acc.CaptureDir = dir
	}
	cfg := engine.Config{
		Cluster:  c,
		Views:    acc,
		Prober:   acc,
		Resolver: acc,
		Checks:   registry.All(),
		Localise: acc.Localise,
		Progress: func(step string) { s.Progressf("netdoctor: %s…", step) },
	}
	defer o.useAgents(&cfg, acc, s)() // live-cluster hook (issue 8): nodes not on this machine via their agents
	rep, err := engine.Diagnose(ctx, cfg, engine.Request{From: o.From, To: o.To, Proto: o.Proto, Size: o.Size, Namespace: o.Namespace})
	if err != nil {
		if errors.Is(err, engine.ErrBadRequest) {
			return cli.Usagef("diagnose", "%s", trimBad(err))
		}
		return cli.Failf("diagnose: %v", err)
	}
	o.addLive(rep) // live-cluster hook (issue 8): notes and the API fetch time
	if why := cli.Stopped(ctx); why != nil {
		rep.Notes = append(rep.Notes, fmt.Sprintf("diagnosis %v after %s: the report holds what was measured so far", why, o.Timeout))
	}
	if err := report.Write(s.Out, rep, string(o.format)); err != nil {
		return cli.Failf("write report: %v", err)
	}
	if o.Bundle != "" {
		files := map[string]string{}
		if ents, err := os.ReadDir(acc.CaptureDir); err == nil {
			for _, e := range ents {
				files["captures/"+e.Name()] = filepath.Join(acc.CaptureDir, e.Name())
			}
		}
		if err := bundle.Write(o.Bundle, bundle.Contents{Report: rep, Snapshots: acc.Snapshots(), Cluster: c, Namespaces: o.namespaces(), Files: files}); err != nil {
			return cli.Failf("%v", err)
		}
		s.Progressf("netdoctor: evidence bundle written to %s", o.Bundle)
	}
	if rep.Verdict.Kind != diag.KindHealthy {
		return cli.ErrProblemFound
	}
	return nil
}

// namespaces are the Kubernetes namespaces a bundle includes objects of: the client's, the target's
// and kube-system (kube-proxy, DNS, the CNI).
func (o *Options) namespaces() []string {
	out := []string{"kube-system"}
	if f, err := engine.ParseFrom(o.From, o.Namespace); err == nil && f.Namespace != "" {
		out = append(out, f.Namespace)
	}
	if t, err := engine.ParseTo(o.To, o.Namespace); err == nil && t.Namespace != "" {
		out = append(out, t.Namespace)
	}
	return append(out, o.Namespace)
}

func trimBad(err error) string {
	msg := err.Error()
	prefix := engine.ErrBadRequest.Error() + ": "
	if len(msg) > len(prefix) && msg[:len(prefix)] == prefix {
		return msg[len(prefix):]
	}
	return msg
}
