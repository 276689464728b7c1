//go:build !linux

package netns

import (
	"context"
	"os/exec"
	"time"

	"github.com/vishvananda/netlink"
)

// NS is an open handle on a network namespace; on this OS none can be opened.
type NS struct{}

// Open returns ErrNotSupportedOnOS for any non-zero spec.
func Open(spec Spec) (*NS, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if spec.IsZero() {
		return nil, nil
	}
	return nil, &Error{NS: spec.String(), Err: ErrNotSupportedOnOS}
}

func OpenPath(p string) (*NS, error) { return Open(Spec{Netns: p}) }
func OpenPID(pid int) (*NS, error)   { return Open(Spec{PID: pid}) }

func (ns *NS) Spec() Spec                                                        { return Spec{} }
func (ns *NS) String() string                                                    { return "current netns" }
func (ns *NS) Path() string                                                      { return "" }
func (ns *NS) Inode() uint64                                                     { return 0 }
func (ns *NS) Close() error                                                      { return nil }
func (ns *NS) Do(fn func() error) error                                          { return fn() }
func (ns *NS) Start(cmd *exec.Cmd) error                                         { return cmd.Start() }
func (ns *NS) Alive() error                                                      { return nil }
func (ns *NS) WatchGone(context.Context, time.Duration, context.CancelCauseFunc) {}

// Netlink is not available on this OS.
func (ns *NS) Netlink() (*netlink.Handle, error) { return nil, ErrNotSupportedOnOS }
