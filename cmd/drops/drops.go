// Package drops is the `netdoctor drops` command: every packet the kernel drops, with the drop
// reason, the kernel function that dropped it, the namespace and device, and the packet's flow,
// aggregated per (flow, reason, location) when it ends.
package drops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/netdoctor/netdoctor/internal/capture/filter"
	"github.com/netdoctor/netdoctor/internal/cli"
	"github.com/netdoctor/netdoctor/internal/drops"
	"github.com/netdoctor/netdoctor/internal/netns"
)

const cmdName = "drops"

// Bounds and defaults.
const (
	defaultDuration = 10 * time.Second
	maxDuration     = 24 * time.Hour
	defaultCount    = 10000
	// maxKept bounds the events kept for -o json (groups count every event).
	maxKept = 100000
)

var (
	errDuration = errors.New("duration")
	errCount    = errors.New("count")
)

type options struct {
	vantage     cli.Vantage
	all         bool
	duration    time.Duration
	count       int
	timeout     time.Duration
	output      string
	mode        string
	summaryOnly bool
}

// NewCommand returns the `drops` command.
func NewCommand(s *cli.Streams) *cobra.Command {
	o := &options{}
	cmd := &cobra.Command{
		Use:   "drops [--netns X|--pid P|--all] [flags] [FILTER...]",
		Short: "Show every packet the kernel drops, with the reason and the kernel function (eBPF)",
		Long: `Trace kernel packet drops (the skb:kfree_skb tracepoint) while the command runs: for each drop the
time, the network namespace (named when known: 'ip netns' names, "host", a process), the device,
the packet's addresses, ports and protocol, the drop reason (NETFILTER_DROP, NO_SOCKET,
IP_RPFILTER, PKT_TOO_BIG, ...) and the kernel location, symbolised (nft_do_chain+0x2f4).

Without --netns/--pid/--all only drops in the current namespace are shown. FILTER is a tcpdump
expression matched against the dropped packet. When it ends (after --duration, default 10s;
after -c drops; on Ctrl-C or SIGTERM) it prints the drops aggregated per (namespace, flow,
reason, location) with counts.

Mode: a BTF tracepoint eBPF program, attached only while the command runs and read-only for
networking. When eBPF is not allowed it falls back to the tracefs skb:kfree_skb event (reason and
location only: no packet, no namespace, so no FILTER and every namespace); the output says which
mode ran.

Exit status: 0 when no drop was seen, 1 when drops were seen, 2 when it could not run.`,
		Example: `  netdoctor drops --netns pod1 --duration 5s udp port 53
  netdoctor drops --all -c 100 -o json
  netdoctor drops --pid 4242 tcp port 8080`,
		RunE: func(c *cobra.Command, args []string) error {
			return o.run(c, s, args)
		},
	}
	fs := cmd.Flags()
	o.vantage.AddFlags(fs)
	fs.BoolVar(&o.all, "all", false, "drops in every network namespace")
	fs.DurationVar(&o.duration, "duration", defaultDuration, "stop after this long (at most 24h)")
	fs.IntVarP(&o.count, "count", "c", defaultCount, "stop after this many drops (0: no limit)")
	fs.DurationVar(&o.timeout, "timeout", 0, "hard deadline; when it hits first the command says it timed out (default: --duration plus 1s)")
	fs.StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	fs.StringVar(&o.mode, "mode", "auto", "tracing mode: auto (eBPF, else tracefs), ebpf, or tracefs")
	fs.BoolVar(&o.summaryOnly, "summary", false, "print only the aggregated summary, not one line per drop")
	return cmd
}

func (o *options) validate() error {
	switch {
	case o.count < 0:
		return cli.Usagef(cmdName, "-c %d: give a drop count of 0 (no limit) or more", o.count)
	case o.duration <= 0 || o.duration > maxDuration:
		return cli.Usagef(cmdName, "--duration %s: give a duration between 1ms and 24h", o.duration)
	case o.timeout < 0:
		return cli.Usagef(cmdName, "--timeout %s: give a positive duration", o.timeout)
	case o.all && !o.vantage.Spec().IsZero():
		return cli.Usagef(cmdName, "--all cannot be combined with --netns or --pid")
	}
	switch o.mode {
	case "auto", "ebpf", "tracefs":
	default:
		return cli.Usagef(cmdName, "--mode %q: use auto, ebpf or tracefs", o.mode)
	}
	return nil
}

