package lab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/netdoctor/netdoctor/internal/cli"
	"github.com/netdoctor/netdoctor/internal/lab"
)

func newDemo(s *cli.Streams) *cobra.Command {
	o := &upOptions{}
	c := &cobra.Command{
		Use:   "demo [--fault NAME]",
		Short: "Bring up a faulty lab, diagnose it with 'netdoctor diagnose', tear it down",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, f, err := o.run(cmd.Context(), s)
			if err != nil {
				return err
			}
			defer lab.Down(context.WithoutCancel(cmd.Context()), o.name)
			printUp(s, l, f)
			r := l.Expand(f).Request
			diag, _, ferr := cmd.Root().Find([]string{"diagnose"})
			if ferr != nil || diag == nil || diag.Hidden {
				fmt.Fprintln(s.Out, "\n'netdoctor diagnose' is not built yet; the lab and the request it would get:")
				fmt.Fprintln(s.Out)
				printStatus(s, l)
				return nil
			}
			exe, err := os.Executable()
			if err != nil {
				return cli.Failf("lab demo: %v", err)
			}
			args := []string{"diagnose", "--lab", o.name, "--from", r.From, "--to", r.To, "--proto", r.Proto}
			if r.Size > 0 {
				args = append(args, "--size", strconv.Itoa(r.Size))
			}
			fmt.Fprintf(s.Out, "\n$ netdoctor %s\n", strings.Join(args, " "))
			run := exec.CommandContext(cmd.Context(), exe, args...)
			run.Stdout, run.Stderr = s.Out, s.ErrOut
			if err := run.Run(); err != nil {
				if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 1 {
					return cli.ErrProblemFound
				}
				return cli.Failf("lab demo: diagnose: %v", err)
			}
			return nil
		},
	}
	c.Flags().StringVar(&o.name, "name", lab.DefaultName, "lab name")
	c.Flags().IntVar(&o.nodes, "nodes", 3, "number of nodes")
	c.Flags().StringVar(&o.fault, "fault", "dual-ip-vxlan-source", "fault to demonstrate")
	c.Flags().DurationVar(&o.timeout, "timeout", 2*time.Minute, "give up after this long")
	return c
}
