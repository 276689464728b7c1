//go:build !linux

package k8s

import (
	"context"
	"errors"
	"net"
)

var errLinux = errors.New("k8s: a --k8s lab needs Linux")

// EnsureBins is Linux-only.
func EnsureBins(context.Context, func(string, ...any)) (Bins, error) { return Bins{}, errLinux }

// EnsureCoreDNS is Linux-only.
func EnsureCoreDNS(context.Context, func(string, ...any)) (string, error) { return "", errLinux }

// ServeRelay is Linux-only.
func ServeRelay(context.Context, net.Listener, string, string) error { return errLinux }
