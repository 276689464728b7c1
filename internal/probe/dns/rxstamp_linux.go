//go:build linux

package dns

import (
	"net"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// enableRxStamp asks the kernel to stamp each received datagram (SO_TIMESTAMPNS), so the reported
// latency ends when the answer reached the socket, not when the Go scheduler got round to reading it.
func enableRxStamp(c *net.UDPConn) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return false
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	}); err != nil || serr != nil {
		return false
	}
	return true
}

// readStamped reads one datagram and returns the kernel's receive time (zero when it gave none).
func readStamped(c *net.UDPConn, buf, oob []byte) (int, time.Time, error) {
	n, oobn, _, _, err := c.ReadMsgUDP(buf, oob)
	if err != nil {
		return n, time.Time{}, err
	}
	msgs, perr := unix.ParseSocketControlMessage(oob[:oobn])
	if perr != nil {
		return n, time.Time{}, nil
	}
	for _, m := range msgs {
		var ts unix.Timespec
		if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SO_TIMESTAMPNS && len(m.Data) >= int(unsafe.Sizeof(ts)) {
			copy(unsafe.Slice((*byte)(unsafe.Pointer(&ts)), unsafe.Sizeof(ts)), m.Data)
			return n, time.Unix(ts.Unix()), nil
		}
	}
	return n, time.Time{}, nil
}
