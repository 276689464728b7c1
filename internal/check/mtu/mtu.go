// Package mtu is the check "mtu": the MTU chain along the path (client, pod, bridge, tunnel, node
// NICs), DF probes that find the largest packet that passes, and the black-hole verdict when
// packets above it vanish without an ICMP frag-needed (seed case 2: an outside VM with MTU 1500
// talking into a tunnel of MTU 1440).
package mtu

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/netdoctor/netdoctor/internal/check"
	"github.com/netdoctor/netdoctor/internal/diag"
	"github.com/netdoctor/netdoctor/internal/nodestate"
)

// Name is the check's stable name.
const Name = "mtu"

// New returns the check.
func New() check.Check { return check.Func(Name, run) }

// link is one MTU on the chain.
type link struct {
	where string // "client netns vm eth0", "node2 flannel.1"
	node  string
	iface string
	mtu   int
	tun   bool
	vxlan bool
}

func run(ctx context.Context, env *check.Env) ([]diag.Finding, error) {
	o := env.Obs
	largeBad := o != nil && o.Large != nil && o.Large.Outcome != "ok"
	if env.Symptom != diag.KindLargePacketLoss && !largeBad && env.Symptom != diag.KindHealthy {
		return nil, nil
	}
	chain := mtuChain(ctx, env)
	if env.Symptom == diag.KindHealthy && !largeBad {
		return latentMismatch(env, chain), nil
	}
	var p *check.PMTUObs
	if o.PMTU != nil {
		p = o.PMTU
	} else if env.Probe != nil && env.Target.IP.IsValid() {
		var err error
		if p, err = env.Probe.PMTU(ctx, env.SourceVantage(), probeTarget(env)); err != nil {
			env.Logf("mtu: pmtu probe: %v", err)
			p = nil
		}
	}
	client := chainClient(chain)
	measured := 0
	if p != nil {
		measured = p.PathMTU
		if p.BlackHole {
			measured = p.LargestOK
		}
	}
	smallest := smallestLink(chain, client, measured)
	f := check.Finding(Name, diag.KindLargePacketLoss, diag.SeverityCritical, diag.Hop{Where: "path between the client and " + env.Target.String()}, "")
	if measured > 0 && smallest == nil {
		f.Hop.Where = fmt.Sprintf("a link with MTU %d between %s and %s, outside the nodes' view", measured, env.Source.String(), env.Target.String())
	}
	if smallest != nil {
		f.Hop = diag.Hop{Node: smallest.node, Interface: smallest.iface, Where: smallest.where}
	}
	if client != nil {
		check.Evidencef(f, "client MTU %d (%s)", client.mtu, client.where)
	}
	for _, l := range chain {
		if l != *client {
			check.Evidencef(f, "MTU %d on %s", l.mtu, l.where)
		}
	}
	if p != nil && p.BlackHole && smallest == nil {
		if line, where := locateBlackHole(ctx, env, p); line != "" {
			check.Evidencef(f, "%s", line)
			f.Hop.Where = where
		}
	}
	pathMTU := 0
	if p != nil {
		pathMTU = p.PathMTU
		switch {
		case p.BlackHole:
			check.Evidencef(f, "DF probes to %s: packets of %d bytes pass, %d bytes vanish, no ICMP frag-needed came back (%d probes)", p.Target, p.LargestOK, p.SmallestLost, p.Probes)
			pathMTU = p.LargestOK
		case p.FragNeeded:
			check.Evidencef(f, "DF probes to %s: ICMP frag-needed from %s announces MTU %d", p.Target, p.FragFrom, p.FragMTU)
		default:
			check.Evidencef(f, "DF probes to %s: path MTU %d (local %d)", p.Target, p.PathMTU, p.LocalMTU)
		}
	}
	// Pod to pod across nodes: the tunnel's own packets are 50 bytes larger than what the pods send.
	crossNode := !env.Source.Outside && env.Source.NodeName() != "" && len(env.NodesOnPath()) > 1
	if vx := vxlanOnPath(chain); vx != nil && crossNode && measured > 0 && measured < vx.mtu {
		underlay := measured + vxlanOverhead
		check.Evidencef(f, "%s (MTU %d) is crossed: packets of %d bytes inside the tunnel are %d bytes on the underlay (VXLAN adds %d), so the underlay between the nodes carries at most %d bytes, less than the %d that a tunnel MTU of %d needs",
			vx.where, vx.mtu, measured, underlay, vxlanOverhead, underlay, vx.mtu+vxlanOverhead, vx.mtu)
		f.Hop = diag.Hop{Where: fmt.Sprintf("the underlay network between the nodes (MTU %d, below %s's %d + %d)", underlay, vx.where, vx.mtu, vxlanOverhead)}
		f.Title = fmt.Sprintf("the underlay carries only %d-byte packets, but the VXLAN tunnel (MTU %d) needs %d", underlay, vx.mtu, vx.mtu+vxlanOverhead)
		defer func() {
			f.Cause = fmt.Sprintf("VXLAN encapsulation adds %d bytes; the tunnel devices are set to MTU %d, so full-size encapsulated packets are %d bytes, but a link of the underlay between the nodes only carries %d. They are dropped there, and no ICMP frag-needed comes back to the pods.", vxlanOverhead, vx.mtu, vx.mtu+vxlanOverhead, underlay)
			f.Fix = fmt.Sprintf("Raise the underlay MTU to at least %d on every switch port and NIC between the nodes, or lower the CNI/tunnel MTU to %d (flannel: FLANNEL_MTU / net-conf.json) and recreate the pods.", vx.mtu+vxlanOverhead, underlay-vxlanOverhead)
		}()
	}
	if l := o.Large; l != nil {
		check.Evidencef(f, "TCP to %s: handshake %s, %d-byte transfer: %d bytes acknowledged, %d retransmissions, MSS %d — %s",
			l.Addr, okWord(l.Handshake), l.Bytes, l.Acked, l.Retransmits, l.MSS, l.Outcome)
	}
	tunnel := smallest
	if pathMTU == 0 && tunnel != nil && p == nil {
		pathMTU = tunnel.mtu
	}
	clientMTU := 0
	if client != nil {
		clientMTU = client.mtu
	}
	switch {
	case clientMTU > 0 && pathMTU > 0 && clientMTU > pathMTU:
		f.Title = fmt.Sprintf("path-MTU black hole: the client sends %d-byte packets, the path carries only %d", clientMTU, pathMTU)
		if tunnel != nil {
			f.Title = fmt.Sprintf("path-MTU black hole: client MTU %d, %s MTU %d", clientMTU, tunnel.where, tunnel.mtu)
		}
	case p != nil && p.BlackHole:
		f.Title = fmt.Sprintf("path-MTU black hole: packets above %d bytes vanish", p.LargestOK)
	case largeBad:
		f.Title = "small packets pass, large ones are lost"
	default:
		return nil, nil
	}
	frag := "ICMP \"fragmentation needed\" messages never reach the client (they are dropped or not sent), so it keeps sending full-size segments that are dropped and retransmitted forever"
	if p != nil && p.FragNeeded {
		frag = "ICMP frag-needed does arrive, but the application or a middlebox ignores it"
	}
	f.Cause = fmt.Sprintf("The client's MTU (%d) is larger than the path MTU (%d); the TCP handshake and small requests fit, full-size segments do not. %s.", clientMTU, pathMTU, frag)
	fixes := []string{}
	if clientMTU > 0 && pathMTU > 0 {
		fixes = append(fixes, fmt.Sprintf("lower the client's MTU to %d (ip link set dev %s mtu %d)", pathMTU, ifaceOf(client), pathMTU))
	}
	if tunnel != nil && tunnel.tun {
		fixes = append(fixes, fmt.Sprintf("or raise the tunnel/CNI MTU on %s so full-size packets fit", tunnel.where))
	}
	fixes = append(fixes, "or let ICMP type 3 code 4 (fragmentation needed) through every firewall on the path", "or clamp the TCP MSS to the path MTU (iptables -t mangle -A FORWARD -p tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu)")
	f.Fix = strings.ToUpper(fixes[0][:1]) + fixes[0][1:] + "; " + strings.Join(fixes[1:], "; ") + "."
	return []diag.Finding{*f}, nil
}

