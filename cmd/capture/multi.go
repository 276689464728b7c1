package capture

import (
	"github.com/spf13/cobra"

	"github.com/netdoctor/netdoctor/internal/cli"
)

func (o *options) runMulti(c *cobra.Command, s *cli.Streams, format cli.Format, expr string) error {
	return cli.Failf("--at is not built yet")
}
