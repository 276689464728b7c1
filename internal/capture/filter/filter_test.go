package filter

import (
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/net/bpf"

	"github.com/netdoctor/netdoctor/internal/testenv"
)

func TestEmptyAcceptsAll(t *testing.T) {
	for _, expr := range []string{"", "   "} {
		prog, err := Compile(expr, LinkTypeEthernet, 65535)
		if err != nil {
			t.Fatal(err)
		}
		if want := []bpf.Instruction{bpf.RetConstant{Val: 65535}}; fmt.Sprint(prog) != fmt.Sprint(want) {
			t.Errorf("Compile(%q) = %v, want %v", expr, prog, want)
		}
	}
}

func TestSyntaxErrors(t *testing.T) {
	cases := []struct {
		expr, token, msg string
		pos              int
	}{
		{"port 80x", "80x", "unknown port '80x'", 5},
		{"tcp and", "", "syntax error", 7},
		{"host 10.0.0.1 and (", "", "syntax error", 19},
		{"ip[0:3] = 1", "3", "data size must be 1, 2, or 4", 5},
		{"len / 0 = 1", "/", "division by zero", 4},
		{"vlan 5000", "vlan", "VLAN tag 5000 greater than maximum 4095", 0},
		{"net 10.1.2.3/8", "10.1.2.3", `non-network bits set in "10.1.2.3/8"`, 4},
		{"1.2.3.4", "1.2.3.4", "syntax error", 0},
		{"host aa:bb:cc:dd:ee:ff", "aa:bb:cc:dd:ee:ff", "ethernet address used in non-ether expression", 5},
		{"TCP", "TCP", "syntax error", 0},
		{"tcp and udp", "tcp and udp", "expression rejects all packets", 0},
		{"port 70000", "70000", "illegal port number 70000 > 65535", 5},
		{"ip6 port 80", "80", "illegal qualifier of 'port'", 9},
		{"tcp port 80 $", "$", "illegal character", 12},
	}
	for _, c := range cases {
		_, err := Compile(c.expr, LinkTypeEthernet, 262144)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Compile(%q) error = %v, want *SyntaxError", c.expr, err)
			continue
		}
		if se.Token != c.token || se.Msg != c.msg || se.Pos != c.pos || se.Expr != c.expr {
			t.Errorf("Compile(%q) = %+v, want token %q msg %q pos %d", c.expr, *se, c.token, c.msg, c.pos)
		}
		if strings.Contains(se.Error(), "\n") {
			t.Errorf("Compile(%q): error is not one line: %q", c.expr, se.Error())
		}
	}
	want := `filter: unknown port '80x' at "80x" (offset 5) in "port 80x"`
	if _, err := Compile("port 80x", 1, 262144); err == nil || err.Error() != want {
		t.Errorf("error text = %q, want %q", err, want)
	}
	if _, err := Compile("tcp", 9999, 262144); err == nil {
		t.Error("unknown link type accepted")
	}
	if _, err := Compile("ether host 1:2:3:4:5:6", LinkTypeRaw, 262144); err == nil {
		t.Error("ether host accepted on raw IP")
	}
}

// TestDumpShape compares Dump with `tcpdump -d` line by line in form: the numbering, the mnemonic
// column, operands, and jt/jf targets, for programs where both compilers agree instruction for
// instruction, and in shape (numbering and syntax) for the rest.
func TestDumpShape(t *testing.T) {
	tcpdump := testenv.RequireTool(t, "tcpdump")
	line := regexp.MustCompile(`^\(\d{3}\) (ld|ldh|ldb|ldx|ldxb|st|stx|jeq|jgt|jge|jset|ja|add|sub|mul|div|mod|and|or|xor|lsh|rsh|tax|txa|ret) *( .*)?$`)
	for _, expr := range []string{"tcp", "port 80", "tcp port 80", "ip6", "icmp[icmptype] = icmp-echo",
		"len > 100", "ether[0] & 1 != 0", "host 10.1.2.3", "tcp[(tcp[12] >> 4) * 4] = 0x68", ""} {
		out, err := exec.Command(tcpdump, "-d", "-y", "EN10MB", "-i", "lo", "--", expr).Output()
		if err != nil {
			out, err = exec.Command(tcpdump, "-d", "--", expr).Output()
		}
		if err != nil {
			t.Fatalf("tcpdump -d %q: %v", expr, err)
		}
		prog, err := Compile(expr, LinkTypeEthernet, 262144)
		if err != nil {
			t.Fatal(err)
		}
		ours := Dump(prog)
		theirs := string(out)
		for i, l := range strings.Split(strings.TrimSuffix(ours, "\n"), "\n") {
			if !strings.HasPrefix(l, fmt.Sprintf("(%03d) ", i)) || !line.MatchString(l) {
				t.Errorf("%q: line %d %q is not in tcpdump -d form", expr, i, l)
			}
		}
		if expr == "tcp" || expr == "port 80" || expr == "tcp port 80" || expr == "ip6" || expr == "" {
			if ours != theirs {
				t.Errorf("%q: Dump differs from tcpdump -d\nours:\n%s\ntcpdump:\n%s", expr, ours, theirs)
			}
		}
	}
}

