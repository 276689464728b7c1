package capture

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/netdoctor/netdoctor/internal/capture"
	"github.com/netdoctor/netdoctor/internal/cli"
	"github.com/netdoctor/netdoctor/internal/netns"
)

// fileBlockTimeout is the ring block timeout when writing a file (lines on a terminal use the
// library's 50 ms default so they appear at once).
const fileBlockTimeout = 500 * time.Millisecond

// Why a capture stopped, as named in the JSON summary.
var (
	errDuration = errors.New("duration")
	errCount    = errors.New("count")
	errFull     = errors.New("max-bytes")
)

func (o *options) runDump(s *cli.Streams, expr string) error {
	ns, err := o.vantage.Open(cmdName)
	if err != nil {
		return err
	}
	defer ns.Close()
	lt, err := capture.InterfaceLinkType(ns, o.iface)
	if err != nil {
		return openError(o.iface, ns, err)
	}
	out, err := capture.DumpFilter(expr, lt, o.snaplen)
	if err != nil {
		var fe *capture.FilterError
		if errors.As(err, &fe) {
			return filterError(fe)
		}
		return cli.Failf("%v", err)
	}
	fmt.Fprint(s.Out, out)
	return nil
}

// openError maps a capture.Open error to the CLI contract's one line.
func openError(iface string, ns *netns.NS, err error) error {
	var fe *capture.FilterError
	switch {
	case errors.As(err, &fe):
		return filterError(fe)
	case errors.Is(err, capture.ErrNoInterface):
		return cli.Failf("no interface %q in %s: list them with 'ip link' there", iface, ns)
	case errors.Is(err, capture.ErrInterfaceGone):
		return cli.Failf("interface %q in %s is down: bring it up or pick another with -i", iface, ns)
	case errors.Is(err, capture.ErrPermission):
		return cli.Failf("%v", err)
	case errors.Is(err, netns.ErrGone), errors.Is(err, netns.ErrProcessGone), errors.Is(err, netns.ErrPermission):
		return cli.VantageError(ns.Spec(), err)
	}
	return cli.Failf("%v", err)
}

// packetJSON is one packet in -o json output (one object per line).
type packetJSON struct {
	Type    string          `json:"type"` // "packet"
	Time    time.Time       `json:"time"`
	Iface   string          `json:"iface,omitempty"`
	Dir     string          `json:"dir,omitempty"`
	Length  int             `json:"length"`
	Caplen  int             `json:"caplen"`
	Summary string          `json:"summary"`
	IP      *capture.IPInfo `json:"ip,omitempty"`
	Encap   *capture.Encap  `json:"encap,omitempty"`
	Outer   *capture.IPInfo `json:"outer,omitempty"`
}

// summaryJSON ends -o json output.
type summaryJSON struct {
	Type     string `json:"type"` // "summary"
	Captured uint64 `json:"captured"`
	capture.Stats
	Stopped string `json:"stopped"`
	File    string `json:"file,omitempty"`
	Bytes   int64  `json:"bytes,omitempty"`
}

