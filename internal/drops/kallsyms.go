package drops

import (
	"bufio"
	"io"
	"sort"
	"strconv"
	"strings"
)

// Symbols resolves kernel addresses to "function+0xOFF", from /proc/kallsyms text.
type Symbols struct {
	addrs []uint64
	names []string
}

// ParseKallsyms reads /proc/kallsyms-formatted text ("ADDR TYPE NAME [MODULE]"), keeping text
// symbols. Addresses shown as zero (no permission) make Resolve return "".
func ParseKallsyms(r io.Reader) (*Symbols, error) {
	type sym struct {
		a uint64
		n string
	}
	var syms []sym
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		if t := f[1]; t != "t" && t != "T" && t != "w" && t != "W" {
			continue
		}
		a, err := strconv.ParseUint(f[0], 16, 64)
		if err != nil || a == 0 {
			continue
		}
		n := f[2]
		if len(f) > 3 {
			n += " " + f[3]
		}
		syms = append(syms, sym{a, n})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	sort.Slice(syms, func(i, j int) bool { return syms[i].a < syms[j].a })
	s := &Symbols{addrs: make([]uint64, len(syms)), names: make([]string, len(syms))}
	for i, x := range syms {
		s.addrs[i], s.names[i] = x.a, x.n
	}
	return s, nil
}

// Resolve returns "function+0xOFF" (with " [module]" for module code) and the function name, or
// the address in hex and "" when no symbol covers it.
func (s *Symbols) Resolve(addr uint64) (loc, fn string) {
	if s == nil || addr == 0 {
		return "0x" + strconv.FormatUint(addr, 16), ""
	}
	i := sort.Search(len(s.addrs), func(i int) bool { return s.addrs[i] > addr }) - 1
	if i < 0 {
		return "0x" + strconv.FormatUint(addr, 16), ""
	}
	name, mod, _ := strings.Cut(s.names[i], " ")
	loc = name + "+0x" + strconv.FormatUint(addr-s.addrs[i], 16)
	if mod != "" {
		loc += " " + mod
	}
	return loc, name
}
