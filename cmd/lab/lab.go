// Package lab is the `netdoctor lab` command. Placeholder until its issue lands.
package lab

import (
	"github.com/spf13/cobra"

	"github.com/netdoctor/netdoctor/internal/cli"
)

// NewCommand returns the `lab` command.
func NewCommand(s *cli.Streams) *cobra.Command {
	return &cobra.Command{
		Use:    "lab",
		Short:  "(not built yet)",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return cli.Failf("lab is not built yet")
		},
	}
}
