//go:build linux

package capture

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/netdoctor/netdoctor/internal/capture/filter"
	"github.com/netdoctor/netdoctor/internal/netns"
)

// Ring geometry. A block must hold the largest packet we keep (GSO super-packets reach 64 KiB).
const (
	blockSize = 256 << 10
	frameSize = 2048 // only checked by the kernel for TPACKET_V3; packets are packed in blocks
	// Offsets in a block descriptor (struct tpacket_block_desc / tpacket_hdr_v1).
	bdBlockStatus = 8
	bdNumPkts     = 12
	bdFirstPkt    = 16
	// sockaddr_ll follows the tpacket3_hdr, aligned (TPACKET_ALIGN(sizeof(struct tpacket3_hdr))).
	sllOffset = 48
	sllEnd    = sllOffset + unix.SizeofSockaddrLinklayer
	// pollInterval bounds how long the loop waits before checking the socket for an error (an
	// interface that vanished): well within the second the CLI contract allows.
	pollInterval = 250 * time.Millisecond
)

// Handle is an open capture: a bound packet socket with its ring. It is used by one goroutine at a
// time; Close it when done.
type Handle struct {
	cfg      Config
	ns       *netns.NS
	fd       int
	ring     []byte
	blocks   int
	cur      int
	linkType layers.LinkType
	cooked   bool
	ifindex  int
	user     *userFilter
	stats    Stats
	ifnames  map[int]string
	vlanBuf  []byte
	closed   bool
	file     *os.File        // owns fd once the socket is bound
	rc       syscall.RawConn // waits for ring blocks in the runtime poller
}

// Open opens a capture on cfg.Iface inside ns (nil: the current namespace). When Open returns
// the socket is bound with its filter attached: every matching packet from then on is captured.
// Errors: ErrNoInterface, ErrInterfaceGone (the interface is down), ErrPermission, a
// *FilterError for a filter that does not compile, or a netns error.
func Open(ns *netns.NS, cfg Config) (*Handle, error) {
	cfg = cfg.withDefaults()
	h := &Handle{cfg: cfg, ns: ns, fd: -1}
	err := ns.Do(h.open)
	if err != nil {
		h.Close()
		return nil, err
	}
	return h, nil
}

func (h *Handle) open() error {
	cfg := h.cfg
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return ErrPermission
		}
		return fmt.Errorf("capture: packet socket: %w", err)
	}
	h.fd = fd
	if cfg.Iface == AnyInterface {
		h.linkType, h.cooked = layers.LinkTypeLinuxSLL, true
	} else {
		idx, hatype, up, err := ifaceInfo(fd, cfg.Iface)
		if err != nil {
			return err
		}
		if !up {
			return fmt.Errorf("capture: interface %q is down: %w", cfg.Iface, ErrInterfaceGone)
		}
		h.ifindex = idx
		lt, raw := LinkTypeFor(hatype)
		h.linkType, h.cooked = lt, !raw
	}
	if h.cooked {
		unix.Close(h.fd)
		h.fd = -1
		if h.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0); err != nil {
			return fmt.Errorf("capture: cooked packet socket: %w", err)
		}
	}
	prog, err := h.program()
	if err != nil {
		return err
	}
	if err := unix.SetsockoptInt(h.fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return fmt.Errorf("capture: TPACKET_V3: %w", err)
	}
	h.blocks = cfg.BufferSize / blockSize
	if h.blocks < 2 {
		h.blocks = 2
	}
	req := unix.TpacketReq3{
		Block_size:     blockSize,
		Block_nr:       uint32(h.blocks),
		Frame_size:     frameSize,
		Frame_nr:       uint32(h.blocks * (blockSize / frameSize)),
		Retire_blk_tov: uint32(cfg.BlockTimeout / time.Millisecond),
	}
	if req.Retire_blk_tov == 0 {
		req.Retire_blk_tov = 1
	}
	if err := unix.SetsockoptTpacketReq3(h.fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return fmt.Errorf("capture: ring of %d blocks: %w", h.blocks, err)
	}
	if h.ring, err = unix.Mmap(h.fd, 0, h.blocks*blockSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err != nil {
		return fmt.Errorf("capture: map ring: %w", err)
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: (*unix.SockFilter)(unsafe.Pointer(&prog[0]))}
	if err := unix.SetsockoptSockFprog(h.fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog); err != nil {
		return fmt.Errorf("capture: attach filter to the socket: %w", err)
	}
	// The socket was created with protocol 0, so it received nothing until this bind: no packet
	// can slip in before the filter.
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: h.ifindex}
	if err := unix.Bind(h.fd, sa); err != nil {
		if errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENXIO) {
			return fmt.Errorf("capture: %q: %w", cfg.Iface, ErrNoInterface)
		}
		return fmt.Errorf("capture: bind to %q: %w", cfg.Iface, err)
	}
	// Hand the socket to Go's poller: Loop then waits in epoll instead of a blocking poll(2).
	if err := unix.SetNonblock(h.fd, true); err != nil {
		return fmt.Errorf("capture: non-blocking socket: %w", err)
	}
	h.file = os.NewFile(uintptr(h.fd), "packet:"+cfg.Iface)
	if h.rc, err = h.file.SyscallConn(); err != nil {
		return fmt.Errorf("capture: socket: %w", err)
	}
	h.ifnames = map[int]string{}
	if ifs, err := net.Interfaces(); err == nil {
		for _, i := range ifs {
			h.ifnames[i.Index] = i.Name
		}
	}
	return nil
}

