package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/netdoctor/netdoctor/internal/cli"
	"github.com/netdoctor/netdoctor/internal/lab"
	"github.com/netdoctor/netdoctor/internal/lab/fault"
)

func newList(s *cli.Streams) *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:   "list",
		Short: "List the faults the lab can inject, with their kind (K8S: also with 'lab up --k8s')",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output == "json" {
				type entry struct {
					Name        string      `json:"name"`
					Kind        string      `json:"kind"`
					Description string      `json:"description"`
					Request     lab.Request `json:"request"`
					K8s         bool        `json:"k8s"`
				}
				var out []entry
				for _, f := range fault.Catalogue() {
					out = append(out, entry{f.Name, string(f.Kind), f.Description, f.Request, f.K8s})
				}
				return cli.WriteJSON(s.Out, out)
			}
			if output != "text" {
				return cli.Usagef("lab list", "-o %q: want text or json", output)
			}
			tw := tabwriter.NewWriter(s.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tKIND\tK8S\tDESCRIPTION")
			for _, f := range fault.Catalogue() {
				k := "-"
				if f.K8s {
					k = "yes"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.Name, f.Kind, k, f.Description)
			}
			return tw.Flush()
		},
	}
	c.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return c
}

func openLab(cmd, name string) (*lab.Lab, error) {
	if err := lab.ValidName(name); err != nil {
		return nil, cli.Usagef(cmd, "%v", err)
	}
	l, err := lab.Open(name)
	if err != nil {
		return nil, cli.Failf("%v", err)
	}
	if !l.State.Ready {
		return nil, cli.Failf("lab %s is not ready (being built, or a failed up): run 'netdoctor lab up --name %s' again", name, name)
	}
	return l, nil
}

func newStatus(s *cli.Streams) *cobra.Command {
	var name, output string
	c := &cobra.Command{
		Use:   "status [--name LAB]",
		Short: "Show a running lab: nodes, pods, the fault and what to diagnose",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := openLab("lab status", name)
			if err != nil {
				return err
			}
			if output == "json" {
				return cli.WriteJSON(s.Out, l.State)
			}
			printStatus(s, l)
			return nil
		},
	}
	c.Flags().StringVar(&name, "name", lab.DefaultName, "lab name")
	c.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return c
}

