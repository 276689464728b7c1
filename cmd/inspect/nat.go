package inspect

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/spf13/cobra"

	"github.com/netdoctor/netdoctor/internal/cli"
	"github.com/netdoctor/netdoctor/internal/nodestate"
)

// maxStepsShown bounds the text listing of a walk's steps (-o json has them all).
const maxStepsShown = 200

type natOptions struct {
	common
	to, fromIface, src string
}

func newNAT(s *cli.Streams) *cobra.Command {
	o := &natOptions{}
	c := &cobra.Command{
		Use:   "nat --to VIP:PORT[/tcp|udp|sctp] [--from-iface IF] [--src IP]",
		Short: "Walk the NAT rules the way the kernel would for one packet: which rules match, which endpoints it reaches",
		Long: `Follow the first packet of a connection through the NAT table of the namespace: PREROUTING (when
it arrives on --from-iface) or OUTPUT (when it is sent from the namespace itself), through
kube-proxy's KUBE-SERVICES / KUBE-SVC / KUBE-SEP / KUBE-NODEPORTS chains or its nftables table, to
the DNAT endpoints with their probabilities; then POSTROUTING, to tell whether it is masqueraded.
Rules whose matches cannot be evaluated from the node's state (physdev, limit, an unknown source
address…) are listed as "cannot evaluate": the walk follows both outcomes and marks what lies
behind them as uncertain, instead of guessing.

Exit status: 0 the packet is DNATed to endpoints, 1 no rule matches or the service has no
endpoints, 2 could not run.`,
		Example: `  netdoctor inspect nat --netns node1 --to 10.96.0.10:53/udp --from-iface cni0 --src 10.244.1.5
  netdoctor inspect nat --netns node1 --to 192.168.50.10:30080 --from-iface eth0 --src 192.168.50.99
  netdoctor inspect nat --netns node1 --to 10.96.0.1:443 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runNAT(cmd.Context(), s, o)
		},
	}
	o.addFlags(c, false)
	f := c.Flags()
	f.StringVar(&o.to, "to", "", "destination VIP:PORT, optionally /tcp, /udp or /sctp (default tcp)")
	f.StringVar(&o.fromIface, "from-iface", "", "interface the packet arrives on (PREROUTING); without it the packet is sent from the namespace (OUTPUT)")
	f.StringVar(&o.src, "src", "", "source address of the packet (default: unknown for arriving packets, the route's source for local ones)")
	return c
}

// parseTarget parses VIP:PORT[/proto].
func parseTarget(s string) (netip.AddrPort, string, error) {
	proto := "tcp"
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		proto = strings.ToLower(s[i+1:])
		s = s[:i]
		if proto != "tcp" && proto != "udp" && proto != "sctp" {
			return netip.AddrPort{}, "", fmt.Errorf("protocol %q: use tcp, udp or sctp", proto)
		}
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.AddrPort{}, "", fmt.Errorf("%q is not IP:PORT", s)
	}
	if ap.Port() == 0 {
		return netip.AddrPort{}, "", fmt.Errorf("%q: the port must not be 0", s)
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), proto, nil
}

func runNAT(ctx context.Context, s *cli.Streams, o *natOptions) error {
	if o.to == "" {
		return cli.Usagef("inspect nat", "--to VIP:PORT is required")
	}
	to, proto, err := parseTarget(o.to)
	if err != nil {
		return cli.Usagef("inspect nat", "--to: %v", err)
	}
	p := nodestate.Packet{Dst: to.Addr(), DstPort: to.Port(), Proto: proto, InIface: o.fromIface, Local: o.fromIface == ""}
	if o.src != "" {
		if p.Src, err = netip.ParseAddr(o.src); err != nil {
			return cli.Usagef("inspect nat", "--src %q is not an IP address", o.src)
		}
		p.Src = p.Src.Unmap()
	}
	ns, format, ctx, done, err := o.open(ctx, "inspect nat")
	if err != nil {
		return err
	}
	defer done()
	snap, err := nodestate.Take(ctx, ns, nodestate.Options{SkipSockets: true, SkipHostFiles: true, CommandTimeout: o.timeout})
	if err != nil {
		return o.failure(ctx, err)
	}
	if p.InIface != "" && snap.Link(p.InIface) == nil {
		return cli.Usagef("inspect nat", "--from-iface %q: no such interface in %s", p.InIface, ns)
	}
	w := snap.WalkNAT(p)
	if format == cli.FormatJSON {
		if err := cli.WriteJSON(s.Out, w); err != nil {
			return err
		}
	} else if err := writeWalk(s.Out, w, snap.Errors); err != nil {
		return err
	}
	if !hasCertainEndpoint(w) {
		return cli.ErrProblemFound
	}
	return nil
}

func hasCertainEndpoint(w *nodestate.NATWalk) bool {
	for _, e := range w.Endpoints {
		if !e.Uncertain {
			return true
		}
	}
	return false
}

func writeWalk(out io.Writer, w *nodestate.NATWalk, readErrs []string) error {
	e := &errWriter{w: out}
	p := w.Packet
	src := "unknown source"
	if p.Src.IsValid() {
		src = p.Src.String()
	}
	path := "sent from this namespace (OUTPUT)"
	if !p.Local {
		path = "arriving on " + p.InIface + " (PREROUTING)"
	}
	backend := w.Backend
	if backend == "" {
		backend = "no NAT rules"
	}
	e.printf("NAT walk: %s %s → %s, %s; %s\n", p.Proto, src, netip.AddrPortFrom(p.Dst, p.DstPort), path, backend)
	for _, r := range readErrs {
		e.printf("  could not read: %s\n", r)
	}
	// Branches (statistic, unevaluable rules) revisit the same rules; print each rule and verdict
	// once, in the order the walk first met it.
	// A step is marked uncertain only when the walk met it on uncertain branches alone.
	key := func(st nodestate.NATStep) string {
		return fmt.Sprintf("%s\x00%s\x00%d\x00%s", st.Table, st.Chain, st.RuleNum, st.Verdict)
	}
	certain := map[string]bool{}
	for _, st := range w.Steps {
		if !st.Uncertain {
			certain[key(st)] = true
		}
	}
	seen := map[string]bool{}
	shown := 0
	for _, st := range w.Steps {
		key := key(st)
		st.Uncertain = st.Uncertain && !certain[key]
		if seen[key] {
			continue
		}
		seen[key] = true
		if shown == maxStepsShown {
			e.printf("  … more steps (-o json lists them all)\n")
			break
		}
		shown++
		mark := ""
		if st.Uncertain {
			mark = " [uncertain]"
		}
		prob := ""
		if st.Probability < 1 {
			prob = fmt.Sprintf(" (p=%.3f)", st.Probability)
		}
		e.printf("  %s%s %s #%d: %s\n      → %s%s%s\n", strings.Repeat("  ", st.Depth), st.Table, st.Chain, st.RuleNum, st.Rule, st.Verdict, prob, mark)
	}
	if w.Service != "" {
		e.printf("Service: %s\n", w.Service)
	}
	if len(w.Endpoints) > 0 {
		e.printf("Endpoints:\n")
		for _, ep := range w.Endpoints {
			u := ""
			if ep.Uncertain {
				u = "  uncertain: behind a rule that cannot be evaluated"
			}
			e.printf("  %-22s %5.1f%%  %s%s\n", ep.Addr, 100*ep.Probability, ep.Chain, u)
		}
	}
	e.printf("Masquerade: %s\n", yesNo(w.Masquerade))
	if len(w.Unevaluable) > 0 {
		e.printf("Cannot evaluate:\n")
		for _, u := range w.Unevaluable {
			e.printf("  %s\n", u)
		}
	}
	for _, n := range w.Notes {
		e.printf("Note: %s\n", n)
	}
	switch {
	case hasCertainEndpoint(w):
		n := 0
		for _, ep := range w.Endpoints {
			if !ep.Uncertain {
				n++
			}
		}
		e.printf("Result: DNAT to %d endpoint(s)\n", n)
	case w.Rejected != "":
		e.printf("Result: rejected (no endpoints): %s\n", w.Rejected)
	case len(w.Endpoints) > 0:
		e.printf("Result: DNAT only behind rules that cannot be evaluated\n")
	default:
		e.printf("Result: no NAT rule matches %s %s\n", p.Proto, netip.AddrPortFrom(p.Dst, p.DstPort))
	}
	return e.err
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
