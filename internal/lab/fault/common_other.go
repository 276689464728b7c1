//go:build !linux

package fault

const (
	netlinkAFBridge = 7
	netlinkAFInet   = 2
	ntfSelf         = 0x02
)
