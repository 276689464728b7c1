package cli

import (
	"context"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

var abort struct {
	sync.Mutex
	fns []func()
}

// OnAbort registers fn to run if the process is aborted by a second Ctrl-C (exit 130); it returns a
// function that unregisters it. Use it to remove temporary files and kill child processes.
func OnAbort(fn func()) (unregister func()) {
	abort.Lock()
	defer abort.Unlock()
	abort.fns = append(abort.fns, fn)
	i := len(abort.fns) - 1
	return func() {
		abort.Lock()
		defer abort.Unlock()
		abort.fns[i] = nil
	}
}

// SignalContext returns a context cancelled with cause ErrInterrupted on the first SIGINT or SIGTERM;
// a second SIGINT runs the OnAbort hooks and exits 130 at once.
func SignalContext(parent context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		n := 0
		for {
			select {
			case <-done:
				return
			case sig := <-ch:
				n++
				if n == 1 {
					cancel(ErrInterrupted)
					continue
				}
				if sig == os.Interrupt {
					abort.Lock()
					for _, fn := range abort.fns {
						if fn != nil {
							fn()
						}
					}
					os.Exit(130)
				}
			}
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		close(done)
		cancel(nil)
	}
}
