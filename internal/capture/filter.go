package capture

import (
	"fmt"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"

	"github.com/netdoctor/netdoctor/internal/capture/filter"
)

// compileFilter turns a tcpdump filter expression into a classic BPF program for a link type, with
// accepted packets truncated to snaplen.
func compileFilter(expr string, linkType, snaplen int) ([]bpf.RawInstruction, error) {
	return filter.CompileRaw(expr, linkType, snaplen)
}

// FilterError is a filter expression that did not compile; Err is the compiler's error (for a
// syntax error it points at the bad token).
type FilterError struct {
	Expr string
	Err  error
}

func (e *FilterError) Error() string { return fmt.Sprintf("filter %q: %v", e.Expr, e.Err) }

func (e *FilterError) Unwrap() error { return e.Err }

// dumpFilter renders the program compiled for expr the way `tcpdump -d` does.
func dumpFilter(expr string, linkType, snaplen int) (string, error) {
	prog, err := filter.Compile(expr, linkType, snaplen)
	if err != nil {
		return "", err
	}
	return filter.Dump(prog), nil
}

// DumpFilter compiles expr for linkType and returns the program as `tcpdump -d` prints it (the
// program as compiled for the link type; a cooked capture rebases it when attaching). A bad
// expression returns a *FilterError.
func DumpFilter(expr string, linkType layers.LinkType, snaplen int) (string, error) {
	s, err := dumpFilter(expr, int(linkType), snaplen)
	if err != nil {
		return "", &FilterError{Expr: expr, Err: err}
	}
	return s, nil
}
