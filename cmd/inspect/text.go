package inspect

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/netdoctor/netdoctor/internal/nodestate"
)

// maxChainsShown bounds the per-table chain list of the text output (-o json has everything).
const maxChainsShown = 15

func writeSnapshot(out io.Writer, s *nodestate.Snapshot) error {
	w := &errWriter{w: out}
	w.printf("Network state of %s at %s\n", s.Netns, s.Taken.Format(time.RFC3339))

	w.printf("\nLinks\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  IDX\tNAME\tTYPE\tSTATE\tMTU\tMASTER\tMAC\n")
	for _, l := range s.Links {
		state := l.State
		if !l.Up {
			state = "admin-down"
		}
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%d\t%s\t%s\n", l.Index, l.Name, l.Type, state, l.MTU, dash(l.Master), dash(l.MAC))
	}
	tw.Flush()
	for _, l := range s.Links {
		var extra []string
		for _, a := range l.Addrs {
			extra = append(extra, "addr "+addrText(a))
		}
		if l.Type == "veth" && l.PeerIndex > 0 {
			where := "this netns"
			if l.PeerNetnsID >= 0 {
				where = fmt.Sprintf("netns id %d", l.PeerNetnsID)
			}
			extra = append(extra, fmt.Sprintf("veth peer ifindex %d in %s", l.PeerIndex, where))
		}
		if v := l.VXLAN; v != nil {
			learn := "nolearning"
			if v.Learning {
				learn = "learning"
			}
			extra = append(extra, fmt.Sprintf("vxlan id %d local %s dev %s dstport %d %s", v.VNI, addrOr(v.Local.String(), v.Local.IsValid()), dash(v.Dev), v.Port, learn))
		}
		if len(extra) > 0 {
			w.printf("  %s: %s\n", l.Name, strings.Join(extra, "; "))
		}
	}

	w.printf("\nRoutes\n")
	lastTable := -1
	for _, r := range s.Routes {
		if r.Table != lastTable {
			w.printf("  table %s\n", tableName(r.Table))
			lastTable = r.Table
		}
		w.printf("    %s\n", routeText(r))
	}

	w.printf("\nRules\n")
	for _, r := range s.Rules {
		w.printf("  %s\n", ruleText(r))
	}

	w.printf("\nNeighbours\n")
	for _, n := range s.Neighbors {
		w.printf("  %s dev %s lladdr %s %s\n", n.IP, n.Dev, dash(n.MAC), n.State)
	}
	w.printf("\nBridge FDB (configured and remote entries)\n")
	for _, e := range s.FDB {
		if !e.Dst.IsValid() && !e.Permanent {
			continue
		}
		line := fmt.Sprintf("  %s dev %s", e.MAC, e.Dev)
		if e.Dst.IsValid() {
			line += " dst " + e.Dst.String()
		}
		if e.Master != "" {
			line += " master " + e.Master
		}
		if e.Self {
			line += " self"
		}
		if e.Permanent {
			line += " permanent"
		}
		w.printf("%s\n", line)
	}

	sy := s.Sysctls
	w.printf("\nSysctls\n  ip_forward %d  forwarding %s\n  rp_filter %s\n", b2i(sy.IPForward), mapText(sy.Forwarding), mapText(sy.RPFilter))
	if sy.BridgeNFCallIptables != nil {
		w.printf("  bridge-nf-call-iptables %d\n", b2i(*sy.BridgeNFCallIptables))
	} else {
		w.printf("  bridge-nf-call-iptables: br_netfilter not loaded\n")
	}
	if sy.ConntrackMax >= 0 {
		w.printf("  conntrack %d / %d\n", sy.ConntrackCount, sy.ConntrackMax)
	}

	if ipt := s.Iptables; ipt != nil {
		w.printf("\niptables (backend %s): %d rules\n", ipt.Backend, ipt.Rules)
		if ipt.Other != nil {
			w.printf("  WARNING: the %s backend holds %d rules too; the kernel runs both\n", ipt.Other.Backend, ipt.Other.Rules)
		}
		writeIptables(w, ipt)
	}
	if n := s.Nft; n != nil {
		w.printf("\nnftables: %d tables\n", len(n.Tables))
		for _, t := range n.Tables {
			rules := 0
			for _, c := range t.Chains {
				rules += len(c.Rules)
			}
			note := ""
			switch {
			case t.IptablesNft:
				note = " (iptables-nft's; shown above)"
			case t.KubeProxy:
				note = " (kube-proxy nftables mode)"
			}
			w.printf("  table %s %s: %d chains, %d rules, %d sets/maps%s\n", t.Family, t.Name, len(t.Chains), rules, len(t.Sets), note)
			for _, c := range t.Chains {
				if c.Hook != "" {
					w.printf("    chain %s: type %s hook %s priority %d policy %s, %d rules\n", c.Name, c.Type, c.Hook, c.Priority, dash(c.Policy), len(c.Rules))
				}
			}
		}
	}
	if len(s.IPSets) > 0 {
		names := make([]string, 0, len(s.IPSets))
		for n := range s.IPSets {
			names = append(names, n)
		}
		sort.Strings(names)
		w.printf("\nipsets\n")
		for _, n := range names {
			w.printf("  %s (%s): %d members\n", n, s.IPSets[n].Type, len(s.IPSets[n].Members))
		}
	}

	if c := s.CNI; c != nil {
		w.printf("\nCNI (%s)\n", c.Dir)
		if len(c.Configs) == 0 {
			w.printf("  no config files\n")
		}
		for i, cf := range c.Configs {
			mark := " "
			if i == 0 {
				mark = "*" // the runtime uses the first file
			}
			if cf.Error != "" {
				w.printf(" %s %s: %s\n", mark, cf.File, cf.Error)
				continue
			}
			w.printf(" %s %s: name %s plugins %s%s%s%s\n", mark, cf.File, cf.Name, strings.Join(cf.Plugins, ","),
				opt(" bridge ", cf.Bridge), opt(" subnet ", cf.Subnet), optInt(" mtu ", cf.MTU))
		}
		for _, r := range c.IPAM {
			free := fmt.Sprint(r.Free)
			if r.Free < 0 {
				free = "unknown"
			}
			w.printf("  IPAM %s %s: %d used, %s free\n", r.Network, r.Range, r.Used, free)
		}
	}
	if f := s.Flannel; f != nil {
		w.printf("\nflannel (%s): network %s subnet %s mtu %d ipmasq %v\n", f.File, f.Network, f.Subnet, f.MTU, f.IPMasq)
	}
	if k := s.Kubelet; k != nil {
		w.printf("\nkubelet (%s): clusterDNS %s clusterDomain %s resolvConf %s\n", k.File, strings.Join(k.ClusterDNS, ","), dash(k.ClusterDomain), dash(k.ResolvConf))
	}
	if len(s.Sockets) > 0 {
		w.printf("\nListening sockets\n")
		for _, so := range s.Sockets {
			w.printf("  %s %s %s\n", so.Proto, so.Local, so.State)
		}
	}
	if len(s.Errors) > 0 {
		w.printf("\nCould not read\n")
		for _, e := range s.Errors {
			w.printf("  %s\n", e)
		}
	}
	return w.err
}

