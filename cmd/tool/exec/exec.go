// Package exec is `netdoctor exec`: run a host command inside a network namespace, like nsenter -n.
package exec

import (
	"context"
	"errors"
	osexec "os/exec"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/netdoctor/netdoctor/internal/cli"
)

type options struct {
	vantage cli.Vantage
}

// NewCommand returns the `exec` command.
func NewCommand(s *cli.Streams) *cobra.Command {
	o := &options{}
	c := &cobra.Command{
		Use:   "exec (--netns NAME|PATH | --pid PID) -- CMD [ARGS...]",
		Short: "Run a host command inside a pod's or node's network namespace (like nsenter -n)",
		Long: `Run a command from the host inside another network namespace, so tools the pod lacks
(ip, ss, tcpdump, curl) see the pod's interfaces, routes and sockets. The command keeps the host's
filesystem. The exit status is the command's own; 2 when it cannot be started.`,
		Example: `  netdoctor exec --pid 4242 -- ip route
  netdoctor exec --netns node1 -- ss -ltn`,
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.ArgsLenAtDash() < 0 && len(args) > 0 || cmd.ArgsLenAtDash() > 0 {
				return cli.Usagef("exec", "put the command after --, as in: netdoctor exec --pid PID -- ip addr")
			}
			if len(args) == 0 {
				return cli.Usagef("exec", "no command given: netdoctor exec --pid PID -- CMD [ARGS...]")
			}
			return run(cmd.Context(), s, o, args)
		},
	}
	o.vantage.AddFlags(c.Flags())
	return c
}

func run(ctx context.Context, s *cli.Streams, o *options, args []string) error {
	if o.vantage.Spec().IsZero() {
		return cli.Usagef("exec", "give the namespace to enter with --netns NAME|PATH or --pid PID")
	}
	ns, err := o.vantage.Open("exec")
	if err != nil {
		return err
	}
	defer ns.Close()
	path, err := osexec.LookPath(args[0])
	if err != nil {
		return cli.Failf("cannot run %q: not found in PATH", args[0])
	}
	cmd := osexec.Command(path, args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = s.In, s.Out, s.ErrOut
	// The child gets the terminal's signals itself; we only forward SIGTERM and wait.
	signal.Ignore(syscall.SIGINT, syscall.SIGQUIT)
	defer signal.Reset(syscall.SIGINT, syscall.SIGQUIT)
	if err := ns.Start(cmd); err != nil {
		return cli.Failf("cannot start %q in %s: %v", args[0], ns, err)
	}
	go func() {
		<-ctx.Done()
		if cmd.ProcessState == nil {
			_ = cmd.Process.Signal(syscall.SIGTERM)
		}
	}()
	err = cmd.Wait()
	var ee *osexec.ExitError
	if errors.As(err, &ee) {
		code := ee.ExitCode()
		if code < 0 { // killed by a signal: like a shell, 128+signal
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				code = 128 + int(ws.Signal())
			}
		}
		return &cli.ExitError{Code: code}
	}
	if err != nil {
		return cli.Failf("%s: %v", args[0], err)
	}
	return nil
}
