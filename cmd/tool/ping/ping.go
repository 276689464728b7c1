// Package ping is the `netdoctor ping` command: ICMP echo from any network namespace, with lines
// like iputils ping, ICMP errors reported as such (with their sender and, for frag-needed, the MTU),
// and a summary. It is a thin shell over probe/icmp.Ping.
package ping

import (
	"context"
	"errors"
	"time"

	"github.com/spf13/cobra"

	"github.com/netdoctor/netdoctor/internal/cli"
	"github.com/netdoctor/netdoctor/internal/netns"
	"github.com/netdoctor/netdoctor/internal/probe/icmp"
)

type options struct {
	vantage  cli.Vantage
	count    int
	interval time.Duration
	size     int
	df       bool
	wait     time.Duration
	ttl      int
	output   string
	timeout  time.Duration
}

// NewCommand returns the `ping` command.
func NewCommand(s *cli.Streams) *cobra.Command {
	o := &options{}
	c := &cobra.Command{
		Use:   "ping HOST [-c N] [-i DUR] [-s SIZE] [--df] [-W DUR]",
		Short: "ICMP echo from a pod's or node's network namespace, with ICMP errors and MTU reported",
		Long: `Send ICMP echo requests like iputils ping, from any network namespace (--netns, --pid).

Each probe gets one line: a reply, an ICMP error that came back instead (destination unreachable
with its code, frag-needed with the MTU the router announces, time exceeded) with the address that
sent it, a local error (with --df, "message too long, local MTU N"), or a timeout after -W.
An unprivileged ICMP socket is used when net.ipv4.ping_group_range allows it, a raw socket
otherwise or for --df; the header says which. Without --df the don't-fragment bit is clear, so
routers may fragment (iputils' default sets it when the packet fits the local MTU); use --df to
test a path MTU.

Without -c it runs until Ctrl-C (or --timeout) and then prints the summary.
Exit status: 0 every probe got its reply, 1 any was lost or answered by an error, 2 could not run.`,
		Example: `  netdoctor ping -c 3 10.244.1.5
  netdoctor ping --pid 4242 -c 5 -s 1472 --df 10.244.2.7
  netdoctor ping --netns node1 -c 100 -i 10ms -o json 10.96.0.10`,
		Args: func(_ *cobra.Command, args []string) error { return cli.ExactArgs("ping", 1, "one HOST")(args) },
		RunE: func(cmd *cobra.Command, args []string) error {
			return run(cmd.Context(), s, o, args[0], cmd.Flags().Changed("timeout"))
		},
	}
	f := c.Flags()
	f.IntVarP(&o.count, "count", "c", 0, "stop after N probes (0: until Ctrl-C or --timeout)")
	f.DurationVarP(&o.interval, "interval", "i", icmp.DefaultInterval, "time between probes (at least 1ms)")
	f.IntVarP(&o.size, "size", "s", icmp.DefaultSize, "ICMP payload bytes, like ping -s")
	f.BoolVar(&o.df, "df", false, "set don't-fragment (IP_PMTUDISC_DO); needs CAP_NET_RAW")
	f.DurationVarP(&o.wait, "wait", "W", icmp.DefaultWait, "how long each probe waits for its answer")
	f.IntVarP(&o.ttl, "ttl", "t", 0, "IP time to live / hop limit, 1-255 (0: the system default)")
	f.StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	f.DurationVar(&o.timeout, "timeout", 0, "end the run after DUR (default: with -c, what -c, -i and -W imply plus 1s; without -c, none)")
	o.vantage.AddFlags(f)
	return c
}

func (o *options) validate() error {
	switch {
	case o.count < 0:
		return cli.Usagef("ping", "-c %d: the count must be 0 or more", o.count)
	case o.interval < icmp.MinInterval:
		return cli.Usagef("ping", "-i %v: the interval must be at least %v", o.interval, icmp.MinInterval)
	case o.size < 0 || o.size > icmp.MaxSize:
		return cli.Usagef("ping", "-s %d: the size must be 0 to %d bytes", o.size, icmp.MaxSize)
	case o.wait <= 0:
		return cli.Usagef("ping", "-W %v: the wait must be positive", o.wait)
	case o.ttl < 0 || o.ttl > 255:
		return cli.Usagef("ping", "-t %d: the TTL must be 1 to 255", o.ttl)
	case o.timeout < 0:
		return cli.Usagef("ping", "--timeout %v must not be negative", o.timeout)
	}
	return nil
}

// defaultTimeout is what -c, -i and -W imply plus 1 s; 0 (none) without -c.
func (o *options) defaultTimeout() time.Duration {
	if o.count == 0 {
		return 0
	}
	return time.Duration(o.count-1)*o.interval + o.wait + time.Second
}

func run(ctx context.Context, s *cli.Streams, o *options, host string, timeoutSet bool) error {
	format, err := cli.ParseFormat("ping", o.output)
	if err != nil {
		return err
	}
	if err := o.validate(); err != nil {
		return err
	}
	if !timeoutSet {
		o.timeout = o.defaultTimeout()
	}
	ns, err := o.vantage.Open("ping")
	if err != nil {
		return err
	}
	defer ns.Close()

	ctx, cancel := cli.Deadline(ctx, o.timeout)
	defer cancel()
	size := o.size
	if size == 0 {
		size = icmp.EmptyPayload
	}
	p := &printer{w: s.Out}
	opts := icmp.Options{Target: host, Count: o.count, Interval: o.interval, Size: size, DF: o.df, Wait: o.wait, TTL: o.ttl}
	if format == cli.FormatText {
		opts.OnStart = p.header
		opts.OnProbe = p.probe
	}
	res, err := icmp.Ping(ctx, ns, opts)
	if err != nil && res == nil {
		return runError(o, host, err)
	}
	stopped := cli.Stopped(ctx)
	timedOut := errors.Is(stopped, cli.ErrTimeout)
	if format == cli.FormatJSON {
		if jerr := cli.WriteJSON(s.Out, toJSON(res, timedOut, errors.Is(stopped, cli.ErrInterrupted))); jerr != nil {
			return cli.Failf("write output: %v", jerr)
		}
	} else {
		p.summary(res)
	}
	if err != nil { // the vantage namespace vanished mid-run
		return runError(o, host, err)
	}
	return cli.Verdict(timedOut, o.timeout, res.Stats.Sent > 0, res.OK(), "any probe was answered or lost")
}

// runError turns an error of icmp.Ping into the command's one-line, exit-2 error.
func runError(o *options, host string, err error) error {
	switch {
	case errors.Is(err, icmp.ErrResolve):
		return cli.Failf("unknown host %q: give an IP address or a name the host can resolve", host)
	case errors.Is(err, icmp.ErrPermission) && o.df:
		return cli.Failf("needs CAP_NET_RAW for --df: run as root")
	case errors.Is(err, icmp.ErrPermission):
		return cli.Failf("needs CAP_NET_RAW, or net.ipv4.ping_group_range covering your group: run as root")
	case errors.Is(err, netns.ErrGone), errors.Is(err, netns.ErrProcessGone):
		return cli.VantageError(o.vantage.Spec(), err)
	}
	return cli.Failf("%v", err)
}
