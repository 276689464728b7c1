//go:build linux

package analyze_test

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netdoctor/netdoctor/internal/analyze"
	"github.com/netdoctor/netdoctor/internal/testenv"
)

// startMsgServer listens on addr inside n and answers every length-prefixed message with "ok" once
// it has read it whole. It stops when the test ends.
func startMsgServer(t *testing.T, n *testenv.NetNS, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	if err := n.NS.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err
	}); err != nil {
		t.Fatalf("listen %s in %s: %v", addr, n.Name, err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var hdr [4]byte
				for {
					if _, err := io.ReadFull(c, hdr[:]); err != nil {
						return
					}
					if _, err := io.CopyN(io.Discard, c, int64(binary.BigEndian.Uint32(hdr[:]))); err != nil {
						return
					}
					if _, err := c.Write([]byte("ok")); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln
}

// dialFrom opens a TCP connection from inside n.
func dialFrom(t *testing.T, n *testenv.NetNS, addr string, timeout time.Duration) (net.Conn, error) {
	t.Helper()
	var c net.Conn
	err := n.NS.Do(func() error {
		var err error
		c, err = net.DialTimeout("tcp", addr, timeout)
		return err
	})
	if c != nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

// sendMsg sends one length-prefixed message of size bytes and waits up to wait for the "ok".
func sendMsg(c net.Conn, size int, wait time.Duration) error {
	buf := make([]byte, 4+size)
	binary.BigEndian.PutUint32(buf, uint32(size))
	for i := 4; i < len(buf); i++ {
		buf[i] = byte('a' + i%26)
	}
	_ = c.SetDeadline(time.Now().Add(wait))
	if _, err := c.Write(buf); err != nil {
		return fmt.Errorf("write %d bytes: %w", size, err)
	}
	var ok [2]byte
	if _, err := io.ReadFull(c, ok[:]); err != nil {
		return fmt.Errorf("read answer to %d bytes: %w", size, err)
	}
	return nil
}

// tsharkCount counts the packets of file matching a Wireshark display filter.
func tsharkCount(t *testing.T, file, filter string) int {
	t.Helper()
	testenv.RequireTool(t, "tshark")
	out, err := exec.Command("tshark", "-n", "-2", "-r", file, "-Y", filter, "-T", "fields", "-e", "frame.number").CombinedOutput()
	if err != nil {
		t.Fatalf("tshark -r %s -Y %s: %v: %s", file, filter, err, out)
	}
	n := 0
	for _, l := range strings.Split(string(out), "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.Contains(l, " ") {
			n++
		}
	}
	return n
}

func totalRetrans(r *analyze.Result) int {
	n := 0
	for _, c := range r.Connections {
		n += c.ToServer.Retransmissions + c.ToClient.Retransmissions
	}
	return n
}

func pcapPath(t *testing.T, name string) string {
	if d := os.Getenv("ND_KEEP"); d != "" {
		return filepath.Join(d, t.Name()+"-"+name)
	}
	return filepath.Join(t.TempDir(), name)
}

func dumpText(t *testing.T, r *analyze.Result) string {
	var b strings.Builder
	_ = r.WriteText(&b)
	return b.String()
}

// captured waits until the capture file satisfies cond on its analysis, then stops tcpdump.
func captured(t *testing.T, td *testenv.Tcpdump, cond func(r *analyze.Result) bool) {
	t.Helper()
	ok := td.WaitFor(15*time.Second, func(file string) bool {
		r, err := analyze.File(file)
		return err == nil && cond(r)
	})
	td.Stop(t)
	if !ok {
		t.Logf("the capture never showed the last expected packet (tcpdump lost it?)")
	}
}

// conn returns the first connection to the server port, or nil.
func connTo(r *analyze.Result, port uint16) *analyze.Conn {
	for _, c := range r.Connections {
		if c.Server.Port() == port {
			return c
		}
	}
	return nil
}
