package drops

import (
	"context"
	"net/netip"
	"sync"

	"github.com/netdoctor/netdoctor/internal/check"
)

// Resends is how many times the failing probe is sent again while the tracer is attached.
const Resends = 3

// largeSize is the DF echo size re-sent for large-packet loss when the request gave none.
const largeSize = 1472

// resender returns a function that sends the failing symptom probe again, or nil when no probe
// failed. It follows the firewall check's choice of probe (a check may not import another), and
// adds the large DF echo of large-packet loss, whose drops the kernel names PKT_TOO_BIG.
func resender(env *check.Env) func(context.Context) {
	from := env.SourceVantage()
	o := env.Obs
	if o == nil {
		return nil
	}
	switch {
	case o.TCP != nil && o.TCP.Connected < o.TCP.Sent:
		addr := o.TCP.Addr
		return func(ctx context.Context) { _, _ = env.Probe.TCP(ctx, from, addr, Resends) }
	case o.DNS != nil && !o.DNS.Resolved || o.UDP != nil && o.UDP.Outcome != "answered":
		var servers []netip.AddrPort
		name := ""
		if env.Target != nil {
			name = env.Target.Name
		}
		if o.DNS != nil {
			for _, ns := range o.DNS.Nameservers {
				servers = append(servers, netip.AddrPortFrom(ns, 53))
			}
			name = o.DNS.Name
		}
		if o.UDP != nil {
			servers = append(servers, o.UDP.Addr)
		}
		if name == "" {
			name = "."
		}
		return func(ctx context.Context) {
			var wg sync.WaitGroup
			for _, s := range servers {
				for i := 0; i < Resends; i++ {
					wg.Add(1)
					go func(s netip.AddrPort) {
						defer wg.Done()
						_, _ = env.Probe.DNS(ctx, from, check.DNSQuery{Name: name, Server: s})
					}(s)
				}
			}
			wg.Wait()
		}
	case o.ICMP != nil && o.ICMP.Received < o.ICMP.Sent:
		ip := o.ICMP.Target
		return func(ctx context.Context) { _, _ = env.Probe.Ping(ctx, from, ip, 56, false, Resends) }
	case o.Large != nil && o.Large.Outcome != "ok" && o.Large.Addr.IsValid():
		ip := o.Large.Addr.Addr()
		size := env.Size
		if size <= 0 {
			size = largeSize
		}
		return func(ctx context.Context) { _, _ = env.Probe.Ping(ctx, from, ip, size, true, Resends) }
	}
	return nil
}
