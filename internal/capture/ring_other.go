//go:build !linux

package capture

import (
	"context"

	"github.com/gopacket/gopacket/layers"

	"github.com/netdoctor/netdoctor/internal/netns"
)

// Handle is an open capture; on this OS none can be opened.
type Handle struct{ cfg Config }

// Open fails with ErrNotSupported: packet capture needs Linux.
func Open(ns *netns.NS, cfg Config) (*Handle, error) { return nil, ErrNotSupported }

// InterfaceLinkType fails with ErrNotSupported.
func InterfaceLinkType(ns *netns.NS, iface string) (layers.LinkType, error) {
	return 0, ErrNotSupported
}

// LinkType is the link type of the capture.
func (h *Handle) LinkType() layers.LinkType { return layers.LinkTypeNull }

// Snaplen is the most bytes kept per packet.
func (h *Handle) Snaplen() int { return h.cfg.Snaplen }

// Iface is the interface name the capture was opened on.
func (h *Handle) Iface() string { return h.cfg.Iface }

// IfaceName names an interface index.
func (h *Handle) IfaceName(idx int) string { return "" }

// UserFiltered reports whether the filter runs in user space.
func (h *Handle) UserFiltered() bool { return false }

// Loop fails with ErrNotSupported.
func (h *Handle) Loop(ctx context.Context, fn func(*Packet) error) error { return ErrNotSupported }

// Stats returns zero counters.
func (h *Handle) Stats() (Stats, error) { return Stats{}, nil }

// Close is a no-op.
func (h *Handle) Close() error { return nil }
