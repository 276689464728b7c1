//go:build linux

package drops

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"
)

// pollInterval bounds the time from a drop to its event when fewer drops than a wake-up batch
// are waiting.
const pollInterval = 10 * time.Millisecond

// event layout written by bpf/drops.c (struct event), little-endian.
const (
	evSize    = 184
	evSnap    = 128
	evDataOff = 52
)

func start(ctx context.Context, opts Options) (*Tracer, error) {
	m, err := NewMatcher(opts.Filter)
	if err != nil {
		return nil, err
	}
	switch opts.Mode {
	case ModeEBPF:
		return startEBPF(opts, m)
	case ModeTracefs:
		if m != nil || len(opts.Netns) > 0 {
			return nil, ErrNeedsPacket
		}
		return startTracefs(ctx, opts)
	}
	t, err := startEBPF(opts, m)
	if err == nil || m != nil || len(opts.Netns) > 0 {
		return t, err
	}
	t2, err2 := startTracefs(ctx, opts)
	if err2 != nil {
		return nil, fmt.Errorf("%w (tracefs fallback: %v)", err, err2)
	}
	return t2, nil
}

var kernelInfo = sync.OnceValues(func() (*kinfo, error) {
	k := &kinfo{reasons: map[uint32]string{}}
	spec, err := btf.LoadKernelSpec()
	if err == nil {
		var e *btf.Enum
		if err := spec.TypeByName("skb_drop_reason", &e); err == nil {
			for _, v := range e.Values {
				k.reasons[uint32(v.Value)] = ReasonName(v.Name)
			}
		}
	}
	f, err := os.Open("/proc/kallsyms")
	if err != nil {
		return k, nil
	}
	defer f.Close()
	k.syms, _ = ParseKallsyms(f)
	return k, nil
})

// kinfo is what the kernel tells about itself once: drop reason names and symbols.
type kinfo struct {
	reasons map[uint32]string
	syms    *Symbols
	mu      sync.Mutex
	locs    map[uint64][2]string // resolved locations (a handful of call sites drop packets)
}

func (k *kinfo) resolve(addr uint64) (string, string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if l, ok := k.locs[addr]; ok {
		return l[0], l[1]
	}
	loc, fn := k.syms.Resolve(addr)
	if k.locs == nil || len(k.locs) > 4096 {
		k.locs = map[uint64][2]string{}
	}
	k.locs[addr] = [2]string{loc, fn}
	return loc, fn
}

func (k *kinfo) reason(code uint32) string {
	if s, ok := k.reasons[code]; ok {
		return s
	}
	if sub := code >> 16; sub != 0 {
		return fmt.Sprintf("SUBSYS_%d_%d", sub, code&0xffff)
	}
	return "REASON_" + strconv.FormatUint(uint64(code), 10)
}