// vxlanOverhead is what VXLAN over IPv4 adds: outer IP 20 + UDP 8 + VXLAN 8 + inner Ethernet 14.
const vxlanOverhead = 50

// vxlanOnPath is the first VXLAN device of the chain, nil when the path crosses none.
func vxlanOnPath(chain []link) *link {
	for i := range chain {
		if chain[i].vxlan {
			return &chain[i]
		}
	}
	return nil
}

func okWord(b bool) string {
	if b {
		return "ok"
	}
	return "failed"
}

func ifaceOf(l *link) string {
	if l == nil || l.iface == "" {
		return "eth0"
	}
	return l.iface
}

// probeTarget is where DF probes go: the target IP (a ClusterIP does not answer ICMP, so an
// endpoint of it instead).
func probeTarget(env *check.Env) netip.Addr {
	t := env.Target
	if t.Service != nil && env.Cluster.ServiceByIP(t.IP) != nil {
		if eps := env.ServiceEndpoints(t.Service, t.ServicePort); len(eps.Ready) > 0 {
			return eps.Ready[0].IP
		}
	}
	return t.IP
}

// mtuChain reads the MTUs along the path from the snapshots it can get.
func mtuChain(ctx context.Context, env *check.Env) []link {
	var chain []link
	if env.Views == nil {
		return chain
	}
	var src *nodestate.Snapshot
	var err error
	switch {
	case env.Source.Pod != nil:
		src, err = env.Views.Pod(ctx, env.Source.Pod)
	case env.Source.Netns != "":
		src, err = env.Views.Netns(ctx, env.Source.Netns)
	}
	if err == nil && src != nil {
		if l := egressLink(src, env); l != nil {
			chain = append(chain, link{where: fmt.Sprintf("%s %s", env.Source.String(), l.Name), iface: l.Name, mtu: l.MTU})
		}
	}
	for _, n := range env.NodesOnPath() {
		s, err := env.Views.Node(ctx, n)
		if err != nil || s == nil {
			continue
		}
		for _, l := range s.Links {
			if l.Name == "lo" || l.Type == "veth" || !l.Up {
				continue
			}
			tun := l.VXLAN != nil || l.Type == "ipip" || l.Type == "wireguard" || l.Type == "geneve" || strings.HasPrefix(l.Name, "tunl") || strings.HasPrefix(l.Name, "flannel")
			chain = append(chain, link{where: fmt.Sprintf("%s %s", n, l.Name), node: n, iface: l.Name, mtu: l.MTU, tun: tun, vxlan: l.VXLAN != nil})
		}
	}
	return chain
}

