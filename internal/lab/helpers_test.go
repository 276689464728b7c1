package lab

import "github.com/netdoctor/netdoctor/internal/diag"

// Hop2 builds a hop with only a netns, for tests.
func Hop2(netns string) diag.Hop { return diag.Hop{Netns: netns} }
