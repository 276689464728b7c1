// Command labrequest prints, one per line, the `netdoctor diagnose` arguments of the fault a running
// lab was built with, and its expected verdict kind on the last line: bench scripts use it to
// diagnose a lab exactly as the catalogue says. Usage: labrequest LAB
package main

import (
	"fmt"
	"os"
	"strconv"

	"github.com/netdoctor/netdoctor/internal/lab"
	"github.com/netdoctor/netdoctor/internal/lab/fault"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: labrequest LAB")
		os.Exit(2)
	}
	l, err := lab.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "labrequest:", err)
		os.Exit(2)
	}
	f, err := fault.Lookup(l.State.Fault)
	if err != nil {
		fmt.Fprintln(os.Stderr, "labrequest:", err)
		os.Exit(2)
	}
	f = l.Expand(f)
	r := f.Request
	args := []string{"--from", r.From, "--to", r.To}
	if r.Proto != "" {
		args = append(args, "--proto", r.Proto)
	}
	if r.Size > 0 {
		args = append(args, "--size", strconv.Itoa(r.Size))
	}
	for _, a := range args {
		fmt.Println(a)
	}
	fmt.Println(string(f.Kind))
}
