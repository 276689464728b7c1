package drops

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Tracer reports kernel drops while it is open. Start it, read Events, then Stop it: Stop
// detaches from the kernel, delivers what was already recorded, and closes Events.
type Tracer struct {
	mode   Mode
	events chan Event
	lost   atomic.Uint64
	// kernelLost reads the kernel side's lost counter (ring buffer full); nil when none.
	kernelLost func() uint64
	stop       func()
	stopOnce   sync.Once
	done       chan struct{}
}

// Start attaches a tracer with opts. It returns only once the kernel side is attached, so every
// drop after Start returns is seen. The error is ErrPermission, ErrNotSupported, ErrNeedsPacket,
// a filter syntax error, or another wrapped error.
func Start(ctx context.Context, opts Options) (*Tracer, error) {
	if opts.Buffer <= 0 {
		opts.Buffer = 4096
	}
	return start(ctx, opts)
}

// Mode says which mode runs.
func (t *Tracer) Mode() Mode { return t.mode }

// Events delivers drops in the order they were read; it is closed after Stop.
func (t *Tracer) Events() <-chan Event { return t.events }

// Lost is how many drops were seen by the kernel side but not delivered (buffer full).
func (t *Tracer) Lost() uint64 {
	n := t.lost.Load()
	if t.kernelLost != nil {
		n += t.kernelLost()
	}
	return n
}

// Stop detaches the tracer, delivers buffered events, closes Events, and releases everything it
// holds. The caller must keep reading Events until it is closed. Safe to call more than once.
func (t *Tracer) Stop() {
	t.stopOnce.Do(t.stop)
}

// Done is closed when the tracer has released everything (after Stop, once Events is drained).
func (t *Tracer) Done() <-chan struct{} { return t.done }

// Collect runs fn with a tracer attached and returns every drop seen while fn ran (plus those
// recorded up to Stop). It is the building block of "re-send the probe and ask the kernel".
func Collect(ctx context.Context, opts Options, fn func(context.Context)) ([]Event, *Tracer, error) {
	return CollectUntil(ctx, opts, fn, 0, nil)
}

// CollectUntil is Collect that keeps the tracer attached up to linger after fn returns, unless a
// drop for which enough returns true was already seen (or ctx ends): some drops come late, such
// as a neighbour resolution that gives up after about 3 s (NEIGH_FAILED).
func CollectUntil(ctx context.Context, opts Options, fn func(context.Context), linger time.Duration, enough func(Event) bool) ([]Event, *Tracer, error) {
	t, err := Start(ctx, opts)
	if err != nil {
		return nil, nil, err
	}
	var mu sync.Mutex
	var out []Event
	found := make(chan struct{})
	var once sync.Once
	got := make(chan struct{})
	go func() {
		defer close(got)
		for e := range t.Events() {
			mu.Lock()
			out = append(out, e)
			mu.Unlock()
			if enough != nil && enough(e) {
				once.Do(func() { close(found) })
			}
		}
	}()
	fn(ctx)
	if linger > 0 && enough != nil {
		timer := time.NewTimer(linger)
		select {
		case <-found:
		case <-timer.C:
		case <-ctx.Done():
		}
		timer.Stop()
	}
	t.Stop()
	<-got
	<-t.Done()
	return out, t, nil
}
