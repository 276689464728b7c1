package lab

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/netdoctor/netdoctor/internal/cli"
	"github.com/netdoctor/netdoctor/internal/lab"
	"github.com/netdoctor/netdoctor/internal/lab/serve"
)

// newServe is the process each lab pod runs; the lab starts it, people never do.
func newServe(s *cli.Streams) *cobra.Command {
	var httpPorts, udpPorts, dnsPorts, records, labName, pod string
	var readyFD int
	c := &cobra.Command{
		Use:    "serve",
		Short:  "run a lab pod's servers (internal)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var o serve.Options
			var err error
			if o.HTTP, err = serve.ParsePorts(httpPorts); err != nil {
				return cli.Usagef("lab serve", "%v", err)
			}
			if o.UDP, err = serve.ParsePorts(udpPorts); err != nil {
				return cli.Usagef("lab serve", "%v", err)
			}
			if o.DNS, err = serve.ParsePorts(dnsPorts); err != nil {
				return cli.Usagef("lab serve", "%v", err)
			}
			o.Records, o.Domain = records, lab.DNSDomain
			if readyFD > 2 {
				o.Ready = os.NewFile(uintptr(readyFD), "ready")
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			if err := serve.Run(ctx, o); err != nil {
				return cli.Failf("%v", err)
			}
			return nil
		},
	}
	c.Flags().StringVar(&labName, "lab", "", "lab name (marks the process as the lab's)")
	c.Flags().StringVar(&pod, "pod", "", "pod NS/NAME this process serves")
	c.Flags().StringVar(&httpPorts, "http", "", "TCP ports with an HTTP server, comma-separated")
	c.Flags().StringVar(&udpPorts, "udp", "", "UDP echo ports, comma-separated")
	c.Flags().StringVar(&dnsPorts, "dns", "", "DNS server ports (UDP and TCP), comma-separated")
	c.Flags().StringVar(&records, "records", "", "JSON file of DNS records (FQDN to IPv4 list)")
	c.Flags().IntVar(&readyFD, "ready-fd", 0, "file descriptor to report readiness on")
	return c
}
