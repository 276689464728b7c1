package lab

import (
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/netdoctor/netdoctor/internal/cli"
)

// newPause is the sandbox ("pause") process of the pods of a lab's real Kubernetes (the image
// registry.k8s.io/pause:3.10 that internal/lab/k8s writes): it holds the pod's namespaces and
// blocks until SIGTERM or SIGINT, then exits 0. It ignores every other signal it can.
func newPause(*cli.Streams) *cobra.Command {
	return &cobra.Command{
		Use:    "pause",
		Short:  "hold a pod sandbox's namespaces until SIGTERM (internal)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			signal.Ignore(syscall.SIGHUP, syscall.SIGPIPE, syscall.SIGUSR1, syscall.SIGUSR2)
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			<-ctx.Done()
			return nil
		},
	}
}