func writeIptables(w *errWriter, ipt *nodestate.Iptables) {
	names := make([]string, 0, len(ipt.Tables))
	for n := range ipt.Tables {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t := ipt.Tables[n]
		rules, svc, sep := 0, 0, 0
		for _, c := range t.Chains {
			rules += len(c.Rules)
			switch {
			case strings.HasPrefix(c.Name, "KUBE-SVC-"):
				svc++
			case strings.HasPrefix(c.Name, "KUBE-SEP-"):
				sep++
			}
		}
		line := fmt.Sprintf("  table %s: %d chains, %d rules", n, len(t.Chains), rules)
		if svc+sep > 0 {
			line += fmt.Sprintf(" (kube-proxy: %d service chains, %d endpoint chains)", svc, sep)
		}
		w.printf("%s\n", line)
		shown := 0
		for _, cn := range t.Order {
			c := t.Chains[cn]
			if strings.HasPrefix(cn, "KUBE-SVC-") || strings.HasPrefix(cn, "KUBE-SEP-") || strings.HasPrefix(cn, "KUBE-EXT-") ||
				strings.HasPrefix(cn, "KUBE-SVL-") || strings.HasPrefix(cn, "KUBE-FW-") {
				continue
			}
			if shown == maxChainsShown {
				w.printf("    … more chains in -o json\n")
				break
			}
			shown++
			pol := ""
			if c.Policy != "" {
				pol = " policy " + c.Policy
			}
			w.printf("    %s%s: %d rules\n", cn, pol, len(c.Rules))
		}
	}
}

