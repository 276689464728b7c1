package filter

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/bpf"

	"github.com/netdoctor/netdoctor/internal/testenv"
)

// tcpdumpAccepts runs `tcpdump -r file -nn -tt expr` and counts the accepted packets per timestamp.
func tcpdumpAccepts(t *testing.T, tcpdump, file, expr string) (map[string]int, error) {
	t.Helper()
	cmd := exec.Command(tcpdump, "-r", file, "-nn", "-tt", "--", expr)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
	}
	got := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		// Packet lines start with "sec.usec"; continuation lines (indented) do not.
		if len(f) > 0 && !strings.HasPrefix(sc.Text(), " ") && !strings.HasPrefix(sc.Text(), "\t") && strings.Count(f[0], ".") == 1 {
			got[f[0]]++
		}
	}
	return got, nil
}

// ourAccepts runs our program on every packet with x/net/bpf's VM.
func ourAccepts(t *testing.T, prog []bpf.Instruction, pkts []packet) (map[string]int, []int) {
	t.Helper()
	vm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatalf("bpf.NewVM rejected our program: %v\n%s", err, Dump(prog))
	}
	got := map[string]int{}
	var idx []int
	for i, p := range pkts {
		n, err := vm.Run(p.data)
		if err != nil {
			t.Fatalf("vm.Run packet %d: %v", i, err)
		}
		if n > 0 {
			got[p.stamp()]++
			idx = append(idx, i)
		}
	}
	return got, idx
}

func diffCounts(want, got map[string]int, pkts []packet) string {
	var b strings.Builder
	for i, p := range pkts {
		s := p.stamp()
		if want[s] != got[s] {
			fmt.Fprintf(&b, "  packet %d (%s): tcpdump %d, ours %d\n", i, s, want[s], got[s])
			want[s], got[s] = 0, 0 // report once per stamp
		}
	}
	return b.String()
}

// TestDifferential compiles every expression of diffExprs and checks that our program accepts
// exactly the packets `tcpdump -r` (libpcap) accepts, on the real capture testdata/corpus.pcap
// (Ethernet) and on the same IP packets rewritten as Linux cooked (SLL, SLL2) and raw IP captures.
func TestDifferential(t *testing.T) {
	tcpdump := testenv.RequireTool(t, "tcpdump")
	lt, pkts := readPcap(t, filepath.Join("testdata", "corpus.pcap"))
	if lt != LinkTypeEthernet {
		t.Fatalf("corpus link type %d, want Ethernet", lt)
	}
	files := map[int]string{LinkTypeEthernet: filepath.Join("testdata", "corpus.pcap")}
	corpora := map[int][]packet{LinkTypeEthernet: pkts}
	dir := t.TempDir()
	for _, lt := range []int{LinkTypeLinuxSLL, LinkTypeLinuxSLL2, LinkTypeRaw} {
		conv := convert(pkts, lt)
		f := filepath.Join(dir, fmt.Sprintf("corpus-%d.pcap", lt))
		writePcap(t, f, lt, conv)
		files[lt], corpora[lt] = f, conv
	}
	if len(diffExprs) < 150 {
		t.Errorf("only %d expressions, want at least 150", len(diffExprs))
	}
	total, matched := 0, 0
	for _, lt := range []int{LinkTypeEthernet, LinkTypeLinuxSLL, LinkTypeLinuxSLL2, LinkTypeRaw} {
		for _, expr := range diffExprs {
			want, terr := tcpdumpAccepts(t, tcpdump, files[lt], expr)
			prog, err := Compile(expr, lt, 262144)
			if terr != nil && strings.Contains(terr.Error(), "expression rejects all packets") {
				// libpcap refuses a filter its optimiser proves always false; so do we.
				var se *SyntaxError
				if !errors.As(err, &se) || se.Msg != "expression rejects all packets" {
					t.Errorf("linktype %d %q: tcpdump: expression rejects all packets; ours: %v", lt, expr, err)
				}
				continue
			}
			var se *SyntaxError
			if terr == nil && errors.As(err, &se) && se.Msg == "expression rejects all packets" {
				// Our optimiser proved more than libpcap's; fine if tcpdump indeed accepts nothing.
				if len(want) != 0 {
					t.Errorf("linktype %d %q: we reject all packets, tcpdump accepts %d", lt, expr, len(want))
				}
				continue
			}
			if terr != nil || err != nil {
				if (terr == nil) != (err == nil) {
					t.Errorf("linktype %d %q: tcpdump error %v, ours %v", lt, expr, terr, err)
				}
				continue
			}
			got, idx := ourAccepts(t, prog, corpora[lt])
			total++
			if d := diffCounts(want, got, corpora[lt]); d != "" {
				t.Errorf("linktype %d %q: accepted packets differ from tcpdump:\n%s%s", lt, expr, d, Dump(prog))
				continue
			}
			if lt == LinkTypeEthernet && len(idx) > 0 {
				matched++
			}
		}
	}
	t.Logf("%d (expression, link type) pairs equal to tcpdump; %d Ethernet expressions match at least one packet", total, matched)
}

// convert rewrites the IPv4/IPv6/ARP frames of an Ethernet capture (untagged) for link type lt.
func convert(pkts []packet, lt int) []packet {
	var out []packet
	for _, p := range pkts {
		if len(p.data) < 14 {
			continue
		}
		et := binary.BigEndian.Uint16(p.data[12:])
		if et != 0x0800 && et != 0x86dd && (et != 0x0806 || lt == LinkTypeRaw) {
			continue
		}
		payload := p.data[14:]
		var hdr []byte
		switch lt {
		case LinkTypeLinuxSLL:
			hdr = make([]byte, 16)
			binary.BigEndian.PutUint16(hdr[0:], 4) // sent by us
			binary.BigEndian.PutUint16(hdr[2:], 1) // ARPHRD_ETHER
			binary.BigEndian.PutUint16(hdr[4:], 6)
			copy(hdr[6:], p.data[6:12])
			binary.BigEndian.PutUint16(hdr[14:], et)
		case LinkTypeLinuxSLL2:
			hdr = make([]byte, 20)
			binary.BigEndian.PutUint16(hdr[0:], et)
			binary.BigEndian.PutUint32(hdr[4:], 7) // ifindex
			binary.BigEndian.PutUint16(hdr[8:], 1)
			hdr[10] = 4
			hdr[11] = 6
			copy(hdr[12:], p.data[6:12])
		}
		data := slices.Concat(hdr, payload)
		out = append(out, packet{sec: p.sec, usec: p.usec, data: data, origLen: uint32(len(data))})
	}
	return out
}
