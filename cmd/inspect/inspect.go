// Package inspect is the `netdoctor inspect` command. Placeholder until its issue lands.
package inspect

import (
	"github.com/spf13/cobra"

	"github.com/netdoctor/netdoctor/internal/cli"
)

// NewCommand returns the `inspect` command.
func NewCommand(s *cli.Streams) *cobra.Command {
	return &cobra.Command{
		Use:    "inspect",
		Short:  "(not built yet)",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return cli.Failf("inspect is not built yet")
		},
	}
}
