package cli

import (
	"errors"

	"github.com/spf13/pflag"

	"github.com/netdoctor/netdoctor/internal/netns"
)

// Vantage is the --netns/--pid pair every tool takes: where the probe runs from.
type Vantage struct {
	Netns string // --netns NAME|PATH: a name under /run/netns (like ip netns exec) or a path
	PID   int    // --pid PID: the network namespace of that process (like nsenter -t PID -n)
}

// AddFlags registers --netns and --pid.
func (v *Vantage) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&v.Netns, "netns", "", "run inside this network namespace: a name from 'ip netns' or a path")
	fs.IntVar(&v.PID, "pid", 0, "run inside the network namespace of this process")
}

// Spec is the namespace the flags name.
func (v *Vantage) Spec() netns.Spec { return netns.Spec{Netns: v.Netns, PID: v.PID} }

// Open opens the vantage namespace (nil for the current one). Every failure is an exit-2 error with a
// remedy, phrased for the flag the user typed.
func (v *Vantage) Open(cmd string) (*netns.NS, error) {
	spec := v.Spec()
	if err := spec.Validate(); err != nil {
		return nil, Usagef(cmd, "%v", err)
	}
	ns, err := netns.Open(spec)
	if err != nil {
		return nil, VantageError(spec, err)
	}
	return ns, nil
}

// VantageError turns a netns error into the one line the CLI contract asks for.
func VantageError(spec netns.Spec, err error) error {
	switch {
	case errors.Is(err, netns.ErrProcessGone):
		return Failf("process %d has exited: give the PID of a running process", spec.PID)
	case errors.Is(err, netns.ErrNotFound):
		return Failf("network namespace %q does not exist: list them with 'ip netns list'", spec.Netns)
	case errors.Is(err, netns.ErrGone):
		return Failf("%s vanished while running", spec)
	case errors.Is(err, netns.ErrPermission):
		return Failf("cannot enter %s: permission denied: run as root (needs CAP_SYS_ADMIN)", spec)
	case errors.Is(err, netns.ErrNotSupportedOnOS):
		return Failf("%v", err)
	}
	return Failf("open %s: %v", spec, err)
}

// ExactArgs checks the number of positional arguments and says what was expected.
func ExactArgs(cmd string, n int, what string) func(args []string) error {
	return func(args []string) error {
		if len(args) != n {
			return Usagef(cmd, "expected %s, got %d argument(s)", what, len(args))
		}
		return nil
	}
}
