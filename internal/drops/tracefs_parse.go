package drops

import (
	"strconv"
	"strings"
	"time"
)

// ParseTraceLine parses one skb:kfree_skb line of trace_pipe, such as
// "  ping-1234 [001] b..1. 12.345: kfree_skb: skbaddr=00000000abcd rx_sk=0000000000000000
// protocol=2048 location=ip_error+0x94/0x1a0 reason: IP_INNOROUTES", into an event stamped at
// now: reason, location ("ip_error+0x94"), function, protocol family. ok is false for other lines.
func ParseTraceLine(line string, now time.Time) (Event, bool) {
	i := strings.Index(line, " kfree_skb: ")
	if i < 0 {
		return Event{}, false
	}
	e := Event{Time: now}
	for _, f := range strings.Fields(line[i+len(" kfree_skb: "):]) {
		k, v, ok := strings.Cut(f, "=")
		switch {
		case ok && k == "protocol":
			if n, err := strconv.Atoi(v); err == nil {
				e.Flow = ParseFlow(uint16(n), nil)
			}
		case ok && k == "location":
			loc, _, _ := strings.Cut(v, "/")
			e.Location = loc
			e.Function, _, _ = strings.Cut(loc, "+")
		}
	}
	if j := strings.Index(line, " reason: "); j >= 0 {
		e.Reason = ReasonName(strings.TrimSpace(line[j+len(" reason: "):]))
	}
	if e.Location == "" || e.Reason == "" {
		return Event{}, false
	}
	if m := strings.Index(line, "location="); m >= 0 {
		if k := strings.Index(line[m:], " ["); k >= 0 && k < strings.Index(line[m:], " reason: ") {
			mod := line[m+k+1:]
			if end := strings.IndexByte(mod, ']'); end >= 0 {
				e.Location += " " + mod[:end+1]
			}
		}
	}
	return e, true
}
