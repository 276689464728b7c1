// Package diagnose is the `netdoctor diagnose` command. Placeholder until its issue lands.
package diagnose

import (
	"github.com/spf13/cobra"

	"github.com/netdoctor/netdoctor/internal/cli"
)

// NewCommand returns the `diagnose` command.
func NewCommand(s *cli.Streams) *cobra.Command {
	return &cobra.Command{
		Use:    "diagnose",
		Short:  "(not built yet)",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return cli.Failf("diagnose is not built yet")
		},
	}
}
