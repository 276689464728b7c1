package agent

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/netdoctor/netdoctor/internal/cli"
)

// Standalone runs the agent from the arguments of `netdoctor agent …`: the DaemonSet's args
// (["agent", "--listen=:7441", …]) are valid for both binaries. The leading "agent" may be left
// out; netdoctor's global flags -q/--quiet and -v/--verbose are accepted (and, as there, do not
// change what the agent does). -h/--help prints the usage.
func Standalone(ctx context.Context, s *cli.Streams, args []string) error {
	o, fs, help, err := parseStandalone(s, args)
	if err != nil {
		return err
	}
	if help {
		fmt.Fprintf(s.Out, "%s\n\nUsage:\n  netdoctor-agent %s [flags]\n\nFlags:\n%s", long, use, fs.FlagUsages())
		return nil
	}
	return o.run(ctx, s)
}

// standaloneFlags is the flag set of Standalone: the agent's flags, netdoctor's global ones, help.
func standaloneFlags(s *cli.Streams, o *options) (*pflag.FlagSet, *bool) {
	fs := pflag.NewFlagSet("agent", pflag.ContinueOnError)
	fs.SetOutput(s.ErrOut)
	fs.Usage = func() {}
	o.addFlags(fs)
	var quiet bool
	var verbosity int
	fs.BoolVarP(&quiet, "quiet", "q", false, "no progress output on stderr")
	fs.IntVarP(&verbosity, "verbose", "v", 0, "log level (0-9)")
	return fs, fs.BoolP("help", "h", false, "help for agent")
}

func parseStandalone(s *cli.Streams, args []string) (*options, *pflag.FlagSet, bool, error) {
	if len(args) > 0 && args[0] == "agent" {
		args = args[1:]
	}
	o := &options{}
	fs, help := standaloneFlags(s, o)
	if err := fs.Parse(args); err != nil {
		return nil, nil, false, cli.Usagef("agent", "%v", err)
	}
	if fs.NArg() > 0 {
		return nil, nil, false, cli.Usagef("agent", "unexpected arguments %q: the agent takes flags only", strings.Join(fs.Args(), " "))
	}
	return o, fs, *help, nil
}