// TestLongJumps builds a program far beyond 255 instructions, so conditional jumps need "ja"
// trampolines, and checks it is valid and still equal to libpcap on the corpus.
func TestLongJumps(t *testing.T) {
	var parts []string
	for i := 0; i < 200; i++ {
		parts = append(parts, fmt.Sprintf("tcp[%d] = %d", i%20, i)) // within every TCP header
	}
	expr := "(" + strings.Join(parts, " or ") + ") or icmp"
	raw, err := CompileRaw(expr, LinkTypeEthernet, 262144)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) < 300 {
		t.Fatalf("program has %d instructions; want > 300 to exercise long jumps", len(raw))
	}
	if err := Validate(raw); err != nil {
		t.Fatal(err)
	}
	hasJA := false
	for _, r := range raw {
		if r.Op == clsJMP|jmpJA {
			hasJA = true
		}
	}
	if !hasJA {
		t.Error("no ja trampoline in a program longer than 255 instructions")
	}
	tcpdump := testenv.RequireTool(t, "tcpdump")
	_, pkts := readPcap(t, "testdata/corpus.pcap")
	want, err := tcpdumpAccepts(t, tcpdump, "testdata/corpus.pcap", expr)
	if err != nil {
		t.Fatal(err)
	}
	prog, _ := Compile(expr, LinkTypeEthernet, 262144)
	got, _ := ourAccepts(t, prog, pkts)
	if d := diffCounts(want, got, pkts); d != "" {
		t.Errorf("long program differs from tcpdump:\n%s", d)
	}
}

func TestUsesVLAN(t *testing.T) {
	if !UsesVLAN("vlan 100 and tcp") || UsesVLAN("tcp port 80") {
		t.Error("UsesVLAN wrong")
	}
}

// FuzzCompile: the compiler never panics and never produces a program the kernel would reject.
func FuzzCompile(f *testing.F) {
	for _, e := range diffExprs {
		f.Add(e)
	}
	for _, e := range []string{"(((", "tcp[", "ip[1:", "host", "port 1-", "\\", "vlan vlan vlan",
		"len - - - 1 = 0", "ether[0:4] = 0xffffffff", "net ::/0", "portrange 5-1", "not", "!!!tcp",
		"ip6 net fd00::1/129", "tcp[tcp[tcp[tcp[0]]]] = 1", "(len) = (1)", "((tcp))"} {
		f.Add(e)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		for _, lt := range []int{LinkTypeEthernet, LinkTypeLinuxSLL, LinkTypeRaw} {
			raw, err := CompileRaw(expr, lt, 262144)
			if err != nil {
				var se *SyntaxError
				if !errors.As(err, &se) {
					t.Fatalf("%q: error %v is not a *SyntaxError", expr, err)
				}
				if se.Pos < 0 || se.Pos > len(expr) || strings.Contains(se.Error(), "\n") {
					t.Fatalf("%q: bad error %+v", expr, se)
				}
				continue
			}
			if err := Validate(raw); err != nil {
				t.Fatalf("%q: %v", expr, err)
			}
			prog := make([]bpf.Instruction, len(raw))
			for i, r := range raw {
				prog[i] = r.Disassemble()
			}
			if _, err := bpf.NewVM(prog); err != nil {
				t.Fatalf("%q: x/net/bpf rejects the program: %v", expr, err)
			}
		}
	})
}
