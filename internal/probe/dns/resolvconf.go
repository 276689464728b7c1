package dns

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/netdoctor/netdoctor/internal/netns"
)

// glibc's defaults and limits (resolv/resolv.h, res_init.c).
const (
	defaultNdots    = 1
	maxNdots        = 15
	defaultTimeout  = 5 * time.Second
	maxTimeout      = 30 * time.Second
	defaultAttempts = 2
	maxAttempts     = 5
	// MaxNameservers is how many nameserver lines glibc uses; later ones are ignored (and reported in
	// Config.Warnings).
	MaxNameservers = 3
	// maxResolvConf bounds how much of a resolv.conf is read.
	maxResolvConf = 64 << 10
)

// Config is a parsed resolv.conf, with glibc's defaults filled in for what the file does not say.
type Config struct {
	// Source is the file the configuration was read from; empty when parsed from a reader, and
	// "(none)" when the file did not exist and glibc's defaults apply.
	Source string `json:"source,omitempty"`
	// Nameservers are the nameserver addresses in file order (all of them, even past the third, which
	// glibc ignores: Servers returns the ones used). Each is an IP without port. When the file names
	// none, glibc uses 127.0.0.1 and so does this list.
	Nameservers []string `json:"nameservers"`
	// Search is the search list in order ("domain X" sets a one-element list; the last of
	// domain/search wins, as in glibc). Never nil.
	Search []string `json:"search"`
	// Ndots is options ndots:N (default 1, capped at 15).
	Ndots int `json:"ndots"`
	// Timeout is options timeout:N, the wait for one answer (default 5 s, capped at 30 s).
	Timeout time.Duration `json:"timeoutNs"`
	// Attempts is options attempts:N, rounds over all servers (default 2, capped at 5).
	Attempts int `json:"attempts"`
	// UseVC is options use-vc (or tcp): query over TCP from the start.
	UseVC bool `json:"useVC,omitempty"`
	// Rotate is options rotate: start each query at the next server.
	Rotate bool `json:"rotate,omitempty"`
	// EDNS0 is options edns0: advertise a larger UDP buffer (1200 bytes, as glibc).
	EDNS0 bool `json:"edns0,omitempty"`
	// NoTLDQuery is options no-tld-query: never query a dotless name as is.
	NoTLDQuery bool `json:"noTLDQuery,omitempty"`
	// Options are all option words as written, for evidence.
	Options []string `json:"options,omitempty"`
	// Warnings are things a resolver expert would flag: ignored nameservers, unparsable lines.
	Warnings []string `json:"warnings,omitempty"`
}

// DefaultConfig is what glibc uses when there is no resolv.conf: 127.0.0.1, no search list, ndots 1,
// timeout 5 s, 2 attempts.
func DefaultConfig() *Config {
	return &Config{Nameservers: []string{"127.0.0.1"}, Search: []string{}, Ndots: defaultNdots,
		Timeout: defaultTimeout, Attempts: defaultAttempts}
}

// Servers are the nameservers glibc uses: the first MaxNameservers of Nameservers.
func (c *Config) Servers() []string {
	if len(c.Nameservers) > MaxNameservers {
		return c.Nameservers[:MaxNameservers]
	}
	return c.Nameservers
}

// ParseResolvConf parses resolv.conf text the way glibc's res_init does: nameserver, domain, search
// and options lines; '#' and ';' start comments; unknown keywords are ignored. It fails only when the
// reader fails; questionable content goes into Config.Warnings.
func ParseResolvConf(r io.Reader) (*Config, error) {
	c := DefaultConfig()
	c.Nameservers = nil
	sc := bufio.NewScanner(io.LimitReader(r, maxResolvConf))
	sc.Buffer(make([]byte, 0, 4096), maxResolvConf)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.IndexAny(line, "#;"); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "nameserver":
			if len(f) < 2 {
				c.Warnings = append(c.Warnings, fmt.Sprintf("line %d: nameserver without an address", n))
				continue
			}
			a, err := netip.ParseAddr(f[1])
			if err != nil {
				c.Warnings = append(c.Warnings, fmt.Sprintf("line %d: nameserver %q is not an IP address", n, f[1]))
				continue
			}
			c.Nameservers = append(c.Nameservers, a.String())
		case "domain":
			if len(f) >= 2 {
				c.Search = []string{f[1]}
			}
		case "search":
			c.Search = append([]string{}, f[1:]...)
		case "options":
			for _, o := range f[1:] {
				c.Options = append(c.Options, o)
				c.option(n, o)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("probe/dns: read resolv.conf: %w", err)
	}
	if len(c.Nameservers) == 0 {
		c.Nameservers = []string{"127.0.0.1"}
		c.Warnings = append(c.Warnings, "no nameserver line: glibc uses 127.0.0.1")
	}
	if len(c.Nameservers) > MaxNameservers {
		c.Warnings = append(c.Warnings, fmt.Sprintf("%d nameservers: glibc uses only the first %d, ignores %s",
			len(c.Nameservers), MaxNameservers, strings.Join(c.Nameservers[MaxNameservers:], " ")))
	}
	return c, nil
}

func (c *Config) option(line int, o string) {
	name, val, hasVal := strings.Cut(o, ":")
	num := func(def, max int) int {
		v, err := strconv.Atoi(val)
		if !hasVal || err != nil || v < 0 {
			c.Warnings = append(c.Warnings, fmt.Sprintf("line %d: option %q needs a number", line, o))
			return def
		}
		return min(v, max)
	}
	switch name {
	case "ndots":
		c.Ndots = num(c.Ndots, maxNdots)
	case "timeout":
		c.Timeout = time.Duration(max(num(int(c.Timeout/time.Second), int(maxTimeout/time.Second)), 1)) * time.Second
	case "attempts":
		c.Attempts = max(num(c.Attempts, maxAttempts), 1)
	case "use-vc", "tcp":
		c.UseVC = true
	case "rotate":
		c.Rotate = true
	case "edns0":
		c.EDNS0 = true
	case "no-tld-query":
		c.NoTLDQuery = true
	}
}

// ResolvConfPath is the resolv.conf a process in the vantage point spec reads: for a PID, the file in
// that process's root (/proc/PID/root/etc/resolv.conf); for a netns name, /etc/netns/NAME/resolv.conf
// when it exists (as `ip netns exec` bind-mounts it), else /etc/resolv.conf; otherwise /etc/resolv.conf.
func ResolvConfPath(spec netns.Spec) string {
	switch {
	case spec.PID != 0:
		return "/proc/" + strconv.Itoa(spec.PID) + "/root/etc/resolv.conf"
	case spec.Netns != "" && !strings.Contains(spec.Netns, "/"):
		p := "/etc/netns/" + spec.Netns + "/resolv.conf"
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "/etc/resolv.conf"
}

// LoadResolvConf reads and parses the file at path. A missing file is not an error: glibc's defaults
// apply (DefaultConfig, Source "(none)" and a warning).
func LoadResolvConf(path string) (*Config, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		c := DefaultConfig()
		c.Source = "(none)"
		c.Warnings = append(c.Warnings, path+" does not exist: glibc uses 127.0.0.1")
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("probe/dns: %w", err)
	}
	defer f.Close()
	c, err := ParseResolvConf(f)
	if err != nil {
		return nil, err
	}
	c.Source = path
	return c, nil
}
