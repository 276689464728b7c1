// Package ping is the `netdoctor ping` command. Placeholder until its issue lands.
package ping

import (
	"github.com/spf13/cobra"

	"github.com/netdoctor/netdoctor/internal/cli"
)

// NewCommand returns the `ping` command.
func NewCommand(s *cli.Streams) *cobra.Command {
	return &cobra.Command{
		Use:    "ping",
		Short:  "(not built yet)",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return cli.Failf("ping is not built yet")
		},
	}
}
