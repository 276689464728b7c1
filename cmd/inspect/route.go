package inspect

import (
	"context"
	"fmt"
	"io"
	"net/netip"

	"github.com/spf13/cobra"

	"github.com/netdoctor/netdoctor/internal/cli"
	"github.com/netdoctor/netdoctor/internal/nodestate"
)

type routeOptions struct {
	common
	to, fromIface, src string
}

func newRoute(s *cli.Streams) *cobra.Command {
	o := &routeOptions{}
	c := &cobra.Command{
		Use:   "route --to IP [--from-iface IF --src IP]",
		Short: "Ask the kernel which route a packet gets (like ip route get), and for VXLAN which remote VTEP",
		Long: `Look the destination up in the namespace's FIB: as a forwarded packet arriving on --from-iface
from --src, or as one sent from the namespace itself. Prints the route type (unicast, local,
blackhole, unreachable, prohibit), device, gateway, source and table; when the device is a VXLAN
device, the neighbour entry of the next hop, the FDB entry for its MAC and the remote VTEP the
encapsulated packet goes to.

Exit status: 0 the packet has a usable route, 1 it is blackholed, unreachable or prohibited, or the
VXLAN device cannot encapsulate it (no neighbour or FDB entry), 2 could not run.`,
		Example: `  netdoctor inspect route --netns node1 --to 10.244.2.7 --from-iface cni0 --src 10.244.1.5
  netdoctor inspect route --pid 4242 --to 10.96.0.10`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRoute(cmd.Context(), s, o)
		},
	}
	o.common.addFlags(c, false)
	f := c.Flags()
	f.StringVar(&o.to, "to", "", "destination IP address")
	f.StringVar(&o.fromIface, "from-iface", "", "interface a forwarded packet arrives on (needs --src)")
	f.StringVar(&o.src, "src", "", "source address of the packet")
	return c
}

func runRoute(ctx context.Context, s *cli.Streams, o *routeOptions) error {
	if o.to == "" {
		return cli.Usagef("inspect route", "--to IP is required")
	}
	var q nodestate.RouteQuery
	var err error
	if q.Dst, err = netip.ParseAddr(o.to); err != nil {
		return cli.Usagef("inspect route", "--to %q is not an IP address", o.to)
	}
	if o.src != "" {
		if q.Src, err = netip.ParseAddr(o.src); err != nil {
			return cli.Usagef("inspect route", "--src %q is not an IP address", o.src)
		}
	}
	if o.fromIface != "" && o.src == "" {
		return cli.Usagef("inspect route", "--from-iface needs --src: a forwarded packet has a source address")
	}
	q.Dst, q.Src, q.Iif = q.Dst.Unmap(), q.Src.Unmap(), o.fromIface
	ns, format, ctx, done, err := o.open(ctx, "inspect route")
	if err != nil {
		return err
	}
	defer done()
	r, err := nodestate.RouteLookup(ctx, ns, q)
	if err != nil {
		return o.failure(ctx, err)
	}
	if format == cli.FormatJSON {
		err = cli.WriteJSON(s.Out, r)
	} else {
		err = writeRoute(s.Out, r)
	}
	if err != nil {
		return err
	}
	if (r.Type != "unicast" && r.Type != "local") || (r.VTEP != nil && r.VTEP.Problem != "") {
		return cli.ErrProblemFound
	}
	return nil
}

func writeRoute(out io.Writer, r *nodestate.RouteResult) error {
	e := &errWriter{w: out}
	q := r.Query
	what := "sent from this namespace"
	if q.Iif != "" {
		what = fmt.Sprintf("from %s arriving on %s", q.Src, q.Iif)
	} else if q.Src.IsValid() {
		what = "from " + q.Src.String()
	}
	e.printf("Route to %s (%s): %s", q.Dst, what, r.Type)
	if r.Gw.IsValid() {
		e.printf(" via %s", r.Gw)
	}
	if r.Dev != "" {
		e.printf(" dev %s", r.Dev)
	}
	if r.Src.IsValid() {
		e.printf(" src %s", r.Src)
	}
	if r.Table != 0 {
		e.printf(" table %s", tableName(r.Table))
	}
	if r.MTU != 0 {
		e.printf(" mtu %d", r.MTU)
	}
	if r.Error != "" {
		e.printf(" (kernel: %s)", r.Error)
	}
	e.printf("\n")
	if v := r.VTEP; v != nil {
		d := v.Device
		e.printf("VXLAN %s: vni %d local %s dev %s dstport %d\n", r.Dev, d.VNI, addrOr(d.Local.String(), d.Local.IsValid()), dash(d.Dev), d.Port)
		e.printf("  next hop %s", v.NextHop)
		if v.Neighbor != nil {
			e.printf(" → lladdr %s (%s)", dash(v.Neighbor.MAC), v.Neighbor.State)
		}
		if v.FDB != nil {
			e.printf(" → fdb %s dst %s", v.FDB.MAC, v.FDB.Dst)
		}
		e.printf("\n")
		if v.RemoteVTEP.IsValid() {
			e.printf("  remote VTEP %s\n", v.RemoteVTEP)
		}
		if v.Problem != "" {
			e.printf("  problem: %s\n", v.Problem)
		}
	}
	return e.err
}
