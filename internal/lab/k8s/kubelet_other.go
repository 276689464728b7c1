//go:build !linux

package k8s

import (
	"context"
	"errors"
)

// errNotLinux: kubelet, containerd and network namespaces exist only on Linux.
var errNotLinux = errors.New("k8s: a lab's kubelet runs only on Linux")

// StartKubelet runs containerd and kubelet on a lab node; only on Linux.
func StartKubelet(context.Context, KubeletSpec, func(string, ...any)) ([]*Proc, error) {
	return nil, errNotLinux
}

// ImportImage imports an image archive into a node's containerd; only on Linux.
func ImportImage(context.Context, KubeletSpec, string) error { return errNotLinux }

// CleanupKubelet removes a node's kubelet and containerd; only on Linux.
func CleanupKubelet(string, string) error { return errNotLinux }
