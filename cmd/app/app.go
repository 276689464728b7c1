// Package app wires netdoctor's commands together. Main is the only place that exits the process.
package app

import (
	"context"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	agentcmd "github.com/netdoctor/netdoctor/cmd/agent" // node agent hook (issue 8)
	"github.com/netdoctor/netdoctor/cmd/analyze"
	"github.com/netdoctor/netdoctor/cmd/capture"
	"github.com/netdoctor/netdoctor/cmd/diagnose"
	"github.com/netdoctor/netdoctor/cmd/drops"
	"github.com/netdoctor/netdoctor/cmd/inspect"
	"github.com/netdoctor/netdoctor/cmd/lab"
	"github.com/netdoctor/netdoctor/cmd/tool/dns"
	toolexec "github.com/netdoctor/netdoctor/cmd/tool/exec"
	"github.com/netdoctor/netdoctor/cmd/tool/mtu"
	"github.com/netdoctor/netdoctor/cmd/tool/ping"
	"github.com/netdoctor/netdoctor/cmd/tool/tcping"
	"github.com/netdoctor/netdoctor/cmd/tool/trace"
	"github.com/netdoctor/netdoctor/internal/cli"
)

// Version is set at build time with -ldflags "-X github.com/netdoctor/netdoctor/cmd/app.Version=…".
var Version = "dev"

// Main runs netdoctor with the process's arguments and exits with the contract's code.
func Main() {
	ctx, stop := cli.SignalContext(context.Background())
	s := cli.OSStreams()
	err := Run(ctx, &s, os.Args[0], os.Args[1:])
	stop()
	cli.PrintError(os.Stderr, err)
	os.Exit(cli.Code(err))
}

// Run builds the command tree and runs it; argv0 selects kubectl-plugin mode when it is
// "kubectl-netdoctor". It never exits and never prints the error it returns.
func Run(ctx context.Context, s *cli.Streams, argv0 string, args []string) error {
	root := NewRootCommand(s, filepath.Base(argv0) == "kubectl-netdoctor")
	root.SetArgs(args)
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.ErrOut)
	return root.ExecuteContext(ctx)
}

// NewRootCommand returns the root command with every subcommand, in the order `--help` lists them.
func NewRootCommand(s *cli.Streams, plugin bool) *cobra.Command {
	var verbosity int
	root := &cobra.Command{
		Use:           "netdoctor",
		Short:         "Find out why a Kubernetes pod cannot talk to something",
		Long:          "netdoctor diagnoses pod network failures (unreachable network or port, DNS, MTU, CNI and kube-proxy faults)\nand carries the tools to chase them by hand, runnable inside any pod's network namespace.",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       Version,
		PersistentPreRun: func(*cobra.Command, []string) {
			_ = verbosity
		},
	}
	if plugin {
		root.Use = "kubectl-netdoctor"
		root.Annotations = map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl netdoctor"}
	}
	root.PersistentFlags().BoolVarP(&s.Quiet, "quiet", "q", false, "no progress output on stderr")
	root.PersistentFlags().IntVarP(&verbosity, "verbose", "v", 0, "log level (0-9)")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return cli.Usagef(commandPath(c), "%v", err)
	})
	root.AddCommand(
		diagnose.NewCommand(s),
		ping.NewCommand(s),
		tcping.NewCommand(s),
		trace.NewCommand(s),
		dns.NewCommand(s),
		mtu.NewCommand(s),
		capture.NewCommand(s),
		drops.NewCommand(s),
		analyze.NewCommand(s),
		inspect.NewCommand(s),
		toolexec.NewCommand(s),
		lab.NewCommand(s),
		agentcmd.NewCommand(s), // node agent hook (issue 8)
	)
	for _, c := range root.Commands() {
		wrapArgs(c)
	}
	return root
}

// wrapArgs turns cobra's argument-count errors into exit-2 usage errors, for every command.
func wrapArgs(c *cobra.Command) {
	if c.Args != nil {
		orig := c.Args
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := orig(cmd, args); err != nil {
				return cli.Usagef(commandPath(cmd), "%v", err)
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		wrapArgs(sub)
	}
}

func commandPath(c *cobra.Command) string {
	p := c.CommandPath()
	if i := strings.IndexByte(p, ' '); i >= 0 {
		return p[i+1:]
	}
	return p
}