func addrText(a nodestate.Addr) string {
	s := a.Prefix.String()
	var flags []string
	if a.Secondary {
		flags = append(flags, "secondary")
	}
	if a.Dynamic {
		flags = append(flags, "dynamic")
	}
	if a.ValidLft > 0 {
		flags = append(flags, fmt.Sprintf("valid_lft %ds", int(a.ValidLft.Seconds())))
	}
	if a.Label != "" {
		flags = append(flags, "label "+a.Label)
	}
	if len(flags) > 0 {
		s += " (" + strings.Join(flags, ", ") + ")"
	}
	return s
}

func routeText(r nodestate.Route) string {
	var b strings.Builder
	if r.Type != "unicast" {
		b.WriteString(r.Type + " ")
	}
	if r.Dst.Bits() == 0 {
		b.WriteString("default")
	} else {
		b.WriteString(r.Dst.String())
	}
	if r.Gw.IsValid() {
		b.WriteString(" via " + r.Gw.String())
	}
	if r.Dev != "" {
		b.WriteString(" dev " + r.Dev)
	}
	if r.Proto != "" && r.Proto != "boot" {
		b.WriteString(" proto " + r.Proto)
	}
	if r.Scope != "" && r.Scope != "universe" {
		b.WriteString(" scope " + r.Scope)
	}
	if r.Src.IsValid() {
		b.WriteString(" src " + r.Src.String())
	}
	if r.Metric != 0 {
		b.WriteString(fmt.Sprintf(" metric %d", r.Metric))
	}
	if r.MTU != 0 {
		b.WriteString(fmt.Sprintf(" mtu %d", r.MTU))
	}
	if r.Onlink {
		b.WriteString(" onlink")
	}
	for _, m := range r.Multipath {
		b.WriteString(" nexthop " + m)
	}
	return b.String()
}

func ruleText(r nodestate.Rule) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d: ", r.Priority)
	if r.Invert {
		b.WriteString("not ")
	}
	if r.Src.IsValid() {
		b.WriteString("from " + r.Src.String())
	} else {
		b.WriteString("from all")
	}
	if r.Dst.IsValid() {
		b.WriteString(" to " + r.Dst.String())
	}
	if r.Iif != "" {
		b.WriteString(" iif " + r.Iif)
	}
	if r.Oif != "" {
		b.WriteString(" oif " + r.Oif)
	}
	if r.Mask != 0 {
		fmt.Fprintf(&b, " fwmark %#x/%#x", r.Mark, r.Mask)
	}
	switch r.Action {
	case "lookup":
		b.WriteString(" lookup " + tableName(r.Table))
	default:
		b.WriteString(" " + r.Action)
	}
	if r.SuppressPrefixlen >= 0 {
		fmt.Fprintf(&b, " suppress_prefixlength %d", r.SuppressPrefixlen)
	}
	if r.Family == 6 {
		b.WriteString(" (IPv6)")
	}
	return b.String()
}

func tableName(t int) string {
	switch t {
	case 254:
		return "main"
	case 255:
		return "local"
	case 253:
		return "default"
	}
	return fmt.Sprint(t)
}

func mapText(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, " ")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func addrOr(s string, ok bool) string {
	if !ok {
		return "-"
	}
	return s
}

func opt(label, v string) string {
	if v == "" {
		return ""
	}
	return label + v
}

func optInt(label string, v int) string {
	if v == 0 {
		return ""
	}
	return fmt.Sprintf("%s%d", label, v)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// errWriter remembers the first write error so rendering code stays linear.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

func (e *errWriter) printf(format string, args ...any) { fmt.Fprintf(e, format, args...) }
