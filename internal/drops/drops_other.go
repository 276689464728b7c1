//go:build !linux

package drops

import "context"

func start(context.Context, Options) (*Tracer, error) { return nil, ErrNotSupported }

// Namer names network namespaces by inode (Linux only; elsewhere it names nothing).
type Namer struct{ given map[uint64]string }

// NewNamer returns a Namer that knows only the given names.
func NewNamer(given map[uint64]string) *Namer { return &Namer{given: given} }

// Name returns the given name of inode, or "".
func (n *Namer) Name(inode uint64) string { return n.given[inode] }

// Inode returns 0: namespaces are Linux-only.
func Inode(string) uint64 { return 0 }
