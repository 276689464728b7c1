// Package trace is the `netdoctor trace` command: an mtr-style report of the path to a host, paced to
// the routers' ICMP rate limit so that a healthy path shows no loss.
package trace

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/netdoctor/netdoctor/internal/cli"
	"github.com/netdoctor/netdoctor/internal/netns"
	probe "github.com/netdoctor/netdoctor/internal/probe/trace"
)

const cmdName = "trace"

// options are the command's flags.
type options struct {
	vantage  cli.Vantage
	rounds   int
	icmp     bool
	udp      bool
	tcpPort  int
	port     int
	maxTTL   int
	interval time.Duration
	wait     time.Duration
	timeout  time.Duration
	output   string
}

// NewCommand returns the `trace` command.
func NewCommand(s *cli.Streams) *cobra.Command {
	o := &options{}
	cmd := &cobra.Command{
		Use:   "trace HOST",
		Short: "Show the path to HOST hop by hop, with loss and latency per hop (like mtr -r)",
		Long: `Send rounds of probes with TTL 1, 2, ... (all TTLs of a round at once) and report, per hop, every
address that answered, loss, probes sent and last/avg/best/worst/stdev round-trip times in ms, up to
the destination.

Linux routers answer only about 6 expired probes at once, then 1 per second (net.ipv4.icmp_ratelimit).
By default rounds are paced to exactly that (a burst, then one round per second), so 10 rounds take
about 4 s and a healthy path shows no loss. With -i, rounds go at that interval; replies a router
suppressed (a deeper hop of the same round answered) are counted as "rate-limited", never as loss.
A hop that never answers is shown as ??? like mtr.

Exit status: 0 the destination answered every round, 1 it did not (or lost probes), 2 could not run.`,
		Example: `  netdoctor trace 10.96.0.10 --netns pod1
  netdoctor trace 10.244.1.7 -c 20 --tcp 443 --pid 4242
  netdoctor trace 192.0.2.1 --udp -i 200ms -o json`,
		Args: func(_ *cobra.Command, args []string) error {
			return cli.ExactArgs(cmdName, 1, "one HOST")(args)
		},
		RunE: func(c *cobra.Command, args []string) error {
			return run(c.Context(), c, s, o, args[0])
		},
	}
	f := cmd.Flags()
	o.vantage.AddFlags(f)
	f.IntVarP(&o.rounds, "count", "c", probe.DefaultRounds, "rounds of probes (each TTL gets one probe per round)")
	f.BoolVar(&o.icmp, "icmp", false, "probe with ICMP echo requests (the default)")
	f.BoolVar(&o.udp, "udp", false, "probe with UDP datagrams to --port, --port+1, ... (like traceroute)")
	f.IntVar(&o.tcpPort, "tcp", 0, "probe with TCP SYNs to this port")
	f.IntVar(&o.port, "port", probe.DefaultUDPPort, "first destination port for --udp")
	f.IntVar(&o.maxTTL, "max-ttl", probe.DefaultMaxTTL, "largest TTL probed")
	f.DurationVarP(&o.interval, "interval", "i", 0, "time between rounds (default: paced to the routers' ICMP rate limit)")
	f.DurationVar(&o.wait, "wait", probe.DefaultWait, "how long a probe may stay unanswered before it counts as missing")
	f.DurationVar(&o.timeout, "timeout", 0, "give up after this long (default: what -c, -i and --wait imply, plus 1s)")
	f.StringVarP(&o.output, "output", "o", "text", "output format: text|json")
	return cmd
}

// probeOptions checks the flags and turns them into probe options (target still unset).
func (o *options) probeOptions(c *cobra.Command) (probe.Options, error) {
	po := probe.Options{Rounds: o.rounds, MaxTTL: o.maxTTL, Interval: o.interval, Wait: o.wait, Proto: probe.ProtoICMP}
	n := 0
	if o.icmp {
		n++
	}
	if o.udp {
		n++
		po.Proto, po.Port = probe.ProtoUDP, o.port
	}
	if o.tcpPort != 0 || c.Flags().Changed("tcp") {
		n++
		po.Proto, po.Port = probe.ProtoTCP, o.tcpPort
	}
	switch {
	case n > 1:
		return po, cli.Usagef(cmdName, "--icmp, --udp and --tcp exclude each other: give one")
	case po.Proto == probe.ProtoTCP && (o.tcpPort < 1 || o.tcpPort > 65535):
		return po, cli.Usagef(cmdName, "--tcp %d: the port must be in 1..65535", o.tcpPort)
	case o.udp && (o.port < 1 || o.port > 65535):
		return po, cli.Usagef(cmdName, "--port %d: the port must be in 1..65535", o.port)
	case o.rounds < 1 || o.rounds > probe.MaxRounds:
		return po, cli.Usagef(cmdName, "-c %d: rounds must be in 1..%d", o.rounds, probe.MaxRounds)
	case o.maxTTL < 1 || o.maxTTL > probe.MaxMaxTTL:
		return po, cli.Usagef(cmdName, "--max-ttl %d: must be in 1..%d", o.maxTTL, probe.MaxMaxTTL)
	case o.interval < 0 || o.wait <= 0 || o.timeout < 0:
		return po, cli.Usagef(cmdName, "-i and --timeout must not be negative, --wait must be positive")
	}
	return po, nil
}

