package capture

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"

	"github.com/netdoctor/netdoctor/internal/netns"
)

// Defaults of MultiOptions.
const (
	DefaultMultiSnaplen    = 512
	DefaultMultiDuration   = 10 * time.Second
	DefaultMultiMaxPackets = 10000
	DefaultSettle          = 300 * time.Millisecond
)

// Point is one capture point of a multi-point capture.
type Point struct {
	// Netns is the namespace to capture in (nil: the caller's own).
	Netns *netns.NS
	// NetnsName names the namespace in labels and reports ("node1", "pod-a").
	NetnsName string
	// Iface is the interface to capture on (not AnyInterface: a packet must be seen once per point).
	Iface string
	// Label names the point in the trace; "NetnsName:Iface" when empty. Labels must be unique.
	Label string
	// NextMTU is the MTU of the link a packet takes after this point (0: unknown); packets seen
	// here that are larger are reported as a "too-big" anomaly.
	NextMTU int
}

func (p Point) label() string {
	if p.Label != "" {
		return p.Label
	}
	return p.NetnsName + ":" + p.Iface
}

// MultiOptions bound a multi-point capture.
type MultiOptions struct {
	// Filter is a tcpdump expression for the packets to follow. On each point it also matches
	// VXLAN packets whose inner packet matches, so an encapsulated probe is seen on the underlay.
	Filter string
	// Snaplen is the bytes kept per packet (DefaultMultiSnaplen if zero): enough for the
	// outer and inner headers and the start of the payload that identifies a packet.
	Snaplen int
	// Duration bounds the whole capture, during included (DefaultMultiDuration if zero).
	Duration time.Duration
	// MaxPackets bounds the packets kept per point (DefaultMultiMaxPackets if zero); more are
	// counted as Overflow.
	MaxPackets int
	// Settle is how long capturing goes on after during returns, for packets still in flight
	// (DefaultSettle if zero).
	Settle time.Duration
	// BufferSize is the ring size per point (DefaultBufferSize if zero).
	BufferSize int
	// Ready, when set, is called once every point is capturing, just before during runs.
	Ready func()
	// Dir, when set, also writes the packets each point keeps to Dir/LABEL.pcap (mode 0600, at most
	// MaxFileBytes each): the raw evidence behind the trace, for an evidence bundle.
	Dir string
}

// MaxFileBytes bounds each point's file when MultiOptions.Dir is set.
const MaxFileBytes = 16 << 20

func (o MultiOptions) withDefaults() MultiOptions {
	if o.Snaplen <= 0 {
		o.Snaplen = DefaultMultiSnaplen
	}
	if o.Duration <= 0 {
		o.Duration = DefaultMultiDuration
	}
	if o.MaxPackets <= 0 {
		o.MaxPackets = DefaultMultiMaxPackets
	}
	if o.Settle <= 0 {
		o.Settle = DefaultSettle
	}
	return o
}

// vxlanExpr matches VXLAN on both usual ports; it is or-ed into the kernel filter of every point.
const vxlanExpr = "udp dst port 8472 or udp dst port 4789"

