package lab

import (
	"regexp"
	"strings"
)

var labSuffix = regexp.MustCompile(`^(underlay|router|vm|control-plane|node[0-9]+|pod-[a-z0-9.-]+|extra[0-9]+)$`)

// isLabNamespace reports whether netns is named like a namespace of lab name: NAME-underlay,
// NAME-router, NAME-vm, NAME-nodeN, NAME-pod-…, NAME-extraN. Another lab whose name starts with
// NAME- (e.g. "ndlab-2" next to "ndlab") does not match, since "2-node1" is no lab suffix.
func isLabNamespace(name, netns string) bool {
	rest, ok := strings.CutPrefix(netns, name+"-")
	return ok && labSuffix.MatchString(rest)
}
