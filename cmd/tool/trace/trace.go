// Package trace is the `netdoctor trace` command. Placeholder until its issue lands.
package trace

import (
	"github.com/spf13/cobra"

	"github.com/netdoctor/netdoctor/internal/cli"
)

// NewCommand returns the `trace` command.
func NewCommand(s *cli.Streams) *cobra.Command {
	return &cobra.Command{
		Use:    "trace",
		Short:  "(not built yet)",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return cli.Failf("trace is not built yet")
		},
	}
}
