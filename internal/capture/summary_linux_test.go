//go:build linux

package capture

import (
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/pcapgo"

	"github.com/netdoctor/netdoctor/internal/testenv"
)

// TestSummaryMatchesTcpdump captures ARP, ICMP echo, UDP, an ICMP port unreachable and a whole TCP
// connection, then compares our one-line summary of every packet with `tcpdump -nn -S -t -r`
// (absolute sequence numbers, no timestamps; TCP options, which we do not print, removed).
func TestSummaryMatchesTcpdump(t *testing.T) {
	testenv.RequireTool(t, "tcpdump")
	p := newPair(t)
	h, err := Open(p.b.NS, Config{Iface: p.ifB})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer h.Close()
	path := filepath.Join(t.TempDir(), "mix.pcap")
	w, err := Create(path, h.LinkType(), h.Snaplen(), WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stop := loop(t, h, w.WritePacket)
	p.a.Exec(t, "ip", "neigh", "flush", "dev", p.ifA)
	p.a.Exec(t, "ping", "-c", "2", "-i", "0.05", "-W", "2", "10.77.0.2")
	sendUDP(t, p.a, "10.77.0.2", 2, 1)
	tcpExchange(t, p)
	if err := stop(); err != nil {
		t.Fatalf("Loop: %v", err)
	}
	if err := w.Close(nil); err != nil {
		t.Fatal(err)
	}

	out, err := exec.Command("tcpdump", "-nn", "-S", "-t", "-r", path).Output()
	if err != nil {
		t.Fatalf("tcpdump -r: %v", err)
	}
	options := regexp.MustCompile(`, options \[[^\]]*\]`)
	want := strings.Split(strings.TrimSpace(options.ReplaceAllString(string(out), "")), "\n")
	got := summaries(t, path)
	if len(got) != len(want) || len(got) < 15 {
		t.Fatalf("%d summaries, tcpdump printed %d lines (want the same, at least 15):\nours:\n%s\ntcpdump:\n%s",
			len(got), len(want), strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("packet %d:\n ours    %s\n tcpdump %s", i+1, got[i], want[i])
		}
	}
}

// summaries reads a pcap file with gopacket and summarises every packet.
func summaries(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, Summarize(Dissect(data, ci.Length, r.LinkType())))
	}
}

// tcpExchange connects from a to a listener in b, sends "hello", gets "world" back, and closes.
func tcpExchange(t *testing.T, p *pair) {
	t.Helper()
	var ln net.Listener
	if err := p.b.NS.Do(func() (err error) { ln, err = net.Listen("tcp4", "10.77.0.2:9100"); return err }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	served := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		defer c.Close()
		buf := make([]byte, 5)
		if _, err := io.ReadFull(c, buf); err != nil {
			served <- err
			return
		}
		_, err = c.Write([]byte("world"))
		served <- err
	}()
	var c net.Conn
	if err := p.a.NS.Do(func() (err error) { c, err = net.Dial("tcp4", "10.77.0.2:9100"); return err }); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 5)); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	// Wait for the server's FIN before closing, so the teardown is a clean FIN exchange.
	if n, err := c.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("read after server close: %d, %v", n, err)
	}
	c.Close()
}