// egressLink is the link the source sends to the target through (its default route, or the link
// on the target's subnet).
func egressLink(s *nodestate.Snapshot, env *check.Env) *nodestate.Link {
	best := -1
	var dev string
	for _, r := range s.Routes {
		if r.Table != 254 || !r.Dst.Addr().Is4() {
			continue
		}
		if r.Dst.Contains(env.Target.IP) && r.Dst.Bits() > best {
			best, dev = r.Dst.Bits(), r.Dev
		}
	}
	if dev == "" {
		for _, l := range s.Links {
			if l.Name != "lo" && l.Up {
				return &l
			}
		}
		return nil
	}
	return s.Link(dev)
}

func chainClient(chain []link) *link {
	if len(chain) > 0 && chain[0].node == "" {
		return &chain[0]
	}
	return nil
}

// smallestLink is the hop with the smallest MTU below the client's (tunnels first on ties). When
// the path MTU was measured, only a link with exactly that MTU can be the culprit.
func smallestLink(chain []link, client *link, measured int) *link {
	var cands []link
	for _, l := range chain {
		if client != nil && (l == *client || l.mtu >= client.mtu) {
			continue
		}
		if measured > 0 && l.mtu != measured {
			continue
		}
		cands = append(cands, l)
	}
	sort.SliceStable(cands, func(i, j int) bool {
		if cands[i].mtu != cands[j].mtu {
			return cands[i].mtu < cands[j].mtu
		}
		return cands[i].tun && !cands[j].tun
	})
	if len(cands) == 0 {
		return nil
	}
	return &cands[0]
}

// latentMismatch warns when a pod's MTU exceeds the tunnel's on its node, even if nothing failed.
func latentMismatch(env *check.Env, chain []link) []diag.Finding {
	client := chainClient(chain)
	if client == nil || env.Source.Pod == nil {
		return nil
	}
	for _, l := range chain {
		if l.tun && l.node == env.Source.NodeName() && client.mtu > l.mtu+50 {
			f := check.Finding(Name, diag.KindLargePacketLoss, diag.SeverityWarning, diag.Hop{Node: l.node, Interface: l.iface, Where: l.where},
				fmt.Sprintf("pod MTU %d exceeds the tunnel MTU %d on %s", client.mtu, l.mtu, l.node))
			check.Evidencef(f, "%s MTU %d; %s MTU %d (encapsulation needs 50 bytes)", client.where, client.mtu, l.where, l.mtu)
			f.Cause = "Full-size packets from the pod cannot be encapsulated; they rely on PMTU discovery working end to end."
			f.Fix = fmt.Sprintf("Set the CNI MTU to %d or less (flannel: net-conf.json / FLANNEL_MTU) and recreate the pods.", l.mtu)
			return []diag.Finding{*f}
		}
	}
	return nil
}

// maxHops bounds the TTL walk that locates a black hole.
const maxHops = 8

// locateBlackHole walks the TTL up with a small and a too-large DF ping: the large one stops getting
// time-exceeded answers one hop before the small one does, which names the link that drops it.
func locateBlackHole(ctx context.Context, env *check.Env, p *check.PMTUObs) (line, where string) {
	hp, ok := env.Probe.(check.HopProber)
	if !ok || p.SmallestLost <= 28 {
		return "", ""
	}
	from := env.SourceVantage()
	prev := "the client"
	for ttl := 1; ttl <= maxHops; ttl++ {
		small, err := hp.PingHop(ctx, from, p.Target, 56, true, ttl)
		if err != nil || small.Outcome != "time-exceeded" && small.Outcome != "ok" {
			return "", ""
		}
		big, err := hp.PingHop(ctx, from, p.Target, p.SmallestLost-28, true, ttl)
		if err != nil {
			return "", ""
		}
		hop := small.ErrorFrom.String()
		if big.Outcome != small.Outcome || big.ErrorFrom != small.ErrorFrom {
			line = fmt.Sprintf("DF pings of %d bytes reach %s, but with TTL %d only the small ones reach %s (hop %d): the link between %s and %s carries at most %d bytes",
				p.SmallestLost, prev, ttl, hop, ttl, prev, hop, p.LargestOK)
			return line, fmt.Sprintf("the link between %s and %s (MTU %d, outside the nodes' view)", prev, hop, p.LargestOK)
		}
		if small.Outcome == "ok" {
			return "", ""
		}
		prev = hop
	}
	return "", ""
}
