//go:build linux

package capture

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/netdoctor/netdoctor/internal/testenv"
)

func TestWriteReadBack(t *testing.T) {
	for _, ng := range []bool{false, true} {
		name := "pcap"
		if ng {
			name = "pcapng"
		}
		t.Run(name, func(t *testing.T) {
			p := newPair(t)
			h, err := Open(p.b.NS, Config{Iface: p.ifB, Program: tcpdumpProgram(t, "EN10MB", "icmp")})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer h.Close()
			if h.LinkType() != layers.LinkTypeEthernet {
				t.Fatalf("link type %v, want Ethernet", h.LinkType())
			}
			path := filepath.Join(t.TempDir(), "out.pcap")
			w, err := Create(path, h.LinkType(), h.Snaplen(), WriterOptions{PcapNG: ng, Iface: p.ifB})
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			stop := loop(t, h, w.WritePacket)
			p.a.Exec(t, "ping", "-c", "5", "-i", "0.05", "-W", "2", "10.77.0.2")
			if err := stop(); err != nil {
				t.Fatalf("Loop: %v", err)
			}
			st, _ := h.Stats()
			if err := w.Close(&st); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if w.Packets() != 10 || st.Received != 10 || st.Dropped != 0 {
				t.Fatalf("wrote %d packets, kernel %s; want 10 (5 echo requests, 5 replies), 10 received, 0 dropped", w.Packets(), st)
			}
			fi, err := os.Stat(path)
			if err != nil || fi.Mode().Perm() != 0o600 || fi.Size() != w.Bytes() {
				t.Fatalf("file %v (err %v): want mode 0600 and %d bytes", fi, err, w.Bytes())
			}
			ts, td := countLines(t, "tshark", "-r", path), countLines(t, "tcpdump", "-nn", "-r", path)
			if ts != 10 || td != 10 {
				t.Fatalf("tshark reads %d packets, tcpdump %d; want 10 each", ts, td)
			}
		})
	}
}

// TestKernelFilterOnFlood sends 100 matching packets among 10000 others: the kernel's "received by
// filter" counter sees only the matching ones, so the filter ran in the kernel.
func TestKernelFilterOnFlood(t *testing.T) {
	p := newPair(t)
	h, err := Open(p.b.NS, Config{Iface: p.ifB, Program: tcpdumpProgram(t, "EN10MB", "udp dst port 9001")})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer h.Close()
	var got int
	stop := loop(t, h, func(pk *Packet) error {
		f := Dissect(pk.Data, pk.Length, h.LinkType())
		if f.IP == nil || f.IP.Dport != 9001 {
			t.Errorf("filter let through %s", Summarize(f))
		}
		got++
		return nil
	})
	sendUDP(t, p.a, "10.77.0.2", 10000, 100)
	if err := stop(); err != nil {
		t.Fatalf("Loop: %v", err)
	}
	st, _ := h.Stats()
	if got != 100 || st.Received != 100 || st.Dropped != 0 {
		t.Fatalf("captured %d, kernel %s; want 100 captured, 100 received by filter (of 10100 sent), 0 dropped", got, st)
	}
}

// sendUDP sends n packets to port 9000 and, spread among them, m packets to port 9001, from an
// unconnected socket created inside ns (so ICMP port-unreachable errors never stop a send).
func sendUDP(t *testing.T, ns *testenv.NetNS, dst string, n, m int) {
	t.Helper()
	var conn *net.UDPConn
	err := ns.NS.Do(func() error {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{})
		conn = c
		return err
	})
	if err != nil {
		t.Fatalf("udp socket in %s: %v", ns.Name, err)
	}
	defer conn.Close()
	to := &net.UDPAddr{IP: net.ParseIP(dst), Port: 9000}
	other := &net.UDPAddr{IP: net.ParseIP(dst), Port: 9001}
	payload := make([]byte, 32)
	every := n / m
	for i := 0; i < n; i++ {
		if _, err := conn.WriteToUDP(payload, to); err != nil {
			t.Fatalf("send: %v", err)
		}
		if i%every == 0 {
			if _, err := conn.WriteToUDP(payload, other); err != nil {
				t.Fatalf("send: %v", err)
			}
		}
	}
}