// program compiles the filter for the socket and decides where it runs: in the kernel, or in user
// space when the kernel would not see what the filter reads (a cooked socket's SLL address bytes;
// 802.1Q tags, which the kernel keeps as metadata and Loop puts back into the frame).
func (h *Handle) program() ([]bpf.RawInstruction, error) {
	cfg := h.cfg
	prog := cfg.Program
	if prog == nil && cfg.Filter != "" {
		var err error
		if prog, err = compileFilter(cfg.Filter, int(h.linkType), cfg.Snaplen); err != nil {
			return nil, &FilterError{Expr: cfg.Filter, Err: err}
		}
	}
	if prog == nil {
		return acceptAll(cfg.Snaplen), nil
	}
	kernel, ok := prog, true
	if h.cooked {
		kernel, ok = kernelProgram(prog)
	}
	if ok && !(cfg.Program == nil && filter.UsesVLAN(cfg.Filter)) {
		return kernel, nil
	}
	uf, err := newUserFilter(prog)
	if err != nil {
		return nil, &FilterError{Expr: cfg.Filter, Err: err}
	}
	h.user = uf
	return acceptAll(h.Snaplen() + 4), nil
}

// ifaceInfo returns the index, ARPHRD type and up state of an interface of the socket's namespace.
func ifaceInfo(fd int, name string) (int, uint16, bool, error) {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return 0, 0, false, fmt.Errorf("capture: %q: %w", name, ErrNoInterface)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, ifr); err != nil {
		if errors.Is(err, unix.ENODEV) {
			return 0, 0, false, fmt.Errorf("capture: %q: %w", name, ErrNoInterface)
		}
		return 0, 0, false, fmt.Errorf("capture: index of %q: %w", name, err)
	}
	idx := int(ifr.Uint32())
	ifr, _ = unix.NewIfreq(name)
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFHWADDR, ifr); err != nil {
		return 0, 0, false, fmt.Errorf("capture: hardware type of %q: %w", name, err)
	}
	hatype := ifr.Uint16() // sa_family of ifr_hwaddr
	ifr, _ = unix.NewIfreq(name)
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return 0, 0, false, fmt.Errorf("capture: flags of %q: %w", name, err)
	}
	return idx, hatype, ifr.Uint16()&unix.IFF_UP != 0, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// LinkType is the link type of the packets Loop delivers (and of a file written from them).
func (h *Handle) LinkType() layers.LinkType { return h.linkType }

// Snaplen is the most bytes kept per packet.
func (h *Handle) Snaplen() int {
	if h.cooked {
		return h.cfg.Snaplen + sllHeaderLen
	}
	return h.cfg.Snaplen
}

// Iface is the interface name the capture was opened on (or AnyInterface).
func (h *Handle) Iface() string { return h.cfg.Iface }

// IfaceName names an interface index of the capture's namespace ("" if unknown).
func (h *Handle) IfaceName(idx int) string {
	if n, ok := h.ifnames[idx]; ok {
		return n
	}
	var name string
	_ = h.ns.Do(func() error {
		if i, err := net.InterfaceByIndex(idx); err == nil {
			name = i.Name
		}
		return nil
	})
	h.ifnames[idx] = name
	return name
}

// UserFiltered reports whether the filter runs in user space (a cooked capture whose filter reads
// the SLL header beyond the packet type and protocol, or a filter on 802.1Q tags); it normally
// runs in the kernel. In user space, Stats' Received counts every packet, not only matching ones.
func (h *Handle) UserFiltered() bool { return h.user != nil }