func (o *options) runCapture(c *cobra.Command, s *cli.Streams, format cli.Format, expr string) error {
	ns, err := o.vantage.Open(cmdName)
	if err != nil {
		return err
	}
	defer ns.Close()
	ctx, cancel := context.WithCancelCause(c.Context())
	defer cancel(nil)
	timeout := o.timeout
	if timeout == 0 {
		timeout = o.duration + 5*time.Second
	}
	tctx, tcancel := cli.Deadline(ctx, timeout)
	defer tcancel()
	dctx, dcancel := context.WithTimeoutCause(tctx, o.duration, errDuration)
	defer dcancel()
	go ns.WatchGone(dctx, 500*time.Millisecond, cancel)

	cfg := capture.Config{Iface: o.iface, Snaplen: o.snaplen, Filter: expr, BufferSize: o.buffer << 10}
	if o.write != "" {
		// Nobody watches a file fill up: let the kernel hand over fuller blocks, wake less often.
		cfg.BlockTimeout = fileBlockTimeout
	}
	h, err := capture.Open(ns, cfg)
	if err != nil {
		return openError(o.iface, ns, err)
	}
	defer h.Close()

	var w *capture.Writer
	if o.write != "" {
		wo := capture.WriterOptions{PcapNG: o.pcapng, MaxBytes: o.maxBytes, Iface: o.iface}
		if o.write == "-" {
			w, err = capture.NewWriter(s.Out, h.LinkType(), h.Snaplen(), wo)
		} else {
			w, err = capture.Create(o.write, h.LinkType(), h.Snaplen(), wo)
		}
		if err != nil {
			return cli.Failf("%v", err)
		}
		// No OnAbort hook: a second Ctrl-C exits at once, and flushing from the signal goroutine
		// while the loop appends could tear a record; the file then ends at the last full flush.
		defer w.Close(nil)
	}
	where := o.iface
	if !ns.Spec().IsZero() {
		where += " in " + ns.String()
	}
	if !s.Quiet {
		fmt.Fprintf(s.ErrOut, "listening on %s, link-type %s, snapshot length %d bytes\n", where, capture.LinkTypeName(h.LinkType()), h.Snaplen())
	}

	var captured uint64
	var stop error
	any := o.iface == capture.AnyInterface
	out := bufio.NewWriterSize(s.Out, 64<<10) // flushed at the end of every kernel batch
	defer out.Flush()
	loopErr := h.Loop(dctx, func(p *capture.Packet) error {
		if w != nil {
			if err := w.WritePacket(p); err != nil {
				if errors.Is(err, capture.ErrFileFull) {
					stop = errFull
					return capture.ErrStop
				}
				return err
			}
		} else {
			if err := printPacket(out, format, h, p, any); err != nil {
				return err
			}
			if p.EndOfBatch {
				if err := out.Flush(); err != nil {
					return err
				}
			}
		}
		captured++
		if o.count > 0 && captured >= uint64(o.count) {
			stop = errCount
			return capture.ErrStop
		}
		return nil
	})
	st, _ := h.Stats()
	h.Close()
	var werr error
	if w != nil {
		werr = w.Close(&st)
	}
	if err := out.Flush(); err != nil && loopErr == nil {
		loopErr = err
	}
	if stop == nil {
		stop = context.Cause(dctx)
	}
	if !s.Quiet || format == cli.FormatText {
		fmt.Fprintf(s.ErrOut, "%d packets captured, %d received by filter, %d dropped by kernel\n", captured, st.Received, st.Dropped)
	}
	if stop == errFull {
		fmt.Fprintf(s.ErrOut, "stopped: %s reached --max-bytes %d\n", o.write, o.maxBytes)
	}
	reason := stopName(stop, loopErr)
	if format == cli.FormatJSON && o.write != "-" {
		sum := summaryJSON{Type: "summary", Captured: captured, Stats: st, Stopped: reason}
		if w != nil {
			sum.File, sum.Bytes = o.write, w.Bytes()
		}
		if err := json.NewEncoder(s.Out).Encode(sum); err != nil {
			return cli.Failf("write output: %v", err)
		}
	}
	switch {
	case loopErr != nil && errors.Is(loopErr, capture.ErrInterfaceGone):
		return cli.Failf("interface %q in %s went down or vanished during the capture", o.iface, ns)
	case loopErr != nil:
		return cli.Failf("%v", loopErr)
	case werr != nil:
		return cli.Failf("%v", werr)
	case errors.Is(stop, netns.ErrGone), errors.Is(stop, netns.ErrProcessGone):
		return cli.VantageError(ns.Spec(), netns.ErrGone)
	case errors.Is(stop, cli.ErrTimeout):
		return &cli.ExitError{Code: 1, Err: fmt.Errorf("capture timed out after %s (--timeout)", timeout)}
	}
	return nil
}

func stopName(stop, loopErr error) string {
	switch {
	case loopErr != nil && errors.Is(loopErr, capture.ErrInterfaceGone):
		return "interface-gone"
	case loopErr != nil:
		return "error"
	case stop == nil:
		return "end"
	case errors.Is(stop, netns.ErrGone), errors.Is(stop, netns.ErrProcessGone):
		return "netns-gone"
	case errors.Is(stop, cli.ErrTimeout):
		return "timeout"
	case errors.Is(stop, cli.ErrInterrupted):
		return "interrupted"
	}
	return stop.Error()
}

func printPacket(out io.Writer, format cli.Format, h *capture.Handle, p *capture.Packet, any bool) error {
	f := capture.Dissect(p.Data, p.Length, h.LinkType())
	var iface string
	if any {
		iface = h.IfaceName(p.Ifindex)
		if iface == "" {
			iface = fmt.Sprintf("if%d", p.Ifindex)
		}
	}
	if format == cli.FormatJSON {
		j := packetJSON{Type: "packet", Time: p.Timestamp, Iface: iface, Length: p.Length, Caplen: len(p.Data),
			Summary: capture.Summarize(f), IP: f.IP, Encap: f.Encap, Outer: f.Outer}
		if any {
			j.Dir = p.Dir.String()
		}
		b, err := json.Marshal(j)
		if err != nil {
			return err
		}
		_, err = out.Write(append(b, '\n'))
		return err
	}
	_, err := fmt.Fprintln(out, capture.Line(p.Timestamp, iface, p.Dir, f))
	return err
}
