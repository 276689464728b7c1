package tcp

import (
	"errors"
	"testing"
	"time"
)

func TestSplitAddr(t *testing.T) {
	good := map[string]struct {
		host string
		port uint16
	}{
		"10.0.0.1:80":     {"10.0.0.1", 80},
		"[fd00::1]:443":   {"fd00::1", 443},
		"kube-dns.svc:53": {"kube-dns.svc", 53},
		"10.96.0.1:65535": {"10.96.0.1", 65535},
	}
	for in, want := range good {
		h, p, err := SplitAddr(in)
		if err != nil || h != want.host || p != want.port {
			t.Errorf("SplitAddr(%q) = %q, %d, %v; want %q, %d", in, h, p, err, want.host, want.port)
		}
	}
	for _, in := range []string{"", "10.0.0.1", "10.0.0.1:", "10.0.0.1:0", "10.0.0.1:65536", "10.0.0.1:-1", ":80", "fd00::1:80", "[fd00::1]", "a:b:c", "h:80\n"} {
		if _, _, err := SplitAddr(in); !errors.Is(err, ErrBadAddr) {
			t.Errorf("SplitAddr(%q): %v, want ErrBadAddr", in, err)
		}
	}
}

func FuzzSplitAddr(f *testing.F) {
	for _, s := range []string{"10.0.0.1:80", "[::1]:1", "x:0", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, p, err := SplitAddr(s)
		if err == nil && (h == "" || p == 0) {
			t.Errorf("SplitAddr(%q) = %q, %d without error", s, h, p)
		}
	})
}

func TestFoldKeepsStatistics(t *testing.T) {
	var all []Attempt
	r := &Result{}
	var old tally
	outcomes := []Outcome{OutcomeConnected, OutcomeRefused, OutcomeConnected, OutcomeTimeout, OutcomeUnreachable, OutcomeConnected}
	for i := 0; i < 25; i++ {
		a := Attempt{Seq: i + 1, Outcome: outcomes[i%len(outcomes)], RTT: time.Duration(i+1) * time.Microsecond}
		r.fold(&old, 4)
		r.Attempts = append(r.Attempts, a)
		all = append(all, a)
	}
	if len(r.Attempts) >= 9 || r.Omitted+len(r.Attempts) != 25 || r.Attempts[len(r.Attempts)-1].Seq != 25 {
		t.Fatalf("listed %d, omitted %d", len(r.Attempts), r.Omitted)
	}
	r.finish(time.Now(), old)
	want := &Result{Attempts: all}
	want.finish(time.Now(), tally{})
	if r.Stats != want.Stats || r.Refused != want.Refused || r.Timeouts != want.Timeouts || r.Unreachable != want.Unreachable {
		t.Errorf("after folding %+v %d/%d/%d, want %+v %d/%d/%d", r.Stats, r.Refused, r.Timeouts, r.Unreachable,
			want.Stats, want.Refused, want.Timeouts, want.Unreachable)
	}
}
