// Package capture is the `netdoctor capture` command: tcpdump-style packet capture from inside any
// network namespace, to a pcap/pcapng file or as one line per packet, and multi-point capture
// (--at) that follows each packet across several interfaces and namespaces.
package capture

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/netdoctor/netdoctor/internal/capture"
	"github.com/netdoctor/netdoctor/internal/capture/filter"
	"github.com/netdoctor/netdoctor/internal/cli"
)

const cmdName = "capture"

// Bounds on flag values.
const (
	defaultDuration = 60 * time.Second
	maxDuration     = 24 * time.Hour
)

// options are the command's flags.
type options struct {
	vantage  cli.Vantage
	iface    string
	count    int
	duration time.Duration
	timeout  time.Duration
	snaplen  int
	write    string
	pcapng   bool
	maxBytes int64
	dump     bool
	output   string
	at       []string
	mtus     []string
	settle   time.Duration
	buffer   int
}

// NewCommand returns the `capture` command.
func NewCommand(s *cli.Streams) *cobra.Command {
	o := &options{}
	cmd := &cobra.Command{
		Use:   "capture [flags] [FILTER...]",
		Short: "Capture packets inside a network namespace (tcpdump filter syntax)",
		Long: `Capture packets with an AF_PACKET socket opened inside the namespace given by --netns/--pid,
the filter compiled to classic BPF and attached in the kernel (tcpdump syntax).

Without -w each packet is printed on one line, tcpdump style (-o json: one JSON object per line).
With -w FILE the packets go to a pcap file (--pcapng: pcapng), created with mode 0600 and valid
whatever ends the capture. The capture always ends: after -c packets (0: no packet limit), after
--duration (default 60s), when the file reaches --max-bytes (default 100 MiB), on Ctrl-C or SIGTERM
(the file is finished, the summary printed, exit 0), or when the interface or namespace vanishes
(exit 2). The summary on stderr reads "N packets captured, M received by filter, K dropped by
kernel". -d prints the compiled filter and exits.

--at NETNS:IFACE (repeatable) captures at several points at once and follows every packet across
them (through VXLAN and NAT): where it was seen, the last point, TTL changes, address rewrites,
encapsulation sources, and sizes above --mtu of a point. NETNS is a name from 'ip netns', a path,
or empty for the current namespace. With --at, -c keeps at most N packets per point, and the
capture runs until --duration or Ctrl-C, then prints the trace (-o json: the capture.Trace).`,
		Example: `  netdoctor capture --netns pod1 -i eth0 -c 10 icmp
  netdoctor capture --pid 4242 -i any -w /tmp/dns.pcap udp port 53
  netdoctor capture --at node1:cni0 --at node1:eth0 --at node2:eth0 --duration 5s icmp`,
		RunE: func(c *cobra.Command, args []string) error {
			return o.run(c, s, args)
		},
	}
	fs := cmd.Flags()
	o.vantage.AddFlags(fs)
	fs.StringVarP(&o.iface, "interface", "i", capture.AnyInterface, "interface to capture on, or 'any' (cooked, LINUX_SLL)")
	fs.IntVarP(&o.count, "count", "c", 0, "stop after this many packets (0: no packet limit)")
	fs.DurationVar(&o.duration, "duration", defaultDuration, "stop after this long (at most 24h)")
	fs.DurationVar(&o.timeout, "timeout", 0, "hard deadline; when it hits before the capture ends the command says it timed out and exits 1 (default: --duration plus 5s)")
	fs.IntVarP(&o.snaplen, "snaplen", "s", capture.DefaultSnaplen, "bytes kept of each packet (1-262144)")
	fs.StringVarP(&o.write, "write", "w", "", "write packets to this pcap file ('-': standard output) instead of printing them")
	fs.BoolVar(&o.pcapng, "pcapng", false, "write pcapng instead of pcap")
	fs.Int64Var(&o.maxBytes, "max-bytes", capture.DefaultMaxBytes, "stop when the file would grow past this many bytes (0: no limit)")
	fs.BoolVarP(&o.dump, "dump-filter", "d", false, "print the compiled kernel filter and exit without capturing")
	fs.StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	fs.StringArrayVar(&o.at, "at", nil, "capture point NETNS:IFACE (repeat for several points; follows each packet across them)")
	fs.StringArrayVar(&o.mtus, "mtu", nil, "NETNS:IFACE=MTU: MTU of the link a packet takes after that point (flags packets too big for it)")
	fs.DurationVar(&o.settle, "settle", 0, "with --at: how long to keep capturing after the end (default 300ms)")
	fs.IntVarP(&o.buffer, "buffer-size", "B", capture.DefaultBufferSize>>10, "kernel ring size per capture, in KiB")
	return cmd
}

func (o *options) validate() error {
	switch {
	case o.count < 0:
		return cli.Usagef(cmdName, "-c %d: give a packet count of 0 (no limit) or more", o.count)
	case o.duration <= 0 || o.duration > maxDuration:
		return cli.Usagef(cmdName, "--duration %s: give a duration between 1ms and 24h", o.duration)
	case o.timeout < 0:
		return cli.Usagef(cmdName, "--timeout %s: give a positive duration", o.timeout)
	case o.snaplen < 1 || o.snaplen > capture.DefaultSnaplen:
		return cli.Usagef(cmdName, "-s %d: give a snapshot length between 1 and %d", o.snaplen, capture.DefaultSnaplen)
	case o.maxBytes < 0:
		return cli.Usagef(cmdName, "--max-bytes %d: give 0 (no limit) or a positive size", o.maxBytes)
	case o.buffer < 512 || o.buffer > 1<<20:
		return cli.Usagef(cmdName, "-B %d: give a ring size between 512 and 1048576 KiB", o.buffer)
	case o.pcapng && o.write == "":
		return cli.Usagef(cmdName, "--pcapng needs -w FILE")
	case o.iface == "":
		return cli.Usagef(cmdName, "-i needs an interface name or 'any'")
	case len(o.at) > 0 && (o.write != "" || o.dump):
		return cli.Usagef(cmdName, "--at cannot be combined with -w or -d")
	case len(o.at) > 0 && !o.vantage.Spec().IsZero():
		return cli.Usagef(cmdName, "--at names its namespaces itself: drop --netns/--pid")
	case len(o.at) == 0 && (len(o.mtus) > 0 || o.settle != 0):
		return cli.Usagef(cmdName, "--mtu and --settle only apply with --at")
	}
	return nil
}

func (o *options) run(c *cobra.Command, s *cli.Streams, args []string) error {
	format, err := cli.ParseFormat(cmdName, o.output)
	if err != nil {
		return err
	}
	if err := o.validate(); err != nil {
		return err
	}
	expr := strings.TrimSpace(strings.Join(args, " "))
	if len(o.at) > 0 {
		return o.runMulti(c, s, format, expr)
	}
	if o.dump {
		return o.runDump(s, expr)
	}
	return o.runCapture(c, s, format, expr)
}

// filterError turns a capture.Open error about the filter into the one-line usage error; a syntax
// error already names the bad token and its offset.
func filterError(err *capture.FilterError) error {
	var se *filter.SyntaxError
	if errors.As(err, &se) {
		return cli.Usagef(cmdName, "%v", se)
	}
	return cli.Usagef(cmdName, "bad filter %q: %v", err.Expr, err.Err)
}

func plural(n uint64, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}
