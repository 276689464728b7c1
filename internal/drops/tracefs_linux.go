//go:build linux

package drops

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// tracefsDir is where tracefs is mounted inside the tracer's private mount namespace.
const tracefsDir = "/sys/kernel/tracing"

var instanceSeq atomic.Uint64

// startTracefs traces skb:kfree_skb through a private ftrace instance. tracefs is mounted in a
// private mount namespace of one locked OS thread, so nothing appears in the host's mounts; the
// instance directory is removed at Stop (a SIGKILL leaves it behind under
// /sys/kernel/tracing/instances/netdoctor-drops-*, empty and disabled).
func startTracefs(ctx context.Context, opts Options) (*Tracer, error) {
	type setup struct {
		pipe *os.File
		err  error
	}
	ready := make(chan setup, 1)
	release := make(chan struct{})
	released := make(chan struct{})
	inst := fmt.Sprintf("%s/instances/netdoctor-drops-%d-%d", tracefsDir, os.Getpid(), instanceSeq.Add(1))
	enable := inst + "/events/skb/kfree_skb/enable"
	go func() {
		defer close(released)
		runtime.LockOSThread() // never unlocked: the thread, and its mount namespace, die with it
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			ready <- setup{err: tracefsError("private mount namespace", err)}
			return
		}
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			ready <- setup{err: tracefsError("make mounts private", err)}
			return
		}
		if err := unix.Mount("nodev", tracefsDir, "tracefs", 0, ""); err != nil {
			ready <- setup{err: tracefsError("mount tracefs", err)}
			return
		}
		if err := os.Mkdir(inst, 0o700); err != nil {
			ready <- setup{err: tracefsError("create ftrace instance", err)}
			return
		}
		fail := func(what string, err error) {
			os.WriteFile(enable, []byte("0"), 0)
			unix.Rmdir(inst)
			ready <- setup{err: tracefsError(what, err)}
		}
		if err := os.WriteFile(enable, []byte("1"), 0); err != nil {
			fail("enable skb:kfree_skb", err)
			return
		}
		fd, err := unix.Open(inst+"/trace_pipe", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != nil {
			fail("open trace_pipe", err)
			return
		}
		ready <- setup{pipe: os.NewFile(uintptr(fd), "trace_pipe")}
		<-release
		os.WriteFile(enable, []byte("0"), 0)
		unix.Rmdir(inst)
	}()
	s := <-ready
	if s.err != nil {
		return nil, s.err
	}
	t := &Tracer{mode: ModeTracefs, events: make(chan Event, opts.Buffer), done: make(chan struct{})}
	stopping := make(chan struct{})
	t.stop = func() {
		close(stopping)
		// Drain what the kernel already buffered, then end the read loop.
		s.pipe.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	}
	go func() {
		defer close(t.done)
		defer func() { <-released }()
		defer close(release)
		defer s.pipe.Close()
		defer close(t.events)
		sc := bufio.NewScanner(s.pipe)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for {
			if !sc.Scan() {
				err := sc.Err()
				if errors.Is(err, os.ErrDeadlineExceeded) {
					select {
					case <-stopping:
						return
					default:
					}
				}
				if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
					// EOF or a spurious timeout: keep reading with a fresh scanner.
					s.pipe.SetReadDeadline(time.Time{})
					sc = bufio.NewScanner(s.pipe)
					sc.Buffer(make([]byte, 64*1024), 1024*1024)
					continue
				}
				return
			}
			if e, ok := ParseTraceLine(sc.Text(), time.Now()); ok {
				t.events <- e
			}
		}
	}()
	return t, nil
}

func tracefsError(what string, err error) error {
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return fmt.Errorf("%w: tracefs: %s: %v", ErrPermission, what, err)
	}
	return fmt.Errorf("drops: tracefs: %s: %w", what, err)
}