// Multi captures at every point at once while during runs, then follows each packet across the
// points. All sockets are bound before during is called, so nothing during sends is missed; after
// during returns (or when ctx or Duration ends) capturing goes on for Settle, then stops. during
// may be nil: then Multi captures until ctx or Duration ends. during's error is recorded in
// Trace.ProbeError. Multi returns an error only when it could not capture: a point that does not
// exist, a bad filter, no permission. A point whose interface or namespace vanishes midway keeps
// what it saw and says so in its PointResult.
func Multi(ctx context.Context, points []Point, opts MultiOptions, during func(context.Context) error) (*Trace, error) {
	opts = opts.withDefaults()
	if len(points) == 0 {
		return nil, errors.New("capture: no capture points")
	}
	seen := map[string]bool{}
	for _, p := range points {
		if p.Iface == "" || p.Iface == AnyInterface {
			return nil, fmt.Errorf("capture: point %s: name one interface, not %q", p.label(), p.Iface)
		}
		if seen[p.label()] {
			return nil, fmt.Errorf("capture: point %s given twice", p.label())
		}
		seen[p.label()] = true
	}
	runs := make([]*pointRun, len(points))
	var wg sync.WaitGroup
	errs := make([]error, len(points))
	for i, p := range points {
		runs[i] = &pointRun{point: p, max: opts.MaxPackets}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = runs[i].open(opts)
		}(i)
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, r := range runs {
			r.close()
		}
		return nil, err
	}

	start := time.Now()
	dctx, dcancel := context.WithTimeout(ctx, opts.Duration)
	defer dcancel()
	capCtx, stop := context.WithCancel(context.Background())
	defer stop()
	for _, r := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.loop(capCtx)
		}()
	}
	if opts.Ready != nil {
		opts.Ready()
	}
	var probeErr error
	if during != nil {
		probeErr = during(dctx)
		select {
		case <-dctx.Done():
		case <-time.After(opts.Settle):
		}
	} else {
		<-dctx.Done()
	}
	stop()
	wg.Wait()
	end := time.Now()

	var sightings []Sighting
	results := make([]PointResult, len(runs))
	for i, r := range runs {
		results[i] = r.result()
		sightings = append(sightings, r.sightings...)
		r.close()
	}
	t := BuildTrace(results, sightings)
	t.Start, t.End = start, end
	if probeErr != nil {
		t.ProbeError = probeErr.Error()
	}
	return t, nil
}

// PointError is a capture point that could not be opened.
type PointError struct {
	Label, Netns, Iface string // the point, as given
	Err                 error  // why it could not be opened (ErrNoInterface, a *FilterError...)
}

func (e *PointError) Error() string { return fmt.Sprintf("capture: point %s: %v", e.Label, e.Err) }

func (e *PointError) Unwrap() error { return e.Err }

// pointRun is the capture at one point.
type pointRun struct {
	point     Point
	max       int
	h         *Handle
	match     *bpf.VM // the filter for this point's link type, run in user space
	inner     *bpf.VM // the filter for Ethernet, run on the frame inside VXLAN
	sightings []Sighting
	overflow  int
	stats     Stats
	err       error
	w         *Writer // the point's pcap file when MultiOptions.Dir is set
}

func (r *pointRun) open(opts MultiOptions) error {
	p := r.point
	cfg := Config{Iface: p.Iface, Snaplen: opts.Snaplen, BufferSize: opts.BufferSize}
	if opts.Filter != "" {
		cfg.Filter = "(" + opts.Filter + ") or (" + vxlanExpr + ")"
	}
	h, err := Open(p.Netns, cfg)
	if err != nil {
		var fe *FilterError
		if errors.As(err, &fe) {
			fe.Expr = opts.Filter // name the user's expression, not the one with VXLAN or-ed in
		}
		return &PointError{Label: p.label(), Netns: p.NetnsName, Iface: p.Iface, Err: err}
	}
	r.h = h
	if opts.Filter == "" {
		return nil
	}
	if r.match, err = userVM(opts.Filter, h.LinkType(), opts.Snaplen); err != nil {
		return fmt.Errorf("capture: point %s: %w", p.label(), err)
	}
	if r.inner, err = userVM(opts.Filter, layers.LinkTypeEthernet, opts.Snaplen); err != nil {
		return fmt.Errorf("capture: point %s: %w", p.label(), err)
	}
	if opts.Dir != "" {
		name := strings.NewReplacer("/", "_", ":", "_", " ", "_").Replace(p.label()) + ".pcap"
		w, err := Create(filepath.Join(opts.Dir, name), r.h.LinkType(), opts.Snaplen, WriterOptions{MaxBytes: MaxFileBytes, Iface: p.Iface})
		if err != nil {
			r.h.Close()
			return err
		}
		r.w = w
	}
	return nil
}