// Loop delivers packets to fn until ctx ends, fn returns an error, or the interface goes away.
// When ctx ends, Loop keeps reading for one block timeout so that packets the kernel already
// captured are delivered, then returns nil. fn returning ErrStop ends Loop with nil; another error
// from fn is returned as is. An interface that goes down or is deleted ends Loop with an error
// wrapping ErrInterfaceGone within one poll interval (250 ms).
//
// Loop waits in Go's network poller (epoll), not in a blocking system call: the kernel signals the
// socket each time it hands a ring block over, and no OS thread is held while waiting.
func (h *Handle) Loop(ctx context.Context, fn func(*Packet) error) error {
	// Wake a parked reader as soon as ctx ends.
	stopWake := context.AfterFunc(ctx, func() { _ = h.file.SetReadDeadline(time.Now()) })
	defer stopWake()
	var drainUntil time.Time
	var p Packet
	ready := func(uintptr) bool { return h.blockReady() }
	for {
		if h.blockReady() {
			base := h.cur * blockSize
			err := h.block(base, &p, fn)
			atomic.StoreUint32(h.status(base), unix.TP_STATUS_KERNEL)
			h.cur = (h.cur + 1) % h.blocks
			if err == ErrStop {
				return nil
			}
			if err != nil {
				return err
			}
			continue
		}
		deadline := time.Now().Add(pollInterval)
		if ctx.Err() != nil {
			if drainUntil.IsZero() {
				drainUntil = time.Now().Add(h.cfg.BlockTimeout + 20*time.Millisecond)
			}
			if !time.Now().Before(drainUntil) {
				return nil
			}
			deadline = drainUntil
		}
		_ = h.file.SetReadDeadline(deadline)
		err := h.rc.Read(ready)
		if err == nil {
			continue // a block is ready
		}
		// A deadline (every pollInterval when idle) or an event error: has the interface gone?
		// EPOLLERR comes with EPOLLOUT on a packet socket, so it does not always end Read.
		if serr := h.sockErr(); serr != nil {
			return serr
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return fmt.Errorf("capture: wait for packets: %w", err)
		}
	}
}

func (h *Handle) status(base int) *uint32 {
	return (*uint32)(unsafe.Pointer(&h.ring[base+bdBlockStatus]))
}

// blockReady reports whether the kernel handed the current block to user space.
func (h *Handle) blockReady() bool {
	return atomic.LoadUint32(h.status(h.cur*blockSize))&unix.TP_STATUS_USER != 0
}

// sockErr reads and clears the socket's pending error. It is a raw system call: getsockopt never
// blocks, and going through the scheduler's syscall path would wake the runtime's sysmon thread
// several times a second for nothing.
func (h *Handle) sockErr() error {
	var e int32
	l := uint32(4)
	_, _, errno := unix.RawSyscall6(unix.SYS_GETSOCKOPT, uintptr(h.fd), unix.SOL_SOCKET, unix.SO_ERROR,
		uintptr(unsafe.Pointer(&e)), uintptr(unsafe.Pointer(&l)), 0)
	if errno != 0 {
		return fmt.Errorf("capture: socket error: %w", errno)
	}
	switch unix.Errno(e) {
	case 0:
		return nil
	case unix.ENETDOWN, unix.ENODEV, unix.ENXIO:
		return fmt.Errorf("capture: %q: %w", h.cfg.Iface, ErrInterfaceGone)
	}
	return fmt.Errorf("capture: %q: %w", h.cfg.Iface, unix.Errno(e))
}

// block delivers the packets of the user-owned block at base.
func (h *Handle) block(base int, p *Packet, fn func(*Packet) error) error {
	n := int(binary.NativeEndian.Uint32(h.ring[base+bdNumPkts:]))
	off := base + int(binary.NativeEndian.Uint32(h.ring[base+bdFirstPkt:]))
	for i := 0; i < n; i++ {
		hdr := (*unix.Tpacket3Hdr)(unsafe.Pointer(&h.ring[off]))
		p.EndOfBatch = i == n-1
		if h.fill(off, hdr, p) {
			if err := fn(p); err != nil {
				return err
			}
		}
		off += int(hdr.Next_offset)
	}
	return nil
}

