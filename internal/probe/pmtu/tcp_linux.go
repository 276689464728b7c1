//go:build linux

package pmtu

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"
)

// tcpAnswer marks an answer that is the destination's TCP SYN/ACK or RST, not an ICMP message.
const tcpAnswer = -1

// tcpState is what TCP probing needs: a raw TCP socket that sends hand-made SYNs carrying size-40
// bytes of payload with DF set and sees the destination's SYN/ACK or RST, the source address for the
// checksum, and the source port of each probe (one per probe, so answers are unambiguous).
type tcpState struct {
	conn  *net.IPConn
	src   netip.Addr
	mu    sync.Mutex
	ports map[uint16]int // source port → probe size
}

// openTCP runs inside the namespace: it opens the raw TCP socket and learns the source address the
// kernel would use towards the target.
func (p *prober) openTCP() error {
	c, err := net.ListenPacket("ip4:tcp", "0.0.0.0")
	if err != nil {
		return err
	}
	u, err := net.Dial("udp4", netip.AddrPortFrom(p.o.Target, uint16(p.o.Port)).String())
	if err != nil {
		c.Close()
		return err
	}
	src := u.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
	u.Close()
	p.tcp = &tcpState{conn: c.(*net.IPConn), src: src, ports: map[uint16]int{}}
	return nil
}

// sendTCP sends a SYN of size bytes (IP header included) from a fresh source port.
func (p *prober) sendTCP(size int) error {
	var r [6]byte
	_, _ = rand.Read(r[:])
	sport := 32768 + binary.BigEndian.Uint16(r[:2])%28000
	seg := make([]byte, size-20)
	binary.BigEndian.PutUint16(seg[0:], sport)
	binary.BigEndian.PutUint16(seg[2:], uint16(p.o.Port))
	copy(seg[4:8], r[2:6]) // sequence number
	seg[12] = 5 << 4       // data offset: 20 bytes, no options
	seg[13] = 0x02         // SYN
	binary.BigEndian.PutUint16(seg[14:], 64240)
	binary.BigEndian.PutUint16(seg[16:], tcpChecksum(p.tcp.src, p.o.Target, seg))
	p.tcp.mu.Lock()
	p.tcp.ports[sport] = size
	p.tcp.mu.Unlock()
	_, err := p.tcp.conn.WriteTo(seg, &net.IPAddr{IP: p.o.Target.AsSlice()})
	return err
}

// tcpSize returns the size of the probe sent from sport, if it is ours.
func (p *prober) tcpSize(sport uint16) (int, bool) {
	if p.tcp == nil {
		return 0, false
	}
	p.tcp.mu.Lock()
	defer p.tcp.mu.Unlock()
	size, ok := p.tcp.ports[sport]
	return size, ok
}

// receiveTCP passes on the destination's SYN/ACK or RST to our probes until done.
func (p *prober) receiveTCP(done chan struct{}) {
	buf := make([]byte, 65536)
	for {
		n, from, err := p.tcp.conn.ReadFrom(buf)
		if err != nil {
			select {
			case <-done:
				return
			default:
			}
			if isClosed(err) {
				return
			}
			continue
		}
		at := time.Now()
		seg := buf[:n]
		src, ok := netip.AddrFromSlice(from.(*net.IPAddr).IP)
		if !ok || src.Unmap() != p.o.Target || len(seg) < 20 || int(binary.BigEndian.Uint16(seg[0:2])) != p.o.Port {
			continue
		}
		flags := seg[13]
		if flags&0x04 == 0 && flags&0x12 != 0x12 { // neither RST nor SYN/ACK
			continue
		}
		size, ok := p.tcpSize(binary.BigEndian.Uint16(seg[2:4]))
		if !ok {
			continue
		}
		select {
		case p.answers <- answer{size: size, from: p.o.Target, icmpType: tcpAnswer, at: at}:
		case <-done:
			return
		}
	}
}

func tcpChecksum(src, dst netip.Addr, seg []byte) uint16 {
	pseudo := make([]byte, 12, 12+len(seg))
	s4, d4 := src.As4(), dst.As4()
	copy(pseudo[0:4], s4[:])
	copy(pseudo[4:8], d4[:])
	pseudo[9] = 6
	binary.BigEndian.PutUint16(pseudo[10:], uint16(len(seg)))
	return checksum(append(pseudo, seg...))
}

// isClosed reports the error of reading a closed socket.
func isClosed(err error) bool { return errors.Is(err, net.ErrClosed) }