func printStatus(s *cli.Streams, l *lab.Lab) {
	st := l.State
	fmt.Fprintf(s.Out, "lab %s  fault %s  up since %s\nstate %s\ndump  %s\n\n", st.Name, st.Fault, st.Created.Format(time.RFC3339), lab.StatePath(st.Name), lab.DumpPath(st.Name))
	tw := tabwriter.NewWriter(s.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tNETNS\tINTERNAL-IP\tVTEP\tPOD-CIDR\tKUBE-PROXY")
	for _, n := range l.Plan.Nodes {
		name := n.Name
		if n.New {
			name += " (new)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", name, n.Netns, n.IP, n.VTEP, n.PodCIDR, n.KubeProxy.Phase)
	}
	tw.Flush()
	fmt.Fprintln(s.Out)
	tw = tabwriter.NewWriter(s.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "POD\tNODE\tIP\tPHASE\tREADY\tPID\tNETNS")
	for _, p := range l.Plan.Pods {
		ip := "-"
		if p.IP.IsValid() {
			ip = p.IP.String()
		}
		fmt.Fprintf(tw, "%s/%s\t%s\t%s\t%s\t%v\t%d\t%s\n", p.Namespace, p.Name, p.Node, ip, p.Phase, p.Ready, p.PID, p.Netns)
	}
	tw.Flush()
	fmt.Fprintf(s.Out, "\nouter VM netns %s (%s), router %s, underlay %s\n", l.Plan.VM, lab.VMAddr, l.Plan.Router, l.Plan.Underlay)
	if st.CoreDNS != "" {
		fmt.Fprintf(s.Out, "cluster DNS: real CoreDNS (%s) in the CoreDNS pods\n", st.CoreDNS)
	} else {
		fmt.Fprintln(s.Out, "cluster DNS: netdoctor's built-in server in the CoreDNS pods (run scripts/coredns.sh for real CoreDNS)")
	}
	if f, err := fault.Lookup(st.Fault); err == nil && f.Name != "none" {
		f = l.Expand(f)
		fmt.Fprintf(s.Out, "diagnose: from %s to %s proto %s", f.Request.From, f.Request.To, f.Request.Proto)
		if f.Request.Size > 0 {
			fmt.Fprintf(s.Out, " size %d", f.Request.Size)
		}
		fmt.Fprintf(s.Out, "\nexpected: %s at %s\n", f.Kind, f.Hop.Where)
	}
}

func newVerify(s *cli.Streams) *cobra.Command {
	var name, healthy string
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "verify [--name LAB] [--healthy FAULT|all]",
		Short: "Check with real traffic that the lab's fault shows its symptom (exit 1 if it does not)",
		Long: "verify runs the injected fault's flows from their sources (pods, the outside VM) and checks each gets the\n" +
			"outcome the fault predicts. With --healthy it instead checks that the flows of the named fault (or of all\n" +
			"faults) all succeed: run it on a lab without a fault.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := openLab("lab verify", name)
			if err != nil {
				return err
			}
			ctx, cancel := cli.Deadline(cmd.Context(), timeout)
			defer cancel()
			var flows []lab.Flow
			want := "symptom present"
			if healthy != "" {
				want = "all flows healthy"
				for _, f := range fault.Catalogue() {
					if healthy == "all" || f.Name == healthy {
						flows = append(flows, l.Expand(f).Flows...)
					}
				}
				if len(flows) == 0 {
					return cli.Usagef("lab verify", "--healthy %q: no such fault", healthy)
				}
			} else {
				f, err := fault.Lookup(l.State.Fault)
				if err != nil {
					return cli.Failf("%v", err)
				}
				if f.Verify != nil {
					// A fault with its own check: run it instead of the flows.
					if err := f.Verify(ctx, l); err != nil {
						fmt.Fprintf(s.Out, "lab %s: %s: NO: %v\n", name, want, err)
						return cli.ErrProblemFound
					}
					fmt.Fprintf(s.Out, "lab %s: %s: yes\n", name, want)
					return nil
				}
				flows = l.Expand(f).Flows
			}
			bad := 0
			for _, r := range l.RunFlows(ctx, flows) {
				w := r.Flow.Want
				if healthy != "" {
					w = lab.OutcomeOK
				}
				ok := r.Got.Matches(w) && (healthy != "" || !r.Flow.Retrans || r.Retrans > 0)
				mark := "ok  "
				if !ok {
					mark, bad = "FAIL", bad+1
				}
				fmt.Fprintf(s.Out, "%s %s (want %s)\n", mark, r, w)
			}
			if errors.Is(context.Cause(ctx), cli.ErrTimeout) {
				fmt.Fprintf(s.Out, "verify timed out after %s\n", timeout)
			}
			if bad > 0 {
				fmt.Fprintf(s.Out, "lab %s: %s: NO (%d of %d flows differ)\n", name, want, bad, len(flows))
				return cli.ErrProblemFound
			}
			fmt.Fprintf(s.Out, "lab %s: %s: yes (%d flows)\n", name, want, len(flows))
			return nil
		},
	}
	c.Flags().StringVar(&name, "name", lab.DefaultName, "lab name")
	c.Flags().StringVar(&healthy, "healthy", "", "check that the flows of this fault (or all) succeed instead")
	c.Flags().DurationVar(&timeout, "timeout", time.Minute, "give up after this long")
	return c
}

func newDump(s *cli.Streams) *cobra.Command {
	var name string
	c := &cobra.Command{
		Use:   "dump [--name LAB]",
		Short: "Print the lab's cluster view as a kubectl-style v1 List (YAML)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := openLab("lab dump", name); err != nil {
				return err
			}
			b, err := os.ReadFile(lab.DumpPath(name))
			if err != nil {
				return cli.Failf("lab dump: %v", err)
			}
			_, err = s.Out.Write(b)
			return err
		},
	}
	c.Flags().StringVar(&name, "name", lab.DefaultName, "lab name")
	return c
}
