package analyze_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/netdoctor/netdoctor/internal/analyze"
)

var (
	macA = net.HardwareAddr{2, 0, 0, 0, 0, 1}
	macB = net.HardwareAddr{2, 0, 0, 0, 0, 2}
	t0   = time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
)

// frame serialises layers into an Ethernet frame with lengths and checksums filled in.
func frame(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	for _, l := range ls {
		if tcp, ok := l.(*layers.TCP); ok {
			for _, m := range ls {
				if ip, ok := m.(*layers.IPv4); ok {
					_ = tcp.SetNetworkLayerForChecksum(ip)
				}
			}
		}
		if udp, ok := l.(*layers.UDP); ok {
			for _, m := range ls {
				if ip, ok := m.(*layers.IPv4); ok {
					_ = udp.SetNetworkLayerForChecksum(ip)
				}
			}
		}
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatalf("serialize: %v", err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func eth() *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4}
}

func ip4(src, dst string, proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto, SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
}

// tcpSeg is one TCP segment between two ip:port strings.
func tcpSeg(t testing.TB, src, dst string, sp, dp uint16, flags string, seq, ack uint32, payload int) []gopacket.SerializableLayer {
	tc := &layers.TCP{SrcPort: layers.TCPPort(sp), DstPort: layers.TCPPort(dp), Seq: seq, Ack: ack, Window: 64000}
	for _, f := range flags {
		switch f {
		case 'S':
			tc.SYN = true
			tc.Options = []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}}}
		case 'A':
			tc.ACK = true
		case 'R':
			tc.RST = true
		case 'F':
			tc.FIN = true
		case 'P':
			tc.PSH = true
		}
	}
	return []gopacket.SerializableLayer{ip4(src, dst, layers.IPProtocolTCP), tc, gopacket.Payload(make([]byte, payload))}
}

// vxlan wraps inner layers (from IPv4 on) into Ethernet/IPv4/UDP(port)/VXLAN(vni 1)/Ethernet.
func vxlan(port uint16, inner []gopacket.SerializableLayer) []gopacket.SerializableLayer {
	out := []gopacket.SerializableLayer{eth(), ip4("192.168.1.10", "192.168.1.11", layers.IPProtocolUDP),
		&layers.UDP{SrcPort: 40000, DstPort: layers.UDPPort(port)},
		&layers.VXLAN{ValidIDFlag: true, VNI: 1}, eth()}
	return append(out, inner...)
}

type capFile struct {
	buf  bytes.Buffer
	w    *pcapgo.Writer
	n    int
	ends []int // byte offset where each packet record ends
}

func newCap(t testing.TB) *capFile {
	c := &capFile{}
	c.w = pcapgo.NewWriter(&c.buf)
	if err := c.w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatalf("pcap header: %v", err)
	}
	return c
}

func (c *capFile) add(t testing.TB, data []byte) {
	t.Helper()
	ci := gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(c.n) * time.Millisecond), CaptureLength: len(data), Length: len(data)}
	if err := c.w.WritePacket(ci, data); err != nil {
		t.Fatalf("write packet: %v", err)
	}
	c.n++
	c.ends = append(c.ends, c.buf.Len())
}

func read(t testing.TB, b []byte) *analyze.Result {
	t.Helper()
	r, err := analyze.Read(context.Background(), bytes.NewReader(b), analyze.Options{})
	if err != nil {
		t.Fatalf("analyze: %v", err)
	}
	return r
}

func TestVXLANInnerPacketsAnalysed(t *testing.T) {
	for _, port := range []uint16{4789, 8472} {
		c := newCap(t)
		c.add(t, frame(t, vxlan(port, tcpSeg(t, "10.244.1.2", "10.244.2.3", 33000, 80, "S", 100, 0, 0))...))
		c.add(t, frame(t, vxlan(port, tcpSeg(t, "10.244.2.3", "10.244.1.2", 80, 33000, "RA", 0, 101, 0))...))
		r := read(t, c.buf.Bytes())
		if len(r.Tunnels) != 1 || r.Tunnels[0].OuterSrc.String() != "192.168.1.10" || r.Tunnels[0].VNI != 1 || r.Tunnels[0].Packets != 2 {
			t.Errorf("port %d: tunnels %+v, want one 192.168.1.10→192.168.1.11 vni 1 with 2 packets", port, r.Tunnels)
		}
		if len(r.Connections) != 1 {
			t.Fatalf("port %d: %d connections, want 1", port, len(r.Connections))
		}
		conn := r.Connections[0]
		if conn.Handshake != analyze.HandshakeRefused || conn.Client.String() != "10.244.1.2:33000" || !strings.Contains(conn.Tunnel, "192.168.1.10→192.168.1.11 vni 1") {
			t.Errorf("port %d: conn %+v, want refused inner connection 10.244.1.2:33000 inside the tunnel", port, conn)
		}
	}
}

