package cli

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"time"
)

// ResolveIPv4 turns a command's HOST argument into an IPv4 address: an address as given, or a name
// resolved by this process's resolver (bounded to 5 s). Errors are the command's one-line errors:
// bad input is a usage error of cmd, a name that does not resolve a failure to run.
func ResolveIPv4(ctx context.Context, cmd, host string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		if !a.Unmap().Is4() {
			return a, Usagef(cmd, "%q: only IPv4 targets are supported", host)
		}
		return a.Unmap(), nil
	}
	if host == "" || strings.ContainsAny(host, " \t\r\n/") {
		return netip.Addr{}, Usagef(cmd, "%q is not a host name or IPv4 address", host)
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(rctx, "ip4", host)
	if err != nil || len(addrs) == 0 {
		return netip.Addr{}, Failf("cannot resolve %q to an IPv4 address: give an IP address", host)
	}
	return addrs[0].Unmap(), nil
}
