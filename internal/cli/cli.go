// Package cli holds what every netdoctor command shares: the I/O streams, the exit-code contract,
// one-line errors, the vantage flags (--netns/--pid), the output flag, deadlines and Ctrl-C.
//
// Exit codes (../docs/cli.md): 0 ok or healthy, 1 a problem was found, 2 could not run. A command
// prints its own result and returns ErrProblemFound for exit 1; any other error is printed once, in one
// line starting with "netdoctor: ", by app.Main, and exits 2.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
)

// Streams are the command's standard streams; commands never touch os.Stdout directly.
type Streams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	// Quiet silences progress on ErrOut (-q).
	Quiet bool
}

// OSStreams returns the process's own streams.
func OSStreams() Streams { return Streams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr} }

// IsTerminal reports whether w is a terminal (progress is shown only then).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Progressf prints a progress line on ErrOut when it is a terminal and not quiet; otherwise nothing.
func (s Streams) Progressf(format string, args ...any) {
	if s.Quiet || !IsTerminal(s.ErrOut) {
		return
	}
	fmt.Fprintf(s.ErrOut, format+"\n", args...)
}

// ExitError ends the command with Code. When Msg is empty nothing is printed (the command already
// printed its result); otherwise app.Main prints "netdoctor: Msg".
type ExitError struct {
	Code  int
	Err   error
	Usage string // when set, a second line "Run 'netdoctor Usage --help' for usage."
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// ErrProblemFound makes the command exit 1 without a message: it ran and found a problem.
var ErrProblemFound = &ExitError{Code: 1}

// Errors that map to exit 2 with their own message.
var (
	ErrTimeout     = errors.New("timed out")
	ErrInterrupted = errors.New("interrupted")
)

// Usagef is bad input: exit 2, one line, plus a pointer to the command's help.
func Usagef(cmd string, format string, args ...any) error {
	return &ExitError{Code: 2, Err: fmt.Errorf(format, args...), Usage: cmd}
}

// Failf is a failure to run (permission, vanished vantage point, internal error): exit 2, one line.
func Failf(format string, args ...any) error {
	return &ExitError{Code: 2, Err: fmt.Errorf(format, args...)}
}

// Code maps an error to the process exit code.
func Code(err error) int {
	if err == nil {
		return 0
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	return 2
}

// MaxErrorLen is the longest error line printed (the CLI contract says 512 bytes).
const MaxErrorLen = 512

// PrintError prints err once as "netdoctor: …" in one line (newlines folded), plus the usage pointer.
// It prints nothing for a silent ExitError.
func PrintError(w io.Writer, err error) {
	if err == nil {
		return
	}
	var ee *ExitError
	if errors.As(err, &ee) && ee.Err == nil {
		return
	}
	msg := err.Error()
	msg = strings.NewReplacer("\r", " ", "\n", " ", "\t", " ").Replace(msg)
	line := "netdoctor: " + msg
	if len(line) > MaxErrorLen {
		line = line[:MaxErrorLen-3] + "..."
	}
	fmt.Fprintln(w, line)
	if ee != nil && ee.Usage != "" {
		fmt.Fprintf(w, "Run 'netdoctor %s --help' for usage.\n", ee.Usage)
	}
}

// WriteJSON writes v as indented JSON followed by a newline.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// Format is the -o flag: text or json (some commands add html).
type Format string

// The output formats.
const (
	FormatText Format = "text"
	FormatJSON Format = "json"
	FormatHTML Format = "html"
)

// ParseFormat checks -o against the formats a command supports.
func ParseFormat(cmd, s string, allowed ...Format) (Format, error) {
	if len(allowed) == 0 {
		allowed = []Format{FormatText, FormatJSON}
	}
	var names []string
	for _, f := range allowed {
		if string(f) == s {
			return f, nil
		}
		names = append(names, string(f))
	}
	return "", Usagef(cmd, "unknown output format %q: use one of %s", s, strings.Join(names, ", "))
}

// Deadline derives the command's context: it ends at timeout with cause ErrTimeout. Interruption
// (Ctrl-C, SIGTERM) arrives through the parent context with cause ErrInterrupted.
func Deadline(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	if timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeoutCause(ctx, timeout, ErrTimeout)
}

// Stopped reports why ctx ended: ErrInterrupted (the user asked to stop: finish normally), ErrTimeout
// (say "timed out"), another cause (a vanished vantage point), or nil while it is still running.
func Stopped(ctx context.Context) error {
	if ctx.Err() == nil {
		return nil
	}
	return context.Cause(ctx)
}

// Verdict maps the end of a measuring command to its exit: timed out before anything was measured
// is exit 2 ("timed out after T before NOTHING"), timed out after measuring is exit 1 with "timed out
// after T", a problem found is exit 1 (silent), otherwise exit 0.
func Verdict(timedOut bool, timeout time.Duration, measured, ok bool, nothing string) error {
	switch {
	case timedOut && !measured:
		return Failf("timed out after %v before %s", timeout, nothing)
	case timedOut:
		return &ExitError{Code: 1, Err: fmt.Errorf("timed out after %v", timeout)}
	case !ok:
		return ErrProblemFound
	}
	return nil
}
