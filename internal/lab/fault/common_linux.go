//go:build linux

package fault

import (
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

const (
	netlinkAFBridge = unix.AF_BRIDGE
	netlinkAFInet   = unix.AF_INET
	ntfSelf         = netlink.NTF_SELF
)
