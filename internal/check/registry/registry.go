// Package registry is the ordered list of every diagnosis check. Adding a check means adding one
// line here; there is no init() registration.
package registry

import (
	"github.com/netdoctor/netdoctor/internal/check"
	"github.com/netdoctor/netdoctor/internal/check/dns"
	"github.com/netdoctor/netdoctor/internal/check/drops"
	"github.com/netdoctor/netdoctor/internal/check/firewall"
	"github.com/netdoctor/netdoctor/internal/check/ipam"
	"github.com/netdoctor/netdoctor/internal/check/kubeproxy"
	"github.com/netdoctor/netdoctor/internal/check/listener"
	"github.com/netdoctor/netdoctor/internal/check/masquerade"
	"github.com/netdoctor/netdoctor/internal/check/mtu"
	"github.com/netdoctor/netdoctor/internal/check/netpol"
	"github.com/netdoctor/netdoctor/internal/check/route"
	"github.com/netdoctor/netdoctor/internal/check/service"
	"github.com/netdoctor/netdoctor/internal/check/sysctl"
	"github.com/netdoctor/netdoctor/internal/check/vxlan"
)

// All returns every check, in the order of the seed workflow: kube-proxy and its rules, the
// service's endpoints, routes and the tunnel, MTU, DNS, the listener, firewall rules (by their counters), the kernel's own drop reasons, NetworkPolicies, node settings, IPAM, egress.
func All() []check.Check {
	return []check.Check{
		kubeproxy.New(),
		service.New(),
		route.New(),
		vxlan.New(),
		mtu.New(),
		dns.New(),
		listener.New(),
		firewall.New(),
		drops.New(),
		netpol.New(),
		sysctl.New(),
		ipam.New(),
		masquerade.New(),
	}
}