// A capture cut inside the last packet record analyses the complete packets and says so.
func TestTruncatedFile(t *testing.T) {
	c := newCap(t)
	c.add(t, frame(t, append([]gopacket.SerializableLayer{eth()}, tcpSeg(t, "10.0.0.1", "10.0.0.2", 40000, 80, "S", 1, 0, 0)...)...))
	c.add(t, frame(t, append([]gopacket.SerializableLayer{eth()}, tcpSeg(t, "10.0.0.2", "10.0.0.1", 80, 40000, "SA", 7, 2, 0)...)...))
	c.add(t, frame(t, append([]gopacket.SerializableLayer{eth()}, tcpSeg(t, "10.0.0.1", "10.0.0.2", 40000, 80, "A", 2, 8, 0)...)...))
	c.add(t, frame(t, append([]gopacket.SerializableLayer{eth()}, tcpSeg(t, "10.0.0.1", "10.0.0.2", 40000, 80, "PA", 2, 8, 500)...)...))
	full := c.buf.Bytes()
	for _, cut := range []int{c.ends[2] + 7, c.ends[2] + 16 + 30, len(full) - 1} {
		r := read(t, full[:cut])
		if !r.Truncated || r.Packets != 3 || len(r.Warnings) == 0 || r.Warnings[0] != "file truncated after 3 packets" {
			t.Errorf("cut at %d: truncated %v, %d packets, warnings %q; want 3 packets and \"file truncated after 3 packets\"", cut, r.Truncated, r.Packets, r.Warnings)
		}
		if len(r.Connections) != 1 || r.Connections[0].Handshake != analyze.HandshakeCompleted {
			t.Errorf("cut at %d: connections %+v, want the completed handshake", cut, r.Connections)
		}
	}
	if r := read(t, full); r.Truncated || r.Packets != 4 || r.Problem() {
		t.Errorf("whole file: truncated %v, %d packets, problem %v; want 4 healthy packets", r.Truncated, r.Packets, r.Problem())
	}
}

func TestNotACapture(t *testing.T) {
	for name, b := range map[string][]byte{
		"empty":       nil,
		"text":        []byte("hello, this is not a capture\n"),
		"short":       {0xd4, 0xc3},
		"pcap header": {0xd4, 0xc3, 0xb2, 0xa1, 2, 0},
		"gzip text":   {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0},
	} {
		_, err := analyze.Read(context.Background(), bytes.NewReader(b), analyze.Options{})
		if !errors.Is(err, analyze.ErrNotCapture) {
			t.Errorf("%s: err = %v, want ErrNotCapture", name, err)
		}
	}
}

func TestPcapngAndICMPQuote(t *testing.T) {
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriter(&buf, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	quoted := frame(t, tcpSeg(t, "10.0.0.1", "10.0.9.9", 40000, 443, "A", 5000, 1, 1448)...)
	icmp := frame(t, eth(), ip4("10.0.0.254", "10.0.0.1", layers.IPProtocolICMPv4),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 4), Seq: 1400}, gopacket.Payload(quoted[:28]))
	if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: t0, CaptureLength: len(icmp), Length: len(icmp)}, icmp); err != nil {
		t.Fatal(err)
	}
	_ = w.Flush()
	r := read(t, buf.Bytes())
	if len(r.ICMPErrors) != 1 {
		t.Fatalf("icmp errors %+v, want 1", r.ICMPErrors)
	}
	e := r.ICMPErrors[0]
	if e.Kind != "frag-needed" || e.MTU != 1400 || e.Quoted != "tcp 10.0.0.1:40000 → 10.0.9.9:443" || e.QuotedLen != 1488 || e.From.String() != "10.0.0.254" {
		t.Errorf("icmp error %+v, want frag-needed MTU 1400 from 10.0.0.254 quoting the 1488-byte tcp packet", e)
	}
	if r.Problem() {
		t.Errorf("a lone frag-needed is PMTU discovery at work, not a problem: %+v", r.Findings)
	}
}