// TestAnyCooked captures on "any": a cooked socket with LINUX_SLL frames, the SLL-compiled filter
// rebased for the kernel (including the packet type at [0] for "inbound"), and tshark reads the file.
func TestAnyCooked(t *testing.T) {
	p := newPair(t)
	for _, tc := range []struct {
		expr string
		want int
	}{{"icmp", 6}, {"icmp and inbound", 3}} {
		t.Run(tc.expr, func(t *testing.T) {
			h, err := Open(p.b.NS, Config{Iface: AnyInterface, Program: tcpdumpProgram(t, "LINUX_SLL", tc.expr)})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer h.Close()
			if h.LinkType() != layers.LinkTypeLinuxSLL || h.UserFiltered() {
				t.Fatalf("link type %v, user-space filter %v; want LINUX_SLL filtered in the kernel", h.LinkType(), h.UserFiltered())
			}
			path := filepath.Join(t.TempDir(), "any.pcap")
			w, err := Create(path, h.LinkType(), h.Snaplen(), WriterOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var dirs []string
			stop := loop(t, h, func(pk *Packet) error {
				if name := h.IfaceName(pk.Ifindex); name != p.ifB {
					t.Errorf("packet on interface %q, want %q", name, p.ifB)
				}
				dirs = append(dirs, pk.Dir.String())
				return w.WritePacket(pk)
			})
			p.a.Exec(t, "ping", "-c", "3", "-i", "0.05", "-W", "2", "10.77.0.2")
			if err := stop(); err != nil {
				t.Fatalf("Loop: %v", err)
			}
			st, _ := h.Stats()
			w.Close(&st)
			if len(dirs) != tc.want || int(st.Received) != tc.want {
				t.Fatalf("captured %d (%v), kernel %s; want %d", len(dirs), dirs, st, tc.want)
			}
			out := tshark(t, "-r", path, "-T", "fields", "-e", "sll.pkttype", "-e", "icmp.type")
			if got := strings.Count(out, "\n"); got != tc.want {
				t.Fatalf("tshark reads %d packets, want %d:\n%s", got, tc.want, out)
			}
			if tc.want == 6 && (!strings.Contains(out, "0\t8") || !strings.Contains(out, "4\t0")) {
				t.Fatalf("tshark should see echo requests coming in (pkttype 0) and replies going out (4):\n%s", out)
			}
		})
	}
}

func TestNoInterface(t *testing.T) {
	n := testenv.NewNetNS(t)
	_, err := Open(n.NS, Config{Iface: "nope0"})
	if !errors.Is(err, ErrNoInterface) {
		t.Fatalf("Open(nope0) = %v, want ErrNoInterface", err)
	}
	_, err = InterfaceLinkType(n.NS, "nope0")
	if !errors.Is(err, ErrNoInterface) {
		t.Fatalf("InterfaceLinkType(nope0) = %v, want ErrNoInterface", err)
	}
	if lt, err := InterfaceLinkType(n.NS, "lo"); err != nil || lt != layers.LinkTypeEthernet {
		t.Fatalf("InterfaceLinkType(lo) = %v, %v; want Ethernet (tcpdump's EN10MB on lo)", lt, err)
	}
}

// TestInterfaceVanishes deletes the captured interface mid-capture: Loop ends with
// ErrInterfaceGone within a second.
func TestInterfaceVanishes(t *testing.T) {
	p := newPair(t)
	h, err := Open(p.b.NS, Config{Iface: p.ifB})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer h.Close()
	done := make(chan error, 1)
	go func() { done <- h.Loop(context.Background(), func(*Packet) error { return nil }) }()
	p.a.Exec(t, "ip", "link", "del", p.ifA)
	gone := time.Now()
	select {
	case err := <-done:
		if !errors.Is(err, ErrInterfaceGone) {
			t.Fatalf("Loop = %v, want ErrInterfaceGone", err)
		}
		// The contract says within 1 s (the loop checks every 250 ms); slack for a loaded machine.
		if d := time.Since(gone); d > 2*time.Second {
			t.Fatalf("noticed after %s, want within 1s", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Loop still running 5s after the interface was deleted")
	}
}

func TestMaxBytes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cap.pcap")
	w, err := Create(path, layers.LinkTypeEthernet, 65535, WriterOptions{MaxBytes: 1000})
	if err != nil {
		t.Fatal(err)
	}
	frame := make([]byte, 98) // an Ethernet frame of zeros is still a valid record
	var n int
	for {
		err := w.WritePacket(&Packet{Timestamp: time.Now(), Data: frame, Length: len(frame)})
		if errors.Is(err, ErrFileFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if err := w.Close(nil); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	// 24-byte header + 8 records of 16+98 bytes = 936; a ninth would make 1050.
	if n != 8 || fi.Size() != 936 {
		t.Fatalf("wrote %d packets, %d bytes; want 8 packets, 936 bytes under the 1000-byte limit", n, fi.Size())
	}
	if got := countLines(t, "tcpdump", "-r", path); got != 8 {
		t.Fatalf("tcpdump reads %d packets, want 8", got)
	}
}

// TestFilterExpression compiles the filter with our compiler for a live capture, on a device and
// on "any" (rebased for the cooked socket): only ICMP reaches user space.
func TestFilterExpression(t *testing.T) {
	p := newPair(t)
	for _, iface := range []string{p.ifB, AnyInterface} {
		t.Run(iface, func(t *testing.T) {
			h, err := Open(p.b.NS, Config{Iface: iface, Filter: "icmp and src host 10.77.0.1"})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer h.Close()
			var got []string
			stop := loop(t, h, func(pk *Packet) error {
				got = append(got, Summarize(Dissect(pk.Data, pk.Length, h.LinkType())))
				return nil
			})
			sendUDP(t, p.a, "10.77.0.2", 1000, 10)
			p.a.Exec(t, "ping", "-c", "2", "-i", "0.05", "-W", "2", "10.77.0.2")
			if err := stop(); err != nil {
				t.Fatalf("Loop: %v", err)
			}
			st, _ := h.Stats()
			if len(got) != 2 || st.Received != 2 || h.UserFiltered() {
				t.Fatalf("captured %q, kernel %s, user-space filter %v; want the 2 echo requests only, filtered in the kernel", got, st, h.UserFiltered())
			}
			for _, s := range got {
				if !strings.Contains(s, "IP 10.77.0.1 > 10.77.0.2: ICMP echo request") {
					t.Fatalf("captured %q", s)
				}
			}
		})
	}
	var fe *FilterError
	if _, err := Open(p.b.NS, Config{Iface: p.ifB, Filter: "port 80x"}); !errors.As(err, &fe) {
		t.Fatalf("Open with a bad filter = %v, want a *FilterError", err)
	}
}

// TestVLAN sends 802.1Q-tagged frames into the veth (the receiving kernel moves the tag into
// metadata, as a NIC with VLAN offload does): Loop puts the tag back into the frame, `vlan 100 and
// icmp` (run in user space on the rebuilt frame) keeps only VLAN 100, and tshark reads the tags.
func TestVLAN(t *testing.T) {
	p := newPair(t)
	h, err := Open(p.b.NS, Config{Iface: p.ifB, Filter: "vlan 100 and icmp"})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer h.Close()
	if !h.UserFiltered() {
		t.Fatal("a vlan filter must run in user space, on the frame with its tag put back")
	}
	path := filepath.Join(t.TempDir(), "vlan.pcap")
	w, err := Create(path, h.LinkType(), h.Snaplen(), WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stop := loop(t, h, w.WritePacket)
	for i, vlan := range []int{100, 200, 0, 100} {
		sendFrame(t, p.a, p.ifA, vlan, uint16(i+1))
	}
	p.a.Exec(t, "ping", "-c", "1", "-W", "2", "10.77.0.2") // untagged ICMP: filtered out
	if err := stop(); err != nil {
		t.Fatalf("Loop: %v", err)
	}
	w.Close(nil)
	out := tshark(t, "-r", path, "-T", "fields", "-e", "vlan.id", "-e", "icmp.seq")
	if out != "100\t1\n100\t4\n" {
		t.Fatalf("tshark reads:\n%s\nwant the echo requests with seq 1 and 4 on VLAN 100", out)
	}
}

// sendFrame writes one broadcast Ethernet frame carrying an ICMP echo request (tagged with vlan
// when not 0) on iface of ns, through a packet socket opened there.
func sendFrame(t *testing.T, ns *testenv.NetNS, iface string, vlan int, seq uint16) {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{255, 255, 255, 255, 255, 255},
		EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4,
		SrcIP: net.IPv4(10, 77, 0, 1), DstIP: net.IPv4(10, 77, 0, 2)}
	icmp := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 7, Seq: seq}
	ls := []gopacket.SerializableLayer{eth}
	if vlan != 0 {
		eth.EthernetType = layers.EthernetTypeDot1Q
		ls = append(ls, &layers.Dot1Q{VLANIdentifier: uint16(vlan), Type: layers.EthernetTypeIPv4})
	}
	ls = append(ls, ip, icmp, gopacket.Payload(make([]byte, 32)))
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	err := ns.NS.Do(func() error {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		ifi, err := net.InterfaceByName(iface)
		if err != nil {
			return err
		}
		return unix.Sendto(fd, buf.Bytes(), 0, &unix.SockaddrLinklayer{Ifindex: ifi.Index, Protocol: htons(unix.ETH_P_ALL)})
	})
	if err != nil {
		t.Fatalf("send frame in %s: %v", ns.Name, err)
	}
}
