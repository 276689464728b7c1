package drops

import (
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

// A UDP datagram 10.0.0.1:40000 -> 10.0.0.2:53, DF, 32 bytes, followed by junk past its length.
const udpHex = "45000020000040004011000a0a0000010a000002" + "9c400035000c0000" + "61626364" + "ffffffff"

// A TCP SYN 10.0.0.1:40001 -> 10.0.0.2:80.
const synHex = "45000028000140004006000a0a0000010a000002" + "9c4100500000000100000000" + "5002ffff00000000"

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseFlow(t *testing.T) {
	cases := []struct {
		name  string
		proto uint16
		hex   string
		want  string
	}{
		{"udp", etherIPv4, udpHex, "10.0.0.1.40000 > 10.0.0.2.53 udp DF length 32"},
		{"tcp syn", etherIPv4, synHex, "10.0.0.1.40001 > 10.0.0.2.80 tcp [S] DF length 40"},
		{"icmp echo", etherIPv4, "45000054000000004001000a0a0000010a000002" + "0800f7ff00000000", "10.0.0.1 > 10.0.0.2 icmp echo request length 84"},
		{"truncated", etherIPv4, "4500", "ipv4"},
		{"no packet", 0, "", "(no packet)"},
		{"lldp", 0x88cc, "00", "0x88cc"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := ParseFlow(tc.proto, mustHex(t, tc.hex)).String(); got != tc.want {
				t.Errorf("ParseFlow = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestMatcher(t *testing.T) {
	udp, syn := mustHex(t, udpHex), mustHex(t, synHex)
	cases := []struct {
		expr     string
		udp, syn bool
	}{
		{"", true, true},
		{"udp port 53", true, false},
		{"tcp[tcpflags] & tcp-syn != 0", false, true},
		{"host 10.0.0.2 and dst port 80", false, true},
		{"less 50", true, false}, // lengths count a 14-byte Ethernet header, as on the wire
		{"net 192.168.0.0/16", false, false},
	}
	for _, tc := range cases {
		m, err := NewMatcher(tc.expr)
		if err != nil {
			t.Fatalf("%q: %v", tc.expr, err)
		}
		if got := m.Match(etherIPv4, udp); got != tc.udp {
			t.Errorf("%q on udp = %v, want %v", tc.expr, got, tc.udp)
		}
		if got := m.Match(etherIPv4, syn); got != tc.syn {
			t.Errorf("%q on syn = %v, want %v", tc.expr, got, tc.syn)
		}
	}
	if _, err := NewMatcher("port 80x"); err == nil || !strings.HasPrefix(err.Error(), "filter: ") {
		t.Errorf("bad filter error = %v, want a one-line filter syntax error", err)
	}
}

func TestAggregate(t *testing.T) {
	t0 := time.Unix(1000, 0)
	f := ParseFlow(etherIPv4, mustHex(t, udpHex))
	ev := func(ns, reason string, dt int) Event {
		return Event{Time: t0.Add(time.Duration(dt) * time.Millisecond), Netns: ns, Reason: reason, Location: "nft_do_chain+0x1", Flow: f}
	}
	got := Aggregate([]Event{ev("a", "NETFILTER_DROP", 2), ev("b", "NO_SOCKET", 0), ev("a", "NETFILTER_DROP", 1)})
	if len(got) != 2 || got[0].Netns != "a" || got[0].Count != 2 || !got[0].First.Equal(t0.Add(time.Millisecond)) || !got[0].Last.Equal(t0.Add(2*time.Millisecond)) || got[1].Count != 1 {
		t.Fatalf("Aggregate = %+v", got)
	}
}

func TestKallsyms(t *testing.T) {
	s, err := ParseKallsyms(strings.NewReader(`ffffffff81000000 T _stext
ffffffff81001000 t nft_do_chain	[nf_tables]
ffffffff81002000 D some_data
ffffffff81003000 T ip_forward
0000000000000000 T hidden
`))
	if err != nil {
		t.Fatal(err)
	}
	cases := map[uint64][2]string{
		0xffffffff810010a0: {"nft_do_chain+0xa0 [nf_tables]", "nft_do_chain"},
		0xffffffff81002500: {"nft_do_chain+0x1500 [nf_tables]", "nft_do_chain"},
		0xffffffff81003010: {"ip_forward+0x10", "ip_forward"},
		0x10:               {"0x10", ""},
	}
	for a, want := range cases {
		loc, fn := s.Resolve(a)
		if loc != want[0] || fn != want[1] {
			t.Errorf("Resolve(%#x) = %q, %q; want %q, %q", a, loc, fn, want[0], want[1])
		}
	}
}
