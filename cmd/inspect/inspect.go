// Package inspect is the `netdoctor inspect` command: the read-only node view of one network
// namespace (links, addresses, routes, rules, neighbours, FDB, sysctls, iptables / nftables, CNI
// and IPAM state, listening sockets), and the `nat` and `route` walks over it. It is a thin shell
// over internal/nodestate.
package inspect

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/netdoctor/netdoctor/internal/cli"
	"github.com/netdoctor/netdoctor/internal/netns"
	"github.com/netdoctor/netdoctor/internal/nodestate"
)

// defaultTimeout bounds a snapshot: iptables-save of a 40k-rule node takes well under a second.
const defaultTimeout = 30 * time.Second

// common are the flags every inspect command takes.
type common struct {
	vantage cli.Vantage
	root    string
	output  string
	timeout time.Duration
}

func (c *common) addFlags(cmd *cobra.Command, withRoot bool) {
	f := cmd.Flags()
	c.vantage.AddFlags(f)
	if withRoot {
		f.StringVar(&c.root, "root", "/", "directory the node's files are under (etc/cni/net.d, var/lib/cni/networks, run/flannel, var/lib/kubelet)")
	}
	f.StringVarP(&c.output, "output", "o", "text", "output format: text or json")
	f.DurationVar(&c.timeout, "timeout", defaultTimeout, "give up after DUR")
}

// open validates the common flags and opens the namespace; the returned context ends at the
// timeout or when the namespace vanishes.
func (c *common) open(ctx context.Context, name string) (*netns.NS, cli.Format, context.Context, func(), error) {
	format, err := cli.ParseFormat(name, c.output)
	if err != nil {
		return nil, "", nil, nil, err
	}
	if c.timeout <= 0 {
		return nil, "", nil, nil, cli.Usagef(name, "--timeout %v must be positive", c.timeout)
	}
	ns, err := c.vantage.Open(name)
	if err != nil {
		return nil, "", nil, nil, err
	}
	ctx, cancelT := cli.Deadline(ctx, c.timeout)
	ctx, cancel := context.WithCancelCause(ctx)
	go ns.WatchGone(ctx, 250*time.Millisecond, cancel)
	return ns, format, ctx, func() { cancel(nil); cancelT(); ns.Close() }, nil
}

// failure maps an error of the node view to the CLI contract (exit 2 with one line).
func (c *common) failure(ctx context.Context, err error) error {
	if cause := cli.Stopped(ctx); cause != nil {
		switch cause {
		case cli.ErrTimeout:
			return cli.Failf("inspect timed out after %v: raise --timeout", c.timeout)
		case cli.ErrInterrupted:
			return cli.Failf("inspect interrupted")
		}
		return cli.VantageError(c.vantage.Spec(), cause)
	}
	return cli.Failf("%v", err)
}

// NewCommand returns the `inspect` command with its `nat` and `route` subcommands.
func NewCommand(s *cli.Streams) *cobra.Command {
	o := &common{}
	c := &cobra.Command{
		Use:   "inspect [--netns X|--pid P] [--root DIR] [-o text|json]",
		Short: "Show a node's or pod's network state: links, routes, rules, NAT, sysctls, CNI, IPAM",
		Long: `Read the network state of one namespace without changing anything: links (veth peers, bridges,
VXLAN parameters), addresses with their flags (secondary, dynamic, lifetimes), routes of every
table, policy rules, neighbours, the bridge FDB, forwarding / rp_filter / bridge-netfilter /
conntrack sysctls, iptables rules of both backends (which one is in use), the nftables ruleset,
ipsets, CNI config and host-local IPAM usage (under --root), and listening sockets.

Text output is a grouped summary; -o json has every rule.
Exit status: 0 it was read, 2 it could not be read (no such namespace, no permission).`,
		Example: `  netdoctor inspect --netns node1 --root /var/lib/lab/node1
  netdoctor inspect --pid 4242 -o json
  netdoctor inspect nat --to 10.96.0.10:53/udp --from-iface cni0 --src 10.244.1.5
  netdoctor inspect route --to 10.244.2.7 --from-iface cni0 --src 10.244.1.5`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSnapshot(cmd.Context(), s, o)
		},
	}
	o.addFlags(c, true)
	c.AddCommand(newNAT(s), newRoute(s))
	return c
}

func runSnapshot(ctx context.Context, s *cli.Streams, o *common) error {
	ns, format, ctx, done, err := o.open(ctx, "inspect")
	if err != nil {
		return err
	}
	defer done()
	snap, err := nodestate.Take(ctx, ns, nodestate.Options{Root: o.root, CommandTimeout: o.timeout})
	if err != nil {
		return o.failure(ctx, err)
	}
	if format == cli.FormatJSON {
		return cli.WriteJSON(s.Out, snap)
	}
	return writeSnapshot(s.Out, snap)
}