func startEBPF(opts Options, m *Matcher) (*Tracer, error) {
	go kernelInfo() // warm up while loading
	spec, err := loadDropsbpf()
	if err != nil {
		return nil, fmt.Errorf("drops: load BPF object: %w", err)
	}
	if len(opts.Netns) > 0 {
		if err := spec.Variables[dropsbpfVarFilterNetns].Set(uint32(1)); err != nil {
			return nil, fmt.Errorf("drops: set netns filter: %w", err)
		}
	}
	var objs dropsbpfObjects
	if err := spec.LoadAndAssign(&objs, nil); err != nil {
		return nil, loadError(err)
	}
	closeAll := func() { objs.Close() }
	for _, ino := range opts.Netns {
		if err := objs.Netns.Put(uint32(ino), uint8(1)); err != nil {
			closeAll()
			return nil, fmt.Errorf("drops: netns map: %w", err)
		}
	}
	rd, err := ringbuf.NewReader(objs.Events)
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("drops: ring buffer: %w", err)
	}
	lk, err := link.AttachTracing(link.TracingOptions{Program: objs.KfreeSkb, AttachType: ebpf.AttachTraceRawTp})
	if err != nil {
		rd.Close()
		closeAll()
		return nil, loadError(err)
	}
	ki, _ := kernelInfo()
	namer := NewNamer(opts.Names)
	offset := bootOffset()
	t := &Tracer{mode: ModeEBPF, events: make(chan Event, opts.Buffer), done: make(chan struct{})}
	lost := objs.Lost
	t.kernelLost = func() uint64 {
		var per []uint64
		if err := lost.Lookup(uint32(0), &per); err != nil {
			return 0
		}
		var n uint64
		for _, x := range per {
			n += x
		}
		return n
	}
	quit := make(chan struct{})
	t.stop = func() {
		lk.Close()
		close(quit)
		rd.Flush()
	}
	go func() {
		defer close(t.done)
		defer closeAll()
		defer rd.Close()
		defer close(t.events)
		var rec ringbuf.Record
		for {
			// The program wakes the reader only for a full batch (bpf/drops.c): poll for the rest.
			rd.SetDeadline(time.Now().Add(pollInterval))
			if err := rd.ReadInto(&rec); err != nil {
				if errors.Is(err, os.ErrDeadlineExceeded) {
					continue
				}
				if errors.Is(err, ringbuf.ErrFlushed) {
					select {
					case <-quit:
						return
					default:
						continue
					}
				}
				return
			}
			raw := rec.RawSample
			if len(raw) < evSize {
				continue
			}
			proto := binary.BigEndian.Uint16(raw[32:34])
			caplen := int(binary.LittleEndian.Uint16(raw[34:36]))
			data := raw[evDataOff : evDataOff+min(caplen, evSnap)]
			if !m.Match(proto, data) {
				continue
			}
			e := decode(raw, proto, data, ki, namer, offset)
			select {
			case t.events <- e:
			case <-quit:
				// Stopping: still deliver, the reader drains until Events is closed.
				t.events <- e
			}
		}
	}()
	return t, nil
}

func decode(raw []byte, proto uint16, data []byte, ki *kinfo, namer *Namer, offset time.Duration) Event {
	le := binary.LittleEndian
	ino := uint64(le.Uint32(raw[20:24]))
	code := le.Uint32(raw[16:20])
	loc, fn := ki.resolve(le.Uint64(raw[8:16]))
	name := raw[36:52]
	for i, c := range name {
		if c == 0 {
			name = name[:i]
			break
		}
	}
	data = trimToIP(proto, data)
	pkt := make([]byte, len(data))
	copy(pkt, data)
	return Event{
		Time:       time.Unix(0, int64(le.Uint64(raw[0:8]))+int64(offset)),
		NetnsInode: ino,
		Netns:      namer.Name(ino),
		Device:     string(name),
		Ifindex:    int(le.Uint32(raw[24:28])),
		Reason:     ki.reason(code),
		ReasonCode: code,
		Location:   loc,
		Function:   fn,
		Len:        int(le.Uint32(raw[28:32])),
		Flow:       ParseFlow(proto, data),
		Packet:     pkt,
	}
}

// bootOffset converts CLOCK_MONOTONIC (bpf_ktime_get_ns) to wall time.
func bootOffset() time.Duration {
	var ts unix.Timespec
	now := time.Now()
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return time.Duration(now.UnixNano() - ts.Nano())
}

// loadError maps the kernel's refusals to the package's sentinels.
func loadError(err error) error {
	switch {
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return fmt.Errorf("%w: %v", ErrPermission, err)
	case errors.Is(err, ebpf.ErrNotSupported), errors.Is(err, btf.ErrNotSupported), errors.Is(err, unix.ENOENT), errors.Is(err, unix.EINVAL):
		return fmt.Errorf("%w: %v", ErrNotSupported, err)
	}
	return fmt.Errorf("drops: attach eBPF program: %w", err)
}
