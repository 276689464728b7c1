package analyze

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/netdoctor/netdoctor/internal/cli"
)

// writePcap writes TCP segments (src, dst, flags) between 10.0.0.1:40000 and 10.0.0.2:80 and returns
// the file path and the offset where each record ends.
func writePcap(t *testing.T, segs []string) (string, []int) {
	t.Helper()
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	var ends []int
	for i, s := range segs {
		toServer := s[0] == '>'
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP,
			SrcIP: net.IP{10, 0, 0, 1}, DstIP: net.IP{10, 0, 0, 2}}
		tcp := &layers.TCP{SrcPort: 40000, DstPort: 80, Seq: 1, Ack: 1, Window: 1000}
		if !toServer {
			ip.SrcIP, ip.DstIP = ip.DstIP, ip.SrcIP
			tcp.SrcPort, tcp.DstPort = 80, 40000
		}
		tcp.SYN, tcp.ACK, tcp.RST = strings.Contains(s, "S"), strings.Contains(s, "A"), strings.Contains(s, "R")
		_ = tcp.SetNetworkLayerForChecksum(ip)
		sb := gopacket.NewSerializeBuffer()
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp); err != nil {
			t.Fatal(err)
		}
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(1700000000, int64(i)*1e6), CaptureLength: len(sb.Bytes()), Length: len(sb.Bytes())}
		if err := w.WritePacket(ci, sb.Bytes()); err != nil {
			t.Fatal(err)
		}
		ends = append(ends, buf.Len())
	}
	p := filepath.Join(t.TempDir(), "c.pcap")
	if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p, ends
}

// run runs the command as app.Main would and returns exit code, stdout and stderr.
func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	s := &cli.Streams{Out: &out, ErrOut: &errOut}
	cmd := NewCommand(s)
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.ExecuteContext(context.Background())
	cli.PrintError(&errOut, err)
	return cli.Code(err), out.String(), errOut.String()
}

func TestExitCodes(t *testing.T) {
	healthy, _ := writePcap(t, []string{">S", "<SA", ">A"})
	refused, _ := writePcap(t, []string{">S", "<RA"})
	notPcap := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(notPcap, []byte("GET / HTTP/1.1\r\n\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     string // substring, "" = must be empty
		stderrLine string // exact stderr ("" = empty)
	}{
		{"healthy", []string{healthy}, 0, "verdict: nothing abnormal found", ""},
		{"refused", []string{refused}, 1, "verdict: problem: TCP connection to 10.0.0.2:80 refused (RST answered the SYN)", ""},
		{"not a pcap", []string{notPcap}, 2, "", "netdoctor: " + `"` + notPcap + `" is not a pcap or pcapng file: capture one with 'tcpdump -w FILE' or 'netdoctor capture -w FILE'` + "\n"},
		{"missing", []string{notPcap + ".nope"}, 2, "", "netdoctor: cannot read \"" + notPcap + ".nope\": no such file or directory\n"},
		{"bad format", []string{"-o", "yaml", healthy}, 2, "", "netdoctor: unknown output format \"yaml\": use one of text, json\nRun 'netdoctor analyze --help' for usage.\n"},
		{"no file", nil, 2, "", "netdoctor: expected one capture FILE, got 0 argument(s)\nRun 'netdoctor analyze --help' for usage.\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := run(t, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tc.code, errOut)
			}
			if tc.stdout == "" && out != "" || !strings.Contains(out, tc.stdout) {
				t.Errorf("stdout %q, want it to contain %q", out, tc.stdout)
			}
			if errOut != tc.stderrLine {
				t.Errorf("stderr %q, want %q", errOut, tc.stderrLine)
			}
		})
	}
}

func TestTruncatedWarnsAndAnalyses(t *testing.T) {
	p, ends := writePcap(t, []string{">S", "<SA", ">A", ">A"})
	b, _ := os.ReadFile(p)
	if err := os.WriteFile(p, b[:ends[2]+20], 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, "-o", "json", p)
	if code != 0 {
		t.Errorf("exit %d, want 0 (the complete packets are a healthy handshake); stderr %q", code, errOut)
	}
	if errOut != "netdoctor: warning: file truncated after 3 packets\n" {
		t.Errorf("stderr %q, want the truncation warning", errOut)
	}
	var res struct {
		Packets     int  `json:"packets"`
		Truncated   bool `json:"truncated"`
		Connections []struct {
			Handshake string `json:"handshake"`
		} `json:"connections"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("stdout is not JSON: %v: %s", err, out)
	}
	if res.Packets != 3 || !res.Truncated || len(res.Connections) != 1 || res.Connections[0].Handshake != "completed" {
		t.Errorf("json %+v, want 3 packets, truncated, one completed connection", res)
	}
}