func (o *options) run(c *cobra.Command, s *cli.Streams, args []string) error {
	format, err := cli.ParseFormat(cmdName, o.output)
	if err != nil {
		return err
	}
	if err := o.validate(); err != nil {
		return err
	}
	expr := strings.TrimSpace(strings.Join(args, " "))
	if _, err := drops.NewMatcher(expr); err != nil {
		var se *filter.SyntaxError
		if errors.As(err, &se) {
			return cli.Usagef(cmdName, "%v", se)
		}
		return cli.Usagef(cmdName, "bad filter %q: %v", expr, err)
	}
	ns, err := o.vantage.Open(cmdName)
	if err != nil {
		return err
	}
	defer ns.Close()

	ctx, cancel := context.WithCancelCause(c.Context())
	defer cancel(nil)
	timeout := o.timeout
	if timeout == 0 {
		timeout = o.duration + time.Second
	}
	tctx, tcancel := cli.Deadline(ctx, timeout)
	defer tcancel()
	dctx, dcancel := context.WithTimeoutCause(tctx, o.duration, errDuration)
	defer dcancel()
	go ns.WatchGone(dctx, 500*time.Millisecond, cancel)

	opts := drops.Options{Filter: expr}
	switch o.mode {
	case "ebpf":
		opts.Mode = drops.ModeEBPF
	case "tracefs":
		opts.Mode = drops.ModeTracefs
	}
	where := "every namespace"
	if !o.all {
		ino := ns.Inode()
		opts.Netns = []uint64{ino}
		where = nsLabel(ns, ino)
		if o.mode == "auto" {
			opts.Mode = drops.ModeEBPF
		}
	}
	t, err := drops.Start(dctx, opts)
	if err != nil {
		return startError(err, o)
	}
	if !s.Quiet {
		f := ""
		if expr != "" {
			f = fmt.Sprintf(", filter %q", expr)
		}
		fmt.Fprintf(s.ErrOut, "tracing kernel drops in %s (mode %s%s)\n", where, t.Mode(), f)
		if t.Mode() == drops.ModeTracefs {
			why := "eBPF is not available"
			if o.mode == "tracefs" {
				why = "asked for with --mode tracefs"
			}
			fmt.Fprintf(s.ErrOut, "mode tracefs (%s): drops show reason and location only, no packet, namespace or device\n", why)
		}
	}

	res := result{Mode: t.Mode(), Where: where, Filter: expr, Started: time.Now()}
	var agg drops.Aggregator
	var stop error
	go func() { <-dctx.Done(); t.Stop() }()
	keep := format == cli.FormatJSON && !o.summaryOnly
	for e := range t.Events() {
		if stop != nil {
			continue // drain after -c
		}
		res.Count++
		agg.Add(e)
		switch {
		case keep && len(res.Events) < maxKept:
			res.Events = append(res.Events, e)
		case keep:
			res.Truncated = true
		case !o.summaryOnly:
			printEvent(s.Out, e)
		}
		if o.count > 0 && res.Count >= o.count {
			stop = errCount
			t.Stop()
		}
	}
	<-t.Done()
	if stop == nil {
		stop = context.Cause(dctx)
	}
	res.Stopped = stopName(stop)
	res.Lost = t.Lost()
	res.Groups = agg.Groups()
	if format == cli.FormatJSON {
		if err := cli.WriteJSON(s.Out, res); err != nil {
			return cli.Failf("write output: %v", err)
		}
	} else {
		printSummary(s.Out, &res)
	}
	switch {
	case errors.Is(stop, netns.ErrGone), errors.Is(stop, netns.ErrProcessGone):
		return cli.VantageError(ns.Spec(), netns.ErrGone)
	case errors.Is(stop, cli.ErrTimeout):
		return &cli.ExitError{Code: 1, Err: fmt.Errorf("drops timed out after %s (--timeout)", timeout)}
	case res.Count > 0:
		return cli.ErrProblemFound
	}
	return nil
}

func nsLabel(ns *netns.NS, ino uint64) string {
	if ns == nil {
		if n := drops.NewNamer(nil).Name(ino); n == "host" {
			return "netns host"
		}
		return "the current netns"
	}
	return ns.String()
}

func startError(err error, o *options) error {
	switch {
	case errors.Is(err, drops.ErrNeedsPacket):
		return cli.Failf("--mode tracefs sees no packet and no namespace: use --all and no FILTER, or --mode ebpf")
	case errors.Is(err, drops.ErrPermission):
		return cli.Failf("tracing kernel drops needs CAP_BPF and CAP_PERFMON: run as root or through the node agent (%v)", err)
	case errors.Is(err, drops.ErrNotSupported) && !o.all && o.mode != "tracefs":
		return cli.Failf("eBPF drop tracing is not available here (%v); the tracefs fallback cannot select a namespace: use --all", err)
	}
	return cli.Failf("%v", err)
}

func stopName(stop error) string {
	switch {
	case stop == nil:
		return "end"
	case errors.Is(stop, errDuration):
		return "duration"
	case errors.Is(stop, errCount):
		return "count"
	case errors.Is(stop, netns.ErrGone), errors.Is(stop, netns.ErrProcessGone):
		return "netns-gone"
	case errors.Is(stop, cli.ErrTimeout):
		return "timeout"
	case errors.Is(stop, cli.ErrInterrupted):
		return "interrupted"
	}
	return stop.Error()
}

// result is the JSON document (and the data of the text summary).
type result struct {
	Mode    drops.Mode    `json:"mode"`
	Where   string        `json:"where"`
	Filter  string        `json:"filter,omitempty"`
	Started time.Time     `json:"started"`
	Stopped string        `json:"stopped"`
	Count   int           `json:"count"`
	Lost    uint64        `json:"lost"`
	Groups  []drops.Group `json:"groups"`
	Events  []drops.Event `json:"events,omitempty"`
	// Truncated is set when more than maxKept events were seen: Events holds the first ones,
	// Groups and Count all of them.
	Truncated bool `json:"events_truncated,omitempty"`
}

func printEvent(w io.Writer, e drops.Event) {
	ns := e.Netns
	if ns == "" {
		ns = "-"
	}
	dev := e.Device
	if dev == "" {
		dev = "-"
	}
	fmt.Fprintf(w, "%s %s %s %s %s at %s\n", e.Time.Format("15:04:05.000000"), ns, dev, e.Flow, e.Reason, e.Location)
}

func printSummary(w io.Writer, r *result) {
	fmt.Fprintf(w, "%d drops in %s (mode %s, stopped by %s, %d lost)\n", r.Count, r.Where, r.Mode, r.Stopped, r.Lost)
	for _, g := range r.Groups {
		ns := g.Netns
		if ns == "" {
			ns = "-"
		}
		dev := g.Device
		if dev == "" {
			dev = "-"
		}
		fmt.Fprintf(w, "%6d  %s %s  %s  %s at %s\n", g.Count, ns, dev, g.Flow, g.Reason, g.Location)
	}
}
