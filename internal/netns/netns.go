// Package netns opens network namespaces and runs code inside them safely.
//
// A namespace is named the way people name it: a name from `ip netns` (/run/netns/NAME), a path to a
// bind-mounted or /proc namespace file, or the PID of a process inside it (like `nsenter -t PID -n`).
// Code enters a namespace only through NS.Do, which runs on a fresh goroutine locked to its OS thread;
// if the thread cannot be put back into its original namespace it is never unlocked, so the Go runtime
// throws the thread away instead of reusing it for unrelated goroutines.
//
// Sockets created inside Do stay in that namespace after Do returns, so a probe opens its socket in Do
// and then uses it from any goroutine. A nil *NS stands for the caller's own namespace.
package netns

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Errors callers branch on. They are wrapped in *Error, which names the namespace.
var (
	// ErrNotFound: the named namespace or path does not exist.
	ErrNotFound = errors.New("no such network namespace")
	// ErrProcessGone: the process does not exist or has exited (a zombie counts as exited).
	ErrProcessGone = errors.New("process has exited")
	// ErrGone: the namespace existed when opened but vanished since (deleted netns, dead process).
	ErrGone = errors.New("network namespace vanished")
	// ErrPermission: the caller may not open or enter the namespace (needs root / CAP_SYS_ADMIN).
	ErrPermission = errors.New("permission denied")
	// ErrNotSupportedOnOS: network namespaces exist only on Linux.
	ErrNotSupportedOnOS = errors.New("network namespaces are only supported on Linux")
)

// Error carries the namespace a failure is about.
type Error struct {
	NS  string // how the namespace was named: "netns foo", "pid 123", "netns /proc/1/ns/net"
	Err error
}

func (e *Error) Error() string {
	switch {
	case errors.Is(e.Err, ErrProcessGone):
		return e.NS + " has exited"
	case errors.Is(e.Err, ErrNotFound):
		return e.NS + " does not exist"
	case errors.Is(e.Err, ErrGone):
		return e.NS + " vanished"
	case errors.Is(e.Err, ErrPermission):
		return "cannot enter " + e.NS + ": permission denied (run as root, or through the node agent)"
	}
	return e.NS + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// Spec names a namespace: exactly one of Name/Path or PID, or neither for "the current namespace".
type Spec struct {
	Netns string // a name under /run/netns, or a path when it contains a '/'
	PID   int    // a process whose namespace to use
}

// IsZero reports whether s names no namespace (meaning: the caller's own).
func (s Spec) IsZero() bool { return s.Netns == "" && s.PID == 0 }

// String is how the namespace is named in messages: "netns NAME", "pid PID" or "current netns".
func (s Spec) String() string {
	switch {
	case s.PID != 0:
		return "process " + strconv.Itoa(s.PID)
	case s.Netns != "":
		return "netns " + s.Netns
	}
	return "current netns"
}

// Path is the namespace file this Spec refers to.
func (s Spec) Path() string {
	switch {
	case s.PID != 0:
		return "/proc/" + strconv.Itoa(s.PID) + "/ns/net"
	case strings.Contains(s.Netns, "/"):
		return s.Netns
	case s.Netns != "":
		return "/run/netns/" + s.Netns
	}
	return ""
}

// Validate reports a spec that names two namespaces at once or a bad PID.
func (s Spec) Validate() error {
	if s.Netns != "" && s.PID != 0 {
		return fmt.Errorf("--netns and --pid name two vantage points: give one")
	}
	if s.PID < 0 {
		return fmt.Errorf("--pid %d is not a process ID", s.PID)
	}
	return nil
}
