package local

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/netdoctor/netdoctor/internal/netns"
)

// FindNetnsWithIP returns the path of a network namespace on this machine that holds ip on one of
// its interfaces: the bind mounts under /run/netns first, then every process's namespace. Each
// namespace is read once (by inode). It is bounded by ctx.
func FindNetnsWithIP(ctx context.Context, ip netip.Addr) (string, error) {
	seen := map[uint64]bool{}
	var cands []string
	if ents, err := os.ReadDir("/run/netns"); err == nil {
		for _, e := range ents {
			cands = append(cands, filepath.Join("/run/netns", e.Name()))
		}
	}
	if ents, err := os.ReadDir("/proc"); err == nil {
		for _, e := range ents {
			if e.Name()[0] >= '1' && e.Name()[0] <= '9' {
				cands = append(cands, "/proc/"+e.Name()+"/ns/net")
			}
		}
	}
	for _, p := range cands {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		var st unix.Stat_t
		if unix.Stat(p, &st) != nil || seen[st.Ino] {
			continue
		}
		seen[st.Ino] = true
		ns, err := netns.OpenPath(p)
		if err != nil {
			continue
		}
		found := holds(ns, ip)
		ns.Close()
		if found {
			return p, nil
		}
	}
	return "", errors.New(fmt.Sprint("no namespace on this machine holds ", ip))
}

func holds(ns *netns.NS, ip netip.Addr) bool {
	h, err := ns.Netlink()
	if err != nil {
		return false
	}
	defer h.Close()
	addrs, err := h.AddrList(nil, 0)
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if x, ok := netip.AddrFromSlice(a.IP); ok && x.Unmap() == ip {
			return true
		}
	}
	return false
}
