// Command vlaninject re-sends frames of a pcap file on an interface with 802.1Q / 802.1ad tags
// inserted, so that a capture running on that interface records real VLAN-tagged frames. It exists
// because the test kernel has no 802.1Q support (CONFIG_VLAN_8021Q unset): a vlan subinterface
// cannot be created there. Used by gen_corpus.sh only, inside a throw-away namespace.
//
// Usage: vlaninject IFACE IN.pcap
package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "vlaninject:", err)
		os.Exit(1)
	}
}

// tags lists, in order, how each selected frame is tagged: outer TPID/TCI pairs.
var tags = [][]uint16{
	{0x8100, 100},              // plain VLAN 100
	{0x8100, 200 | 5<<13},      // VLAN 200 with priority 5
	{0x88a8, 300, 0x8100, 100}, // QinQ: service 300, customer 100
	{0x8100, 0},                // priority-tagged (VID 0)
	{0x9100, 400, 0x8100, 200}, // old QinQ TPID
}

func run(args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("usage: vlaninject IFACE IN.pcap")
	}
	ifi, err := net.InterfaceByName(args[0])
	if err != nil {
		return err
	}
	frames, err := readPcap(args[1])
	if err != nil {
		return err
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	sa := &unix.SockaddrLinklayer{Ifindex: ifi.Index}
	sent := 0
	for i, f := range frames {
		if len(f) < 14 {
			continue
		}
		tag := tags[i%len(tags)]
		if len(f)+2*len(tag) > 1514+4 {
			continue
		}
		out := make([]byte, 0, len(f)+2*len(tag))
		out = append(out, f[:12]...)
		for _, v := range tag {
			out = binary.BigEndian.AppendUint16(out, v)
		}
		out = append(out, f[12:]...)
		if err := unix.Sendto(fd, out, 0, sa); err != nil {
			return fmt.Errorf("send frame %d: %w", i, err)
		}
		sent++
	}
	fmt.Println("vlaninject: sent", sent)
	return nil
}

// readPcap reads the frames of a little-endian microsecond pcap file, stopping at a truncated
// record (the file may still be written by a running tcpdump -U).
func readPcap(path string) ([][]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) < 24 || binary.LittleEndian.Uint32(b) != 0xa1b2c3d4 {
		return nil, fmt.Errorf("%s: not a little-endian pcap file", path)
	}
	var frames [][]byte
	for off := 24; off+16 <= len(b); {
		n := int(binary.LittleEndian.Uint32(b[off+8:]))
		if off+16+n > len(b) {
			break
		}
		frames = append(frames, b[off+16:off+16+n])
		off += 16 + n
	}
	if len(frames) == 0 {
		return nil, io.ErrUnexpectedEOF
	}
	return frames, nil
}
