// Package tcping is the `netdoctor tcping` command: TCP connect probes like paping, from any network
// namespace. Each attempt is exactly one of connected (with the handshake time), refused (RST),
// timeout (SYN dropped) or unreachable (an ICMP error, with its reason and sender). It is a thin
// shell over probe/tcp.Ping.
package tcping

import (
	"context"
	"errors"
	"time"

	"github.com/spf13/cobra"

	"github.com/netdoctor/netdoctor/internal/cli"
	"github.com/netdoctor/netdoctor/internal/netns"
	"github.com/netdoctor/netdoctor/internal/probe/tcp"
)

type options struct {
	vantage  cli.Vantage
	count    int
	interval time.Duration
	wait     time.Duration
	output   string
	timeout  time.Duration
}

// NewCommand returns the `tcping` command.
func NewCommand(s *cli.Streams) *cobra.Command {
	o := &options{}
	c := &cobra.Command{
		Use:   "tcping HOST:PORT [-c N] [-i DUR] [-W DUR]",
		Short: "TCP connect probes (like paping): connected, refused, timeout or unreachable, with timings",
		Long: `Open TCP connections to HOST:PORT one after another, from any network namespace (--netns, --pid),
and say for each attempt exactly what happened:

  connected in X ms   the handshake completed (X is connect() to writable, timed around the syscall)
  refused             a TCP RST came back: nothing listens, or a REJECT --reject-with tcp-reset
  timeout             nothing came back within -W: the SYN (or its answer) was silently dropped
  unreachable         an ICMP error came back (host/net/port unreachable, host- or admin-prohibited),
                      named with the address that sent it; or the local host has no route

Connections are closed with an RST right away. Without -c it runs until Ctrl-C (or --timeout).
Exit status: 0 every attempt connected, 1 any did not, 2 could not run.`,
		Example: `  netdoctor tcping -c 5 10.96.0.1:443
  netdoctor tcping --pid 4242 -c 3 -W 1s db.default.svc.cluster.local:5432
  netdoctor tcping --netns node1 -c 20 -i 100ms -o json 10.244.1.5:8080`,
		Args: func(_ *cobra.Command, args []string) error { return cli.ExactArgs("tcping", 1, "one HOST:PORT")(args) },
		RunE: func(cmd *cobra.Command, args []string) error {
			return run(cmd.Context(), s, o, args[0], cmd.Flags().Changed("timeout"))
		},
	}
	f := c.Flags()
	f.IntVarP(&o.count, "count", "c", 0, "stop after N attempts (0: until Ctrl-C or --timeout)")
	f.DurationVarP(&o.interval, "interval", "i", tcp.DefaultInterval, "time from one attempt's start to the next (at least 1ms)")
	f.DurationVarP(&o.wait, "wait", "W", tcp.DefaultWait, "how long each handshake may take before it is a timeout")
	f.StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	f.DurationVar(&o.timeout, "timeout", 0, "end the run after DUR (default: with -c, what -c, -i and -W imply plus 1s; without -c, none)")
	o.vantage.AddFlags(f)
	return c
}

func (o *options) validate(addr string) error {
	switch {
	case o.count < 0:
		return cli.Usagef("tcping", "-c %d: the count must be 0 or more", o.count)
	case o.interval < tcp.MinInterval:
		return cli.Usagef("tcping", "-i %v: the interval must be at least %v", o.interval, tcp.MinInterval)
	case o.wait <= 0:
		return cli.Usagef("tcping", "-W %v: the wait must be positive", o.wait)
	case o.timeout < 0:
		return cli.Usagef("tcping", "--timeout %v must not be negative", o.timeout)
	}
	if _, _, err := tcp.SplitAddr(addr); err != nil {
		return cli.Usagef("tcping", "%q is not HOST:PORT with a port from 1 to 65535 (IPv6: [ADDR]:PORT)", addr)
	}
	return nil
}

// defaultTimeout is what -c, -i and -W imply plus 1 s (attempts never overlap, so each may take
// the longer of -i and -W); 0 (none) without -c.
func (o *options) defaultTimeout() time.Duration {
	if o.count == 0 {
		return 0
	}
	return time.Duration(o.count)*max(o.interval, o.wait) + time.Second
}

func run(ctx context.Context, s *cli.Streams, o *options, addr string, timeoutSet bool) error {
	format, err := cli.ParseFormat("tcping", o.output)
	if err != nil {
		return err
	}
	if err := o.validate(addr); err != nil {
		return err
	}
	if !timeoutSet {
		o.timeout = o.defaultTimeout()
	}
	ns, err := o.vantage.Open("tcping")
	if err != nil {
		return err
	}
	defer ns.Close()

	ctx, cancel := cli.Deadline(ctx, o.timeout)
	defer cancel()
	p := &printer{w: s.Out, wait: o.wait}
	opts := tcp.Options{Addr: addr, Count: o.count, Interval: o.interval, Wait: o.wait}
	if format == cli.FormatText {
		opts.OnStart = p.header
		opts.OnAttempt = p.attempt
	}
	res, err := tcp.Ping(ctx, ns, opts)
	if err != nil && res == nil {
		return runError(o, addr, err)
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
	if err != nil {
		return runError(o, addr, err)
	}
	return cli.Verdict(timedOut, o.timeout, res.Stats.Sent > 0, res.OK(), "any attempt finished")
}

func runError(o *options, addr string, err error) error {
	switch {
	case errors.Is(err, tcp.ErrResolve):
		return cli.Failf("unknown host in %q: give an IP address or a name the host can resolve", addr)
	case errors.Is(err, tcp.ErrBadAddr):
		return cli.Usagef("tcping", "%q is not HOST:PORT with a port from 1 to 65535", addr)
	case errors.Is(err, netns.ErrGone), errors.Is(err, netns.ErrProcessGone):
		return cli.VantageError(o.vantage.Spec(), err)
	}
	return cli.Failf("%v", err)
}
