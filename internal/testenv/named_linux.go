//go:build linux

package testenv

import "testing"

// CaptureNamed is CaptureNetNS for a namespace the test did not create itself (a lab's), by name.
func CaptureNamed(t testing.TB, name string) string {
	t.Helper()
	return CaptureNetNS(t, &NetNS{Name: name, Path: "/run/netns/" + name})
}
