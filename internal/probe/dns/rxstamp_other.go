//go:build !linux

package dns

import (
	"net"
	"time"
)

// enableRxStamp: kernel receive timestamps are used on Linux only.
func enableRxStamp(*net.UDPConn) bool { return false }

// readStamped reads one datagram; there is no kernel receive time on this OS.
func readStamped(c *net.UDPConn, buf, _ []byte) (int, time.Time, error) {
	n, err := c.Read(buf)
	return n, time.Time{}, err
}
