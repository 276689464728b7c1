//go:build linux

package netns

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"time"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NS is an open handle on a network namespace. The nil *NS is the caller's own namespace.
type NS struct {
	spec  Spec
	path  string
	h     vnetns.NsHandle
	dev   uint64
	ino   uint64
	owner bool
}

// Open opens the namespace spec names. A zero spec returns (nil, nil): the current namespace.
func Open(spec Spec) (*NS, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if spec.IsZero() {
		return nil, nil
	}
	path := spec.Path()
	if spec.PID != 0 {
		if _, err := os.Stat("/proc/" + fmt.Sprint(spec.PID)); err != nil {
			return nil, &Error{NS: spec.String(), Err: ErrProcessGone}
		}
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &Error{NS: spec.String(), Err: classify(spec, err)}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, &Error{NS: spec.String(), Err: err}
	}
	// A path that is not a namespace file (a regular file, a directory) is refused here rather than
	// failing later inside setns with EINVAL.
	if st.Dev != nsfsDev() {
		unix.Close(fd)
		return nil, &Error{NS: spec.String(), Err: fmt.Errorf("%s is not a network namespace file", path)}
	}
	return &NS{spec: spec, path: path, h: vnetns.NsHandle(fd), dev: st.Dev, ino: st.Ino}, nil
}

// OpenPath opens a namespace by name (under /run/netns) or path.
func OpenPath(nameOrPath string) (*NS, error) { return Open(Spec{Netns: nameOrPath}) }

// OpenPID opens the network namespace of a process.
func OpenPID(pid int) (*NS, error) { return Open(Spec{PID: pid}) }

func classify(spec Spec, err error) error {
	switch {
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ESRCH):
		if spec.PID != 0 {
			return ErrProcessGone
		}
		return ErrNotFound
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
		if spec.PID != 0 {
			// A zombie's ns files cannot be opened either; tell exited from forbidden by its state.
			if b, rerr := os.ReadFile("/proc/" + fmt.Sprint(spec.PID) + "/stat"); rerr == nil && zombie(b) {
				return ErrProcessGone
			}
		}
		return ErrPermission
	}
	return err
}

func zombie(stat []byte) bool {
	// /proc/PID/stat: "pid (comm) S ..."; comm may contain ')' so look after the last one.
	for i := len(stat) - 1; i >= 0; i-- {
		if stat[i] == ')' {
			return i+2 < len(stat) && (stat[i+2] == 'Z' || stat[i+2] == 'X')
		}
	}
	return false
}

var nsfsDevCache uint64

func nsfsDev() uint64 {
	if nsfsDevCache != 0 {
		return nsfsDevCache
	}
	var st unix.Stat_t
	if unix.Stat("/proc/self/ns/net", &st) == nil {
		nsfsDevCache = st.Dev
	}
	return nsfsDevCache
}

// Spec is how this namespace was named.
func (ns *NS) Spec() Spec {
	if ns == nil {
		return Spec{}
	}
	return ns.spec
}

// String names the namespace for messages.
func (ns *NS) String() string { return ns.Spec().String() }

// Path is the file the namespace was opened from ("" for the current namespace).
func (ns *NS) Path() string {
	if ns == nil {
		return ""
	}
	return ns.path
}

// Handle is the open namespace file; valid until Close. The current namespace has handle -1.
func (ns *NS) Handle() vnetns.NsHandle {
	if ns == nil {
		return vnetns.None()
	}
	return ns.h
}

// Inode identifies the namespace: two handles with the same inode are the same namespace.
func (ns *NS) Inode() uint64 {
	if ns == nil {
		var st unix.Stat_t
		if unix.Stat("/proc/self/ns/net", &st) == nil {
			return st.Ino
		}
		return 0
	}
	return ns.ino
}

// Close releases the handle. Closing nil is a no-op.
func (ns *NS) Close() error {
	if ns == nil || ns.h < 0 {
		return nil
	}
	err := ns.h.Close()
	ns.h = -1
	return err
}

// Do runs fn inside the namespace on a fresh goroutine locked to its thread and returns fn's error.
// Goroutines fn starts do not run in the namespace. If the thread cannot be returned to its original
// namespace it stays locked, and Go discards it when the goroutine ends.
func (ns *NS) Do(fn func() error) error {
	if ns == nil {
		return fn()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := vnetns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netns: read current namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := vnetns.Set(ns.h); err != nil {
			runtime.UnlockOSThread()
			if errors.Is(err, unix.EPERM) {
				err = ErrPermission
			}
			errc <- &Error{NS: ns.String(), Err: err}
			return
		}
		ferr := fn()
		if err := vnetns.Set(orig); err != nil {
			// Leave the thread locked: it is in the wrong namespace and must die with this goroutine.
			errc <- fmt.Errorf("netns: restore original namespace: %w", err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// Netlink returns a netlink handle that reads and writes this namespace without entering it.
// The caller closes it (Handle.Close).
func (ns *NS) Netlink() (*netlink.Handle, error) {
	if ns == nil {
		return netlink.NewHandle()
	}
	h, err := netlink.NewHandleAt(ns.h)
	if err != nil {
		return nil, fmt.Errorf("netns: netlink handle for %s: %w", ns, err)
	}
	return h, nil
}

// Start starts cmd with the namespace as its network namespace (like nsenter -n). The child is forked
// from a thread inside the namespace; everything else about cmd is left to the caller.
func (ns *NS) Start(cmd *exec.Cmd) error {
	return ns.Do(cmd.Start)
}

// Alive returns nil while the namespace still exists as it was named: the process is alive and in the
// same namespace, or the path still holds the same namespace. Otherwise an *Error wrapping ErrGone or
// ErrProcessGone.
func (ns *NS) Alive() error {
	if ns == nil {
		return nil
	}
	var st unix.Stat_t
	if err := unix.Stat(ns.path, &st); err != nil || st.Ino != ns.ino || st.Dev != ns.dev {
		if ns.spec.PID != 0 {
			return &Error{NS: ns.String(), Err: ErrProcessGone}
		}
		return &Error{NS: ns.String(), Err: ErrGone}
	}
	if ns.spec.PID != 0 {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", ns.spec.PID)); err != nil || zombie(b) {
			return &Error{NS: ns.String(), Err: ErrProcessGone}
		}
	}
	return nil
}

// WatchGone polls Alive every interval (250 ms if zero) until ctx ends, and calls cancel with the
// error the first time the namespace is gone. Run it in its own goroutine.
func (ns *NS) WatchGone(ctx context.Context, interval time.Duration, cancel context.CancelCauseFunc) {
	if ns == nil {
		return
	}
	if interval <= 0 {
		interval = 250 * time.Millisecond
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := ns.Alive(); err != nil {
				cancel(err)
				return
			}
		}
	}
}
