package lab

import (
	"fmt"
	"net"
	"os"

	"github.com/spf13/cobra"

	"github.com/netdoctor/netdoctor/internal/cli"
	"github.com/netdoctor/netdoctor/internal/lab"
	"github.com/netdoctor/netdoctor/internal/lab/k8s"
)

// newRelay is the hidden `lab relay` process of a --k8s lab: it listens on 127.0.0.1 (a free port,
// written to --ready-fd) and forwards every connection to the API server inside the lab, so kubectl
// and netdoctor on the host reach it with no address or route added to the host namespace.
func newRelay(_ *cli.Streams) *cobra.Command {
	var name, netnsPath, to string
	var readyFD int
	c := &cobra.Command{
		Use:    "relay --lab NAME --netns PATH --to ADDR:PORT",
		Short:  "Forward 127.0.0.1:PORT to an address inside a lab namespace (started by 'lab up --k8s')",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := lab.ValidName(name); err != nil {
				return cli.Usagef("lab relay", "%v", err)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return cli.Failf("lab relay: %v", err)
			}
			if readyFD > 0 {
				f := os.NewFile(uintptr(readyFD), "ready")
				fmt.Fprintf(f, "%d\n", ln.Addr().(*net.TCPAddr).Port)
				f.Close()
			}
			if err := k8s.ServeRelay(cmd.Context(), ln, netnsPath, to); err != nil {
				return cli.Failf("lab relay: %v", err)
			}
			return nil
		},
	}
	c.Flags().StringVar(&name, "lab", "", "lab name (identifies the process to 'lab down')")
	c.Flags().StringVar(&netnsPath, "netns", "", "network namespace to dial in")
	c.Flags().StringVar(&to, "to", "", "address to forward to, inside --netns")
	c.Flags().IntVar(&readyFD, "ready-fd", 0, "write the chosen port to this file descriptor")
	return c
}
