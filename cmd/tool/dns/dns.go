// Package dns is the `netdoctor dns` command: resolve a name the way a pod (or any netns) would, and
// show every query the resolver sent.
package dns

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/netdoctor/netdoctor/internal/cli"
	"github.com/netdoctor/netdoctor/internal/netns"
	probe "github.com/netdoctor/netdoctor/internal/probe/dns"
)

const cmdName = "dns"

// options are the command's flags.
type options struct {
	vantage  cli.Vantage
	qtype    string
	server   string
	tcp      bool
	noSearch bool
	wait     time.Duration
	attempts int
	timeout  time.Duration
	output   string
}

// NewCommand returns the `dns` command.
func NewCommand(s *cli.Streams) *cobra.Command {
	o := &options{}
	cmd := &cobra.Command{
		Use:   "dns NAME",
		Short: "Resolve a name as the vantage point would and show every query",
		Long: `Resolve NAME the way a process in the vantage network namespace would (glibc rules): its
resolv.conf (--pid: /proc/PID/root/etc/resolv.conf; --netns NAME: /etc/netns/NAME/resolv.conf if it
exists, else /etc/resolv.conf), its nameservers in order, search list, ndots, timeout and attempts.
Every query sent is shown (name, server, udp/tcp, rcode, TC bit, latency, answers); a truncated UDP
answer is retried over TCP. For --type PTR, NAME may be an IP address.

Exit status: 0 resolved, 1 did not resolve (NXDOMAIN, NODATA, SERVFAIL, timeout), 2 could not run.`,
		Example: `  netdoctor dns kubernetes.default --netns pod1
  netdoctor dns _http._tcp.web.default.svc.cluster.local --type SRV --pid 4242
  netdoctor dns 10.96.0.10 --type PTR --server 10.96.0.10 --tcp -o json`,
		Args: func(_ *cobra.Command, args []string) error {
			return cli.ExactArgs(cmdName, 1, "one NAME")(args)
		},
		RunE: func(c *cobra.Command, args []string) error {
			return run(c.Context(), s, o, args[0])
		},
	}
	f := cmd.Flags()
	o.vantage.AddFlags(f)
	f.StringVarP(&o.qtype, "type", "t", "A", "record type: "+strings.Join(probe.Types, "|"))
	f.StringVar(&o.server, "server", "", "ask this server (IP or IP:PORT) instead of resolv.conf's nameservers")
	f.BoolVar(&o.tcp, "tcp", false, "query over TCP from the start (like options use-vc)")
	f.BoolVar(&o.noSearch, "no-search", false, "query NAME as an absolute name, without the search list")
	f.DurationVar(&o.wait, "wait", 0, "wait per answer (default: resolv.conf's options timeout, 5s without one)")
	f.IntVar(&o.attempts, "attempts", 0, "rounds over the servers (default: resolv.conf's options attempts, 2 without one)")
	f.DurationVar(&o.timeout, "timeout", 0, "give up after this long (default: what wait, attempts and servers imply for two names, plus 1s)")
	f.StringVarP(&o.output, "output", "o", "text", "output format: text|json")
	return cmd
}

func run(ctx context.Context, s *cli.Streams, o *options, name string) error {
	format, err := cli.ParseFormat(cmdName, o.output)
	if err != nil {
		return err
	}
	if o.wait < 0 || o.attempts < 0 || o.timeout < 0 {
		return cli.Usagef(cmdName, "--wait, --attempts and --timeout must not be negative")
	}
	ns, err := o.vantage.Open(cmdName)
	if err != nil {
		return err
	}
	defer ns.Close()
	cfg, err := probe.LoadResolvConf(probe.ResolvConfPath(o.vantage.Spec()))
	if err != nil {
		return cli.Failf("%v", err)
	}
	timeout := o.timeout
	if timeout == 0 {
		timeout = defaultTimeout(cfg, o)
	}
	ctx, cancel := cli.Deadline(ctx, timeout)
	defer cancel()
	ctx, cancelGone := context.WithCancelCause(ctx)
	defer cancelGone(nil)
	go ns.WatchGone(ctx, 200*time.Millisecond, cancelGone)

	res, err := probe.Resolve(ctx, ns, probe.Options{Name: name, Type: o.qtype, Server: o.server, TCP: o.tcp,
		Config: cfg, Timeout: o.wait, Attempts: o.attempts, NoSearch: o.noSearch})
	if err != nil {
		if errors.Is(err, probe.ErrBadInput) {
			return cli.Usagef(cmdName, "%s", strings.TrimPrefix(strings.Replace(err.Error(), probe.ErrBadInput.Error()+": ", "", 1), "probe/dns: "))
		}
		return cli.Failf("%v", err)
	}
	if gone := context.Cause(ctx); gone != nil && isGone(gone) {
		return cli.VantageError(o.vantage.Spec(), gone)
	}
	if format == cli.FormatJSON {
		if err := cli.WriteJSON(s.Out, res); err != nil {
			return cli.Failf("write output: %v", err)
		}
	} else {
		writeText(s.Out, name, res)
	}
	if !res.OK() {
		return cli.ErrProblemFound
	}
	return nil
}

