package engine

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Spec is a parsed --from or --to value.
type Spec struct {
	Kind      string // pod, svc, netns, pid, host, ip, name
	Namespace string // pod/svc namespace ("" = default namespace of the request)
	Name      string // pod/svc name, netns name or path, DNS name
	PID       int
	IP        netip.Addr
	Port      uint16 // 0 when not given
	HasPort   bool
}

// ParseFrom parses SRC: pod/NS/NAME (or pod/NAME), node/NAME, pid/PID, netns/NAME-or-PATH, host.
func ParseFrom(s string, defaultNS string) (Spec, error) {
	switch {
	case s == "host" || s == "":
		return Spec{Kind: "host"}, nil
	case strings.HasPrefix(s, "pod/"):
		ns, name, err := nsName(strings.TrimPrefix(s, "pod/"), defaultNS)
		if err != nil {
			return Spec{}, fmt.Errorf("--from %q: %w (want pod/NAMESPACE/NAME)", s, err)
		}
		return Spec{Kind: "pod", Namespace: ns, Name: name}, nil
	case strings.HasPrefix(s, "pid/"):
		pid, err := strconv.Atoi(strings.TrimPrefix(s, "pid/"))
		if err != nil || pid <= 0 {
			return Spec{}, fmt.Errorf("--from %q: not a process ID (want pid/PID)", s)
		}
		return Spec{Kind: "pid", PID: pid}, nil
	case strings.HasPrefix(s, "node/"):
		n := strings.TrimPrefix(s, "node/")
		if n == "" || strings.Contains(n, "/") {
			return Spec{}, fmt.Errorf("--from %q: want node/NAME", s)
		}
		return Spec{Kind: "node", Name: n}, nil
	case strings.HasPrefix(s, "netns/"):
		n := strings.TrimPrefix(s, "netns/")
		if n == "" {
			return Spec{}, fmt.Errorf("--from %q: empty namespace (want netns/NAME or netns//PATH)", s)
		}
		return Spec{Kind: "netns", Name: n}, nil
	}
	return Spec{}, fmt.Errorf("--from %q: want pod/NAMESPACE/NAME, node/NAME, pid/PID, netns/NAME-or-PATH or host", s)
}

// ParseTo parses DST: IP, IP:PORT, NAME[:PORT], svc/NS/NAME[:PORT], pod/NS/NAME[:PORT].
func ParseTo(s string, defaultNS string) (Spec, error) {
	if s == "" {
		return Spec{}, fmt.Errorf("--to is required: IP[:PORT], NAME[:PORT], svc/NS/NAME[:PORT] or pod/NS/NAME[:PORT]")
	}
	for _, kind := range []string{"svc", "pod"} {
		if rest, ok := strings.CutPrefix(s, kind+"/"); ok {
			rest, port, has, err := splitPort(rest)
			if err != nil {
				return Spec{}, fmt.Errorf("--to %q: %w", s, err)
			}
			ns, name, err := nsName(rest, defaultNS)
			if err != nil {
				return Spec{}, fmt.Errorf("--to %q: %w (want %s/NAMESPACE/NAME[:PORT])", s, err, kind)
			}
			return Spec{Kind: kind, Namespace: ns, Name: name, Port: port, HasPort: has}, nil
		}
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		if ap.Port() == 0 {
			return Spec{}, fmt.Errorf("--to %q: port 0 is not a port", s)
		}
		return Spec{Kind: "ip", IP: ap.Addr().Unmap(), Port: ap.Port(), HasPort: true}, nil
	}
	if ip, err := netip.ParseAddr(s); err == nil {
		return Spec{Kind: "ip", IP: ip.Unmap()}, nil
	}
	host, port, has, err := splitPort(s)
	if err != nil {
		return Spec{}, fmt.Errorf("--to %q: %w", s, err)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return Spec{Kind: "ip", IP: ip, Port: port, HasPort: has}, nil
	}
	if !validName(host) {
		return Spec{}, fmt.Errorf("--to %q: not an IP, a DNS name, svc/NS/NAME or pod/NS/NAME", s)
	}
	return Spec{Kind: "name", Name: host, Port: port, HasPort: has}, nil
}

func nsName(s, defaultNS string) (string, string, error) {
	parts := strings.Split(s, "/")
	switch {
	case len(parts) == 1 && parts[0] != "":
		if defaultNS == "" {
			defaultNS = "default"
		}
		return defaultNS, parts[0], nil
	case len(parts) == 2 && parts[0] != "" && parts[1] != "":
		return parts[0], parts[1], nil
	}
	return "", "", fmt.Errorf("bad namespace/name")
}

func splitPort(s string) (string, uint16, bool, error) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return s, 0, false, nil
	}
	p, err := strconv.Atoi(s[i+1:])
	if err != nil || p < 1 || p > 65535 {
		return "", 0, false, fmt.Errorf("port %q out of range 1-65535", s[i+1:])
	}
	return s[:i], uint16(p), true, nil
}

func validName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, c := range label {
			if !(c == '-' || c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
				return false
			}
		}
	}
	return true
}