func userVM(expr string, lt layers.LinkType, snaplen int) (*bpf.VM, error) {
	prog, err := compileFilter(expr, int(lt), snaplen)
	if err != nil {
		return nil, &FilterError{Expr: expr, Err: err}
	}
	ins, _ := bpf.Disassemble(prog)
	vm, err := bpf.NewVM(ins)
	if err != nil {
		return nil, &FilterError{Expr: expr, Err: err}
	}
	return vm, nil
}

// loop captures until capCtx ends (the settle time after the probe) or the point fails.
func (r *pointRun) loop(capCtx context.Context) {
	ctx, cancel := context.WithCancelCause(capCtx)
	defer cancel(nil)
	go r.point.Netns.WatchGone(ctx, 200*time.Millisecond, cancel)
	label := r.point.label()
	err := r.h.Loop(ctx, func(p *Packet) error {
		data := append([]byte(nil), p.Data...)
		f := Dissect(data, p.Length, r.h.LinkType())
		if !r.keep(data, f) {
			return nil
		}
		if len(r.sightings) >= r.max {
			r.overflow++
			return nil
		}
		r.sightings = append(r.sightings, newSighting(label, p, f))
		if r.w != nil {
			_ = r.w.WritePacket(p) // a full file stops growing; the trace goes on
		}
		return nil
	})
	if err == nil {
		if c := context.Cause(ctx); c != nil && !errors.Is(c, context.Canceled) {
			err = c
		}
	}
	r.err = err
}

// keep applies the user's filter in user space: the kernel filter also let VXLAN through, which
// counts only when its inner frame matches.
func (r *pointRun) keep(data []byte, f *Frame) bool {
	if r.match == nil {
		return true
	}
	if n, err := r.match.Run(data); err == nil && n > 0 {
		return true
	}
	if f.Encap == nil {
		return false
	}
	inner := innerEthernet(data, r.h.LinkType())
	if inner == nil {
		return false
	}
	n, err := r.inner.Run(inner)
	return err == nil && n > 0
}

// innerEthernet returns the Ethernet frame inside a VXLAN packet.
func innerEthernet(data []byte, lt layers.LinkType) []byte {
	off := 0
	switch lt {
	case layers.LinkTypeEthernet:
		off = 14
		if len(data) >= 14 && data[12] == 0x81 && data[13] == 0x00 {
			off = 18
		}
	case layers.LinkTypeLinuxSLL:
		off = sllHeaderLen
	}
	if len(data) < off+20 {
		return nil
	}
	ip := data[off:]
	var l4 int
	switch ip[0] >> 4 {
	case 4:
		l4 = int(ip[0]&0x0f) * 4
	case 6:
		l4 = 40
	default:
		return nil
	}
	start := off + l4 + 8 + 8 // UDP header, VXLAN header
	if len(data) < start+14 {
		return nil
	}
	return data[start:]
}

func (r *pointRun) result() PointResult {
	if r.h != nil {
		r.stats, _ = r.h.Stats()
	}
	res := PointResult{Label: r.point.label(), Netns: r.point.NetnsName, Iface: r.point.Iface,
		NextMTU: r.point.NextMTU, Captured: len(r.sightings), Overflow: r.overflow, Stats: r.stats}
	if r.err != nil {
		res.Error = r.err.Error()
	}
	srcs := map[string]bool{}
	for _, s := range r.sightings {
		if s.Encap != nil && !srcs[s.Encap.OuterSrc.String()] {
			srcs[s.Encap.OuterSrc.String()] = true
			res.OuterSources = append(res.OuterSources, s.Encap.OuterSrc.String())
		}
	}
	sort.Strings(res.OuterSources)
	return res
}

func (r *pointRun) close() {
	if r.h != nil {
		r.stats, _ = r.h.Stats()
		r.h.Close()
	}
	if r.w != nil {
		_ = r.w.Close(&r.stats)
		r.w = nil
	}
}