// fill turns the ring frame at off into p; false when a user-space filter rejects it.
func (h *Handle) fill(off int, hdr *unix.Tpacket3Hdr, p *Packet) bool {
	sll := (*unix.RawSockaddrLinklayer)(unsafe.Pointer(&h.ring[off+sllOffset]))
	mac := off + int(hdr.Mac)
	snap := int(hdr.Snaplen)
	length := int(hdr.Len)
	p.Timestamp = time.Unix(int64(hdr.Sec), int64(hdr.Nsec))
	p.Ifindex = int(sll.Ifindex)
	p.Dir = Direction(sll.Pkttype)
	switch {
	case h.cooked:
		start := mac - sllHeaderLen
		var b []byte
		if start >= off+sllEnd {
			b = h.ring[start : mac+snap]
		} else {
			b = h.scratch(sllHeaderLen + snap)
			copy(b[sllHeaderLen:], h.ring[mac:mac+snap])
		}
		binary.BigEndian.PutUint16(b[0:], uint16(sll.Pkttype))
		binary.BigEndian.PutUint16(b[2:], sll.Hatype)
		halen := int(sll.Halen)
		if halen > 8 {
			halen = 8
		}
		binary.BigEndian.PutUint16(b[4:], uint16(halen))
		copy(b[6:14], sll.Addr[:8])
		binary.NativeEndian.PutUint16(b[14:], sll.Protocol) // already in network order
		p.Data, p.Length = b, length+sllHeaderLen
	case hdr.Status&unix.TP_STATUS_VLAN_VALID != 0 && h.linkType == layers.LinkTypeEthernet && snap >= 12:
		// The NIC (or veth) stripped the 802.1Q tag into metadata: put it back, as libpcap does.
		tpid := uint16(0x8100)
		if hdr.Status&unix.TP_STATUS_VLAN_TPID_VALID != 0 && hdr.Hv1.Vlan_tpid != 0 {
			tpid = hdr.Hv1.Vlan_tpid
		}
		b := h.scratch(snap + 4)
		copy(b[:12], h.ring[mac:mac+12])
		binary.BigEndian.PutUint16(b[12:], tpid)
		binary.BigEndian.PutUint16(b[14:], uint16(hdr.Hv1.Vlan_tci))
		copy(b[16:], h.ring[mac+12:mac+snap])
		p.Data, p.Length = b, length+4
	default:
		p.Data, p.Length = h.ring[mac:mac+snap], length
	}
	if h.user != nil {
		keep := h.user.keep(p.Data)
		if keep == 0 {
			return false
		}
		if keep < len(p.Data) {
			p.Data = p.Data[:keep]
		}
	}
	if max := h.Snaplen(); len(p.Data) > max {
		p.Data = p.Data[:max]
	}
	return true
}

func (h *Handle) scratch(n int) []byte {
	if cap(h.vlanBuf) < n {
		h.vlanBuf = make([]byte, n)
	}
	return h.vlanBuf[:n]
}

// Stats returns the kernel's counters accumulated since Open (reading them resets the kernel's
// copy, so Handle keeps the running sum).
func (h *Handle) Stats() (Stats, error) {
	if h.fd < 0 {
		return h.stats, nil
	}
	st, err := unix.GetsockoptTpacketStatsV3(h.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return h.stats, fmt.Errorf("capture: read kernel counters: %w", err)
	}
	// The kernel's tp_packets already includes tp_drops (both passed the filter).
	h.stats.Received += uint64(st.Packets)
	h.stats.Dropped += uint64(st.Drops)
	return h.stats, nil
}

// Close releases the ring and the socket; the final counters stay available through Stats.
func (h *Handle) Close() error {
	if h == nil || h.closed {
		return nil
	}
	h.closed = true
	if h.fd >= 0 {
		_, _ = h.Stats()
	}
	if h.ring != nil {
		_ = unix.Munmap(h.ring)
		h.ring = nil
	}
	var err error
	switch {
	case h.file != nil:
		err = h.file.Close()
	case h.fd >= 0:
		err = unix.Close(h.fd)
	}
	h.fd = -1
	return err
}

// InterfaceLinkType is the link type a capture on iface inside ns would have (what a filter must
// be compiled for), without capturing anything.
func InterfaceLinkType(ns *netns.NS, iface string) (layers.LinkType, error) {
	if iface == "" || iface == AnyInterface {
		return layers.LinkTypeLinuxSLL, nil
	}
	var lt layers.LinkType
	err := ns.Do(func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("capture: socket: %w", err)
		}
		defer unix.Close(fd)
		_, hatype, _, err := ifaceInfo(fd, iface)
		if err != nil {
			return err
		}
		lt, _ = LinkTypeFor(hatype)
		return nil
	})
	return lt, err
}