func run(ctx context.Context, cmd *cobra.Command, s *cli.Streams, o *options, host string) error {
	format, err := cli.ParseFormat(cmdName, o.output)
	if err != nil {
		return err
	}
	po, err := o.probeOptions(cmd)
	if err != nil {
		return err
	}
	if po.Target, err = cli.ResolveIPv4(ctx, cmdName, host); err != nil {
		return err
	}
	ns, err := o.vantage.Open(cmdName)
	if err != nil {
		return err
	}
	defer ns.Close()
	timeout := o.timeout
	if timeout == 0 {
		timeout = defaultTimeout(po)
	}
	ctx, cancel := cli.Deadline(ctx, timeout)
	defer cancel()
	ctx, cancelGone := context.WithCancelCause(ctx)
	defer cancelGone(nil)
	go ns.WatchGone(ctx, 200*time.Millisecond, cancelGone)

	s.Progressf("tracing %s with %s probes, %d rounds...", po.Target, po.Proto, po.Rounds)
	res, err := probe.Run(ctx, ns, po)
	if err != nil {
		return cli.Failf("%v", err)
	}
	if cause := context.Cause(ctx); cause != nil && (errors.Is(cause, netns.ErrGone) || errors.Is(cause, netns.ErrProcessGone)) {
		return cli.VantageError(o.vantage.Spec(), cause)
	}
	if format == cli.FormatJSON {
		if err := cli.WriteJSON(s.Out, res); err != nil {
			return cli.Failf("write output: %v", err)
		}
	} else {
		writeText(s.Out, host, res)
	}
	if errors.Is(context.Cause(ctx), cli.ErrTimeout) && res.ProbesSent == 0 {
		return cli.Failf("timed out before any probe was sent")
	}
	if !res.Reached || res.DestLossPct > 0 || errors.Is(context.Cause(ctx), cli.ErrTimeout) {
		return cli.ErrProblemFound
	}
	return nil
}

// defaultTimeout is what the rounds, their slowest pacing and the final wait imply, plus 1 s.
func defaultTimeout(o probe.Options) time.Duration {
	var rounds time.Duration
	if o.Interval > 0 {
		rounds = time.Duration(o.Rounds) * o.Interval
	} else {
		// Normally a burst, then one round per second; when the routers' buckets start empty (a trace
		// just before) every round waits a second, so allow for that.
		rounds = time.Duration(o.Rounds) * probe.DefaultRefill
	}
	return rounds + o.Wait + time.Second
}

// writeText prints the report the way `mtr -r` does, plus what rate limiting hid.
func writeText(w io.Writer, host string, r *probe.Result) {
	what := string(r.Proto)
	if r.Port != 0 {
		what += fmt.Sprintf(" port %d", r.Port)
	}
	head := fmt.Sprintf("HOST: %s (%s, %d rounds, %.2f s)", r.Target, what, r.Rounds, r.DurationMs/1000)
	fmt.Fprintf(w, "%-42s %6s %5s %6s %6s %6s %6s %6s\n", head, "Loss%", "Snt", "Last", "Avg", "Best", "Wrst", "StDev")
	var limited []string
	for _, h := range r.Hops {
		addr := "???"
		if len(h.Addrs) > 0 {
			addr = h.Addrs[0].String()
		}
		note := ""
		if h.RateLimited > 0 {
			note = fmt.Sprintf("  rate-limited %d/%d", h.RateLimited, h.Sent)
			limited = append(limited, fmt.Sprint(h.TTL))
		}
		if h.Unreachable != "" {
			note += "  !" + h.Unreachable
		}
		fmt.Fprintf(w, "%3d.|-- %-33s %5.1f%% %5d %6.1f %6.1f %6.1f %6.1f %6.1f%s\n", h.TTL, addr, h.LossPct, h.Sent,
			h.LastMs, h.AvgMs, h.BestMs, h.WorstMs, h.StdevMs, note)
		for _, a := range h.Addrs[min(1, len(h.Addrs)):] {
			fmt.Fprintf(w, "        %s\n", a)
		}
	}
	switch {
	case r.Reached && r.DestLossPct == 0:
		fmt.Fprintf(w, "%s reached in %d hops, no loss\n", host, len(r.Hops))
	case r.Reached:
		fmt.Fprintf(w, "%s reached in %d hops, %.1f%% loss at the destination\n", host, len(r.Hops), r.DestLossPct)
	default:
		fmt.Fprintf(w, "%s not reached\n", host)
	}
	if len(limited) > 0 {
		fmt.Fprintf(w, "hop %s rate-limited its ICMP replies (deeper hops answered: not loss); run without -i to pace to the limit\n",
			strings.Join(limited, ", "))
	}
	if r.Stopped != "" {
		fmt.Fprintf(w, "stopped early: %s\n", r.Stopped)
	}
}
