// Package analyze is the `netdoctor analyze FILE` command: offline verdicts from a pcap or pcapng
// capture (handshakes, resets, retransmissions and path-MTU black holes, ICMP errors, DNS).
package analyze

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/netdoctor/netdoctor/internal/analyze"
	"github.com/netdoctor/netdoctor/internal/cli"
)

// DefaultTimeout bounds an analysis; a capture that takes longer is analysed up to where reading
// stopped.
const DefaultTimeout = 5 * time.Minute

type options struct {
	output  string
	timeout time.Duration
}

// NewCommand returns the `analyze` command.
func NewCommand(s *cli.Streams) *cobra.Command {
	o := &options{}
	cmd := &cobra.Command{
		Use:   "analyze FILE",
		Short: "Verdicts from a pcap/pcapng capture: handshakes, resets, retransmissions, MTU black holes, ICMP, DNS",
		Long: `analyze reads a capture file (pcap or pcapng, as written by tcpdump -w or netdoctor capture -w,
optionally gzipped) and reports what a person would dig out in Wireshark: per TCP connection the
handshake outcome, RSTs and who sent them, retransmissions grouped by segment size and the path-MTU
black-hole pattern (full-size segments retransmitted and never ACKed while smaller ones pass); ICMP
errors with the MTU they announce and the packet they quote; DNS queries without answers, truncated
answers and error rcodes. VXLAN traffic (UDP 4789 and 8472) is decoded and its inner packets analysed.

Exit status: 0 nothing abnormal, 1 a problem was found, 2 the file could not be read.
A truncated file (a capture that was killed) is analysed up to the last complete packet, with a
warning on stderr.`,
		Example: "  netdoctor analyze /tmp/client.pcap\n  netdoctor analyze -o json capture.pcapng.gz",
		Args:    cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if err := cli.ExactArgs("analyze", 1, "one capture FILE")(args); err != nil {
				return err
			}
			return o.run(c.Context(), s, args[0])
		},
	}
	cmd.Flags().StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	cmd.Flags().DurationVar(&o.timeout, "timeout", DefaultTimeout, "give up reading after this long and report what was read")
	return cmd
}

func (o *options) run(ctx context.Context, s *cli.Streams, path string) error {
	format, err := cli.ParseFormat("analyze", o.output)
	if err != nil {
		return err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	if st, err := os.Stat(path); err != nil {
		return cli.Failf("cannot read %q: %v", path, errors.Unwrap(err))
	} else if st.IsDir() {
		return cli.Usagef("analyze", "%q is a directory: give a pcap or pcapng file", path)
	}
	ctx, cancel := cli.Deadline(ctx, o.timeout)
	defer cancel()
	s.Progressf("analyzing %s ...", path)
	res, err := analyze.FileContext(ctx, path, analyze.Options{})
	switch {
	case errors.Is(err, analyze.ErrNotCapture):
		return cli.Failf("%q is not a pcap or pcapng file: capture one with 'tcpdump -w FILE' or 'netdoctor capture -w FILE'", path)
	case res == nil && err != nil:
		return cli.Failf("%v", err)
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(s.ErrOut, "netdoctor: warning: %s\n", w)
	}
	stopped := err
	if errors.Is(stopped, cli.ErrTimeout) {
		fmt.Fprintf(s.ErrOut, "netdoctor: warning: timed out after %s: analysed the first %d packets\n", o.timeout, res.Packets)
	} else if errors.Is(stopped, cli.ErrInterrupted) {
		fmt.Fprintf(s.ErrOut, "netdoctor: warning: interrupted: analysed the first %d packets\n", res.Packets)
	}
	if format == cli.FormatJSON {
		err = cli.WriteJSON(s.Out, res)
	} else {
		err = res.WriteText(s.Out)
	}
	if err != nil {
		return cli.Failf("write result: %v", err)
	}
	if res.Problem() || errors.Is(stopped, cli.ErrTimeout) {
		return cli.ErrProblemFound
	}
	return nil
}
