//go:build !linux

package lab

import (
	"context"
	"errors"

	"github.com/vishvananda/netlink"
)

// ErrNotSupportedOnOS: the lab needs Linux network namespaces.
var ErrNotSupportedOnOS = errors.New("lab: network namespaces are only supported on Linux")

// UpOptions configure Up.
type UpOptions struct {
	Options
	Fault     *Fault
	Exe       string
	Progressf func(format string, args ...any)
}

// Up is not supported on this OS.
func Up(context.Context, UpOptions) (*Lab, error) { return nil, ErrNotSupportedOnOS }

// Down is not supported on this OS.
func Down(context.Context, string) error { return ErrNotSupportedOnOS }

// RunFlow is not supported on this OS.
func (l *Lab) RunFlow(_ context.Context, f Flow) FlowResult {
	return FlowResult{Flow: f, Got: OutcomeError, Detail: ErrNotSupportedOnOS.Error()}
}

// Exec is not supported on this OS.
func (l *Lab) Exec(context.Context, string, string, string, ...string) (string, error) {
	return "", ErrNotSupportedOnOS
}

// IPTables is not supported on this OS.
func (l *Lab) IPTables(context.Context, string, ...string) error { return ErrNotSupportedOnOS }

// Sysctl is not supported on this OS.
func (l *Lab) Sysctl(string, string, string) error { return ErrNotSupportedOnOS }

// Netlink is not supported on this OS.
func (l *Lab) Netlink(string, func(h *netlink.Handle) error) error { return ErrNotSupportedOnOS }

// SetMTU is not supported on this OS.
func (l *Lab) SetMTU(string, string, int) error { return ErrNotSupportedOnOS }

// RestoreIPTables is not supported on this OS.
func (l *Lab) RestoreIPTables(context.Context, string, string) error { return ErrNotSupportedOnOS }

// Veth is not supported on this OS.
func (l *Lab) Veth(string, string, string, string) error { return ErrNotSupportedOnOS }
