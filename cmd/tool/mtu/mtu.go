// Package mtu is the `netdoctor mtu` command: path-MTU discovery with don't-fragment probes that
// also finds black holes (large packets vanishing without ICMP fragmentation-needed).
package mtu

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
	probe "github.com/netdoctor/netdoctor/internal/probe/pmtu"
)

const cmdName = "mtu"

// options are the command's flags.
type options struct {
	vantage cli.Vantage
	proto   string
	port    int
	max     int
	wait    time.Duration
	timeout time.Duration
	output  string
}

// NewCommand returns the `mtu` command.
func NewCommand(s *cli.Streams) *cobra.Command {
	o := &options{}
	cmd := &cobra.Command{
		Use:   "mtu HOST",
		Short: "Find the path MTU to HOST and any MTU black hole on the way",
		Long: `Send don't-fragment probes of chosen sizes to HOST (ignoring the kernel's PMTU cache) and report
the local route MTU, the path MTU, whether an ICMP fragmentation-needed arrived (from which hop,
announcing what MTU) or a black hole (the largest size that passes, the smallest that silently
vanishes), and every probe sent. When a frag-needed arrives the search jumps to the MTU it announces;
otherwise a binary search finds the exact limit. Sizes are IP packet sizes (like tracepath's pmtu).

--proto udp sends UDP datagrams to --port (default 33434), which must be closed on HOST (its
port-unreachable is the answer); those answers are rate-limited to about 1/s after 6, so UDP discovery
takes longer. --proto tcp --port P sends TCP SYNs padded to the probe size; HOST's SYN/ACK or RST is
the answer, so P may be open or closed (useful where ICMP echo is filtered).

Exit status: 0 the path MTU equals the local MTU, 1 it is smaller, a black hole was found, or HOST
did not answer, 2 could not run.`,
		Example: `  netdoctor mtu 10.244.1.7 --netns pod1
  netdoctor mtu 192.0.2.10 --proto udp --port 33434 -o json
  netdoctor mtu 10.96.0.1 --proto tcp --port 443 --pid 4242`,
		Args: func(_ *cobra.Command, args []string) error {
			return cli.ExactArgs(cmdName, 1, "one HOST")(args)
		},
		RunE: func(c *cobra.Command, args []string) error {
			return run(c.Context(), s, o, args[0])
		},
	}
	f := cmd.Flags()
	o.vantage.AddFlags(f)
	f.StringVar(&o.proto, "proto", "icmp", "probe packets: icmp (echo requests), udp (to a closed --port) or tcp (SYNs to --port)")
	f.IntVar(&o.port, "port", 0, "destination port: for udp (default 33434, must be closed) or tcp (required)")
	f.IntVar(&o.max, "max", 0, "largest packet size to try (default: the local route MTU)")
	f.DurationVar(&o.wait, "wait", probe.DefaultWait, "longest wait for one probe's answer (shorter once a round trip is measured)")
	f.DurationVar(&o.timeout, "timeout", 0, "give up after this long (default: what --wait and the probe bound imply, plus 1s)")
	f.StringVarP(&o.output, "output", "o", "text", "output format: text|json")
	return cmd
}

func run(ctx context.Context, s *cli.Streams, o *options, host string) error {
	format, err := cli.ParseFormat(cmdName, o.output)
	if err != nil {
		return err
	}
	po := probe.Options{Proto: probe.Proto(o.proto), Port: o.port, Max: o.max, Wait: o.wait}
	switch {
	case po.Proto != probe.ProtoICMP && po.Proto != probe.ProtoUDP && po.Proto != probe.ProtoTCP:
		return cli.Usagef(cmdName, "--proto %q: use icmp, udp or tcp", o.proto)
	case po.Proto == probe.ProtoTCP && o.port == 0:
		return cli.Usagef(cmdName, "--proto tcp needs --port: the destination port to send SYNs to")
	case o.port < 0 || o.port > 65535:
		return cli.Usagef(cmdName, "--port %d: the port must be in 1..65535", o.port)
	case o.max != 0 && (o.max < probe.MinSize || o.max > probe.MaxSize):
		return cli.Usagef(cmdName, "--max %d: must be in %d..%d", o.max, probe.MinSize, probe.MaxSize)
	case o.wait <= 0 || o.timeout < 0:
		return cli.Usagef(cmdName, "--wait must be positive and --timeout not negative")
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
		timeout = time.Duration(probe.DefaultMaxProbes)*o.wait + time.Second
		if po.Proto == probe.ProtoUDP {
			timeout += time.Duration(probe.DefaultMaxProbes) * time.Second
		}
	}
	ctx, cancel := cli.Deadline(ctx, timeout)
	defer cancel()
	ctx, cancelGone := context.WithCancelCause(ctx)
	defer cancelGone(nil)
	go ns.WatchGone(ctx, 200*time.Millisecond, cancelGone)

	s.Progressf("discovering the path MTU to %s with %s probes...", po.Target, po.Proto)
	res, err := probe.Discover(ctx, ns, po)
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
	if len(res.Probes) == 0 && res.Stopped != "" {
		return cli.Failf("stopped before any probe was answered: %s", res.Stopped)
	}
	if !res.Reached || res.Smaller() || !res.Exact {
		return cli.ErrProblemFound
	}
	return nil
}

// writeText prints every probe, then the verdict.
func writeText(w io.Writer, host string, r *probe.Result) {
	what := string(r.Proto)
	if r.Port != 0 {
		what += fmt.Sprintf(" port %d", r.Port)
	}
	fmt.Fprintf(w, "local MTU %d (%s) to %s, %s probes\n", r.LocalMTU, r.Interface, r.Target, what)
	for i, p := range r.Probes {
		line := fmt.Sprintf("%3d: size %5d  %-12s", i+1, p.Size, p.Outcome)
		if p.From.IsValid() {
			line += fmt.Sprintf(" from %-15s", p.From)
		}
		if p.Outcome == probe.OutcomeFragNeeded {
			line += fmt.Sprintf(" mtu %d", p.MTU)
		}
		if p.Detail != "" {
			line += " " + p.Detail
		}
		if p.RTTMs > 0 {
			line += fmt.Sprintf(" %.3f ms", p.RTTMs)
		}
		fmt.Fprintln(w, strings.TrimRight(line, " "))
	}
	n := len(r.Probes)
	switch {
	case !r.Reached:
		fmt.Fprintf(w, "%s did not answer any probe (%d probes, %.2f s)\n", host, n, r.DurationMs/1000)
	case r.BlackHole:
		fmt.Fprintf(w, "black hole: packets up to %d bytes pass, %d and larger vanish without ICMP fragmentation-needed (%d probes, %.2f s)\n",
			r.LargestOK, r.SmallestLost, n, r.DurationMs/1000)
	case !r.Exact:
		fmt.Fprintf(w, "path MTU between %d and the next failing size: probe bound reached (%d probes)\n", r.LargestOK, n)
	default:
		fmt.Fprintf(w, "path MTU %d (local %d) (%d probes, %.2f s)\n", r.PathMTU, r.LocalMTU, n, r.DurationMs/1000)
	}
	if f := r.FragNeeded; f != nil {
		fmt.Fprintf(w, "fragmentation-needed from %s announcing MTU %d\n", f.From, f.MTU)
	}
	if r.Stopped != "" {
		fmt.Fprintf(w, "stopped early: %s\n", r.Stopped)
	}
}
