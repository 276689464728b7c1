package capture

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/netdoctor/netdoctor/internal/capture"
	"github.com/netdoctor/netdoctor/internal/cli"
	"github.com/netdoctor/netdoctor/internal/netns"
)

// parsePoint splits NETNS:IFACE at its last colon; an empty NETNS is the current namespace.
func parsePoint(s string) (nsName, iface string, err error) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 || i == len(s)-1 {
		return "", "", cli.Usagef(cmdName, "--at %q: give NETNS:IFACE (NETNS empty for the current namespace)", s)
	}
	return s[:i], s[i+1:], nil
}

func (o *options) points() ([]capture.Point, func(), error) {
	var opened []*netns.NS
	closeAll := func() {
		for _, n := range opened {
			n.Close()
		}
	}
	mtus := map[string]int{}
	for _, m := range o.mtus {
		k, v, ok := strings.Cut(m, "=")
		n, err := strconv.Atoi(v)
		if !ok || err != nil || n < 68 || n > 65535 {
			return nil, nil, cli.Usagef(cmdName, "--mtu %q: give NETNS:IFACE=MTU with MTU between 68 and 65535", m)
		}
		mtus[k] = n
	}
	var pts []capture.Point
	for _, a := range o.at {
		nsName, iface, err := parsePoint(a)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		if iface == capture.AnyInterface {
			closeAll()
			return nil, nil, cli.Usagef(cmdName, "--at %q: name one interface, not 'any'", a)
		}
		spec := netns.Spec{Netns: nsName}
		ns, err := netns.Open(spec)
		if err != nil {
			closeAll()
			return nil, nil, cli.VantageError(spec, err)
		}
		opened = append(opened, ns)
		label := nsName
		if label == "" {
			label = "current"
		}
		pts = append(pts, capture.Point{Netns: ns, NetnsName: label, Iface: iface, Label: a, NextMTU: mtus[a]})
		delete(mtus, a)
	}
	for k := range mtus {
		closeAll()
		return nil, nil, cli.Usagef(cmdName, "--mtu %q names no --at point", k)
	}
	return pts, closeAll, nil
}

func (o *options) runMulti(c *cobra.Command, s *cli.Streams, format cli.Format, expr string) error {
	pts, closeAll, err := o.points()
	if err != nil {
		return err
	}
	defer closeAll()
	ctx := c.Context()
	if o.timeout > 0 {
		var cancel func()
		ctx, cancel = cli.Deadline(ctx, o.timeout)
		defer cancel()
	}
	ready := func() {
		if s.Quiet {
			return
		}
		labels := make([]string, len(pts))
		for i, p := range pts {
			labels[i] = p.Label
		}
		// Like the single capture's line, printed always: scripts wait for it before sending.
		fmt.Fprintf(s.ErrOut, "listening on %s for up to %s (Ctrl-C to stop)\n", strings.Join(labels, ", "), o.duration)
	}
	tr, err := capture.Multi(ctx, pts, capture.MultiOptions{Filter: expr, Snaplen: min(o.snaplen, 65535),
		Duration: o.duration, MaxPackets: max(o.count, 0), Settle: o.settle, BufferSize: o.buffer << 10,
		Ready: ready}, nil)
	if err != nil {
		return multiError(err)
	}
	if format == cli.FormatJSON {
		err = cli.WriteJSON(s.Out, tr)
	} else {
		err = tr.WriteText(s.Out)
	}
	if err != nil {
		return cli.Failf("write output: %v", err)
	}
	for _, p := range tr.Points {
		if p.Error != "" {
			return cli.Failf("capture at %s stopped early: %s", p.Label, p.Error)
		}
	}
	if errors.Is(context.Cause(ctx), cli.ErrTimeout) {
		return &cli.ExitError{Code: 1, Err: errors.New("capture timed out (--timeout)")}
	}
	return nil
}

func multiError(err error) error {
	var fe *capture.FilterError
	var pe *capture.PointError
	switch {
	case errors.As(err, &fe):
		return filterError(fe)
	case errors.As(err, &pe) && errors.Is(err, capture.ErrNoInterface):
		return cli.Failf("no interface %q in netns %q (--at %s): list them with 'ip -n %s link'", pe.Iface, pe.Netns, pe.Label, pe.Netns)
	case errors.As(err, &pe) && errors.Is(err, capture.ErrInterfaceGone):
		return cli.Failf("interface %q in netns %q is down (--at %s)", pe.Iface, pe.Netns, pe.Label)
	}
	return cli.Failf("%v", err)
}