func isGone(err error) bool {
	return errors.Is(err, netns.ErrGone) || errors.Is(err, netns.ErrProcessGone)
}

// defaultTimeout is the worst case glibc's rules allow: a timeout ends the search list and the name is
// then tried as is, so at most two names wait out every server in every round.
func defaultTimeout(cfg *probe.Config, o *options) time.Duration {
	wait, attempts := cfg.Timeout, cfg.Attempts
	if o.wait > 0 {
		wait = o.wait
	}
	if o.attempts > 0 {
		attempts = o.attempts
	}
	n := len(cfg.Servers())
	if o.server != "" {
		n = 1
	}
	var per time.Duration
	for a := 0; a < attempts; a++ {
		w := wait << a
		if a > 0 {
			w = max(w/time.Duration(n), min(time.Second, wait))
		}
		per += w * time.Duration(n)
	}
	return 2*per + time.Second
}

// writeText prints the resolver configuration, one line per query (with its answers), and the verdict.
func writeText(w io.Writer, asked string, r *probe.Result) {
	c := r.Config
	src := c.Source
	if src == "" {
		src = "(given)"
	}
	fmt.Fprintf(w, "resolv.conf %s: nameserver %s; search %s; ndots:%d timeout:%s attempts:%d%s\n",
		src, strings.Join(c.Nameservers, " "), orNone(c.Search), c.Ndots, c.Timeout, c.Attempts, flags(c))
	fmt.Fprintf(w, "servers: %s\n", strings.Join(r.Servers, " "))
	for _, warn := range c.Warnings {
		fmt.Fprintf(w, "  warning: %s\n", warn)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tNAME\tTYPE\tSERVER\tPROTO\tRCODE\tLATENCY\tRESULT")
	for i, q := range r.Queries {
		rcode := q.Rcode
		if rcode == "" {
			rcode = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", i+1, q.Name, q.Type, q.Server, q.Proto, rcode,
			latency(q.Latency), result(q))
	}
	tw.Flush()
	if r.Final != nil {
		for _, rec := range r.Final.Records {
			fmt.Fprintf(w, "  %s\n", strings.ReplaceAll(rec, "\t", " "))
		}
	}
	n := len(r.Queries)
	switch {
	case r.OK():
		fmt.Fprintf(w, "%s resolved: %s %s %s (from %s over %s) [%d %s, %s]\n", asked, r.Final.Name, r.Final.Type,
			strings.Join(r.Final.Values, ", "), r.Final.Server, r.Final.Proto, n, plural(n, "query", "queries"), latency(r.Duration))
	default:
		fmt.Fprintf(w, "%s did not resolve: %s: %s [%d %s, %s]\n", asked, r.Outcome, why(r), n,
			plural(n, "query", "queries"), latency(r.Duration))
	}
	if r.Stopped != "" {
		fmt.Fprintf(w, "stopped: %s\n", r.Stopped)
	}
}

// result is the last column of a query line.
func result(q probe.Query) string {
	var parts []string
	if q.Err != "" {
		s := string(q.Err)
		if q.Detail != "" && q.Detail != "no reply" {
			s += " (" + q.Detail + ")"
		}
		parts = append(parts, s)
	}
	if q.Truncated {
		parts = append(parts, "truncated (TC): retry over tcp")
	}
	if q.Rcode != "" && !q.Truncated {
		parts = append(parts, fmt.Sprintf("%d %s", len(q.Answers), plural(len(q.Answers), "answer", "answers")))
	}
	return strings.Join(parts, ", ")
}

// why explains a failed outcome in words an SRE acts on.
func why(r *probe.Result) string {
	switch r.Outcome {
	case probe.OutcomeNXDomain:
		return "no such name, after trying " + strings.Join(r.Candidates, " ")
	case probe.OutcomeNoData:
		return "the name exists but has no " + r.Type + " record"
	case probe.OutcomeServFail:
		return "the servers answered SERVFAIL: they could not resolve it upstream"
	case probe.OutcomeRefused:
		return "the servers refused the query"
	case probe.OutcomeUnreachable:
		return "no nameserver could be reached (port or host unreachable)"
	}
	return "no answer from " + strings.Join(servers(r), " ") + " within the wait"
}

func servers(r *probe.Result) []string {
	var out []string
	seen := map[string]bool{}
	for _, q := range r.Queries {
		if !seen[q.Server] {
			seen[q.Server] = true
			out = append(out, q.Server)
		}
	}
	if len(out) == 0 {
		return r.Config.Servers()
	}
	return out
}

func flags(c *probe.Config) string {
	var f []string
	if c.UseVC {
		f = append(f, "use-vc")
	}
	if c.Rotate {
		f = append(f, "rotate")
	}
	if c.EDNS0 {
		f = append(f, "edns0")
	}
	if c.NoTLDQuery {
		f = append(f, "no-tld-query")
	}
	if len(f) == 0 {
		return ""
	}
	return " " + strings.Join(f, " ")
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "(none)"
	}
	return strings.Join(s, " ")
}

func latency(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
