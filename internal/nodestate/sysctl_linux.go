//go:build linux

package nodestate

import (
	"os"
	"strconv"
	"strings"

	"github.com/netdoctor/netdoctor/internal/netns"
)

// readSysctls reads /proc/sys on a thread inside ns: /proc/sys/net shows the namespace of the
// thread that opens the file, so every read happens inside Do.
func readSysctls(ns *netns.NS) (Sysctls, error) {
	s := Sysctls{Forwarding: map[string]int{}, RPFilter: map[string]int{}, ConntrackCount: -1, ConntrackMax: -1}
	err := ns.Do(func() error {
		v, err := readInt("/proc/sys/net/ipv4/ip_forward")
		if err != nil {
			return err
		}
		s.IPForward = v == 1
		ents, err := os.ReadDir("/proc/sys/net/ipv4/conf")
		if err != nil {
			return err
		}
		for _, e := range ents {
			if v, err := readInt("/proc/sys/net/ipv4/conf/" + e.Name() + "/forwarding"); err == nil {
				s.Forwarding[e.Name()] = v
			}
			if v, err := readInt("/proc/sys/net/ipv4/conf/" + e.Name() + "/rp_filter"); err == nil {
				s.RPFilter[e.Name()] = v
			}
		}
		if v, err := readInt("/proc/sys/net/bridge/bridge-nf-call-iptables"); err == nil {
			b := v == 1
			s.BridgeNFCallIptables = &b
		}
		if v, err := readInt("/proc/sys/net/netfilter/nf_conntrack_count"); err == nil {
			s.ConntrackCount = v
		}
		if v, err := readInt("/proc/sys/net/netfilter/nf_conntrack_max"); err == nil {
			s.ConntrackMax = v
		}
		return nil
	})
	return s, err
}

func readInt(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}
