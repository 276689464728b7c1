// Package capture captures packets from inside a network namespace the way tcpdump does, without
// libpcap: an AF_PACKET socket opened in the namespace, a TPACKET_V3 memory-mapped ring, and the
// filter attached in the kernel (SO_ATTACH_FILTER) so that unwanted packets never reach user space.
//
// One interface is captured with a raw socket and its own link type (Ethernet for Ethernet-like and
// loopback devices, raw IP for devices without a link header); "any" uses a cooked socket and
// LINKTYPE_LINUX_SLL, like tcpdump. Packets go to a file (pcap or pcapng, see Writer) or are decoded
// to one line each (Summarize). Multi captures at several points at once while a probe runs and
// follows each probe packet across the points (through VXLAN and NAT), see Multi and Trace.
//
// Every capture is bounded (packet count, duration, file size) and ends cleanly on context
// cancellation: the packets already in the ring are read, the file is flushed and closed, and the
// kernel's counters are returned.
package capture

import (
	"errors"
	"fmt"
	"time"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
)

// Errors callers branch on; they are wrapped with the interface and namespace they are about.
var (
	// ErrNotSupported: packet capture needs Linux.
	ErrNotSupported = errors.New("capture: packet capture is only supported on Linux")
	// ErrNoInterface: the interface does not exist in the namespace.
	ErrNoInterface = errors.New("no such interface")
	// ErrInterfaceGone: the interface went down or was deleted while capturing.
	ErrInterfaceGone = errors.New("interface went down or vanished")
	// ErrPermission: opening a packet socket needs CAP_NET_RAW.
	ErrPermission = errors.New("packet capture needs CAP_NET_RAW: run as root or through the node agent")
)

// AnyInterface captures on every interface of the namespace with a cooked socket (LINKTYPE_LINUX_SLL).
const AnyInterface = "any"

// Defaults for Config fields left zero.
const (
	// DefaultSnaplen is tcpdump's default: whole packets, including GSO super-packets.
	DefaultSnaplen = 262144
	// DefaultBufferSize is the ring size per capture (tcpdump's default is 2 MiB).
	DefaultBufferSize = 4 << 20
	// DefaultBlockTimeout is how long the kernel holds a partly filled ring block before handing it
	// to user space: the worst-case latency of a packet at low rates.
	DefaultBlockTimeout = 50 * time.Millisecond
)

// Config describes one capture point.
type Config struct {
	// Iface is the interface name inside the namespace, or AnyInterface.
	Iface string
	// Snaplen is the most bytes kept of each packet (DefaultSnaplen if zero).
	Snaplen int
	// Filter is a tcpdump filter expression, compiled for the interface's link type; empty captures
	// everything. Ignored when Program is set.
	Filter string
	// Program is an already compiled classic BPF program for the interface's link type (as
	// `tcpdump -ddd` prints it); it takes precedence over Filter.
	Program []bpf.RawInstruction
	// BufferSize is the ring size in bytes (DefaultBufferSize if zero); a bigger ring absorbs
	// longer bursts before the kernel drops.
	BufferSize int
	// BlockTimeout bounds how long a captured packet may wait in a partly filled block
	// (DefaultBlockTimeout if zero).
	BlockTimeout time.Duration
}

func (c Config) withDefaults() Config {
	if c.Iface == "" {
		c.Iface = AnyInterface
	}
	if c.Snaplen <= 0 || c.Snaplen > DefaultSnaplen {
		c.Snaplen = DefaultSnaplen
	}
	if c.BufferSize <= 0 {
		c.BufferSize = DefaultBufferSize
	}
	if c.BlockTimeout <= 0 {
		c.BlockTimeout = DefaultBlockTimeout
	}
	return c
}

// Direction says whether a packet was received by or sent from the host (sll_pkttype).
type Direction uint8

// Directions, as the kernel reports them.
const (
	DirIn        Direction = 0 // PACKET_HOST: addressed to this host
	DirBroadcast Direction = 1 // PACKET_BROADCAST
	DirMulticast Direction = 2 // PACKET_MULTICAST
	DirOtherHost Direction = 3 // PACKET_OTHERHOST: seen in promiscuous mode or forwarded
	DirOut       Direction = 4 // PACKET_OUTGOING: sent by this host (or forwarded out)
)

// String is how tcpdump names the direction in `-i any` output.
func (d Direction) String() string {
	switch d {
	case DirOut:
		return "Out"
	case DirBroadcast:
		return "B"
	case DirMulticast:
		return "M"
	case DirOtherHost:
		return "P"
	}
	return "In"
}

// Packet is one captured packet. Data points into the ring and is valid only until the callback
// that received it returns; copy it to keep it.
type Packet struct {
	// Timestamp is when the kernel saw the packet (same clock in every namespace of the host).
	Timestamp time.Time
	// Data is the packet as stored in a file: starting with the link-layer header of LinkType
	// (for the cooked "any" socket, a 16-byte LINUX_SLL header); at most Snaplen bytes.
	Data []byte
	// Length is the packet's length on the wire (Data may be shorter).
	Length int
	// Ifindex is the interface the packet was seen on (useful with AnyInterface).
	Ifindex int
	// Dir is the packet's direction.
	Dir Direction
	// EndOfBatch is set on the last packet of a batch the kernel handed over (one ring block):
	// a good moment to flush buffered output.
	EndOfBatch bool
}

// Stats are the kernel's counters for a capture (PACKET_STATISTICS), accumulated since Open.
type Stats struct {
	// Received counts packets that passed the kernel filter (tcpdump's "received by filter").
	Received uint64 `json:"received_by_filter"`
	// Dropped counts packets that passed the filter but found no room in the ring.
	Dropped uint64 `json:"dropped_by_kernel"`
}

// String is tcpdump-like: "M received by filter, K dropped by kernel".
func (s Stats) String() string {
	return fmt.Sprintf("%d received by filter, %d dropped by kernel", s.Received, s.Dropped)
}

// LinkTypeFor maps a Linux ARPHRD_* hardware type to the link type a raw socket on that device
// delivers, and reports false when the device needs a cooked socket (LINKTYPE_LINUX_SLL), as
// libpcap does.
func LinkTypeFor(hatype uint16) (layers.LinkType, bool) {
	switch hatype {
	case 1, 772: // ARPHRD_ETHER, ARPHRD_LOOPBACK (Linux loopback carries a zero Ethernet header)
		return layers.LinkTypeEthernet, true
	case 0xfffe: // ARPHRD_NONE (tun, wireguard): no link header, raw IP
		return layers.LinkTypeRaw, true
	}
	return layers.LinkTypeLinuxSLL, false
}

// ErrStop, returned by a Loop callback, ends the loop without error (a bound was reached).
var ErrStop = errors.New("capture: stop")

// LinkTypeName is tcpdump's name for a link type, as in "link-type EN10MB (Ethernet)".
func LinkTypeName(lt layers.LinkType) string {
	switch lt {
	case layers.LinkTypeEthernet:
		return "EN10MB (Ethernet)"
	case layers.LinkTypeLinuxSLL:
		return "LINUX_SLL (Linux cooked v1)"
	case layers.LinkTypeRaw:
		return "RAW (Raw IP)"
	}
	return fmt.Sprintf("%d", int(lt))
}
