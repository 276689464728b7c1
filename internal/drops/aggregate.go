package drops

import (
	"sort"
	"time"
)

// Group is the drops of one flow, for one reason, at one kernel location, in one namespace.
type Group struct {
	NetnsInode uint64    `json:"netns_inode,omitempty"`
	Netns      string    `json:"netns,omitempty"`
	Device     string    `json:"device,omitempty"`
	Flow       Flow      `json:"flow"`
	Reason     string    `json:"reason"`
	Location   string    `json:"location"`
	Function   string    `json:"function"`
	Count      int       `json:"count"`
	First      time.Time `json:"first"`
	Last       time.Time `json:"last"`
}

// Aggregate groups events per (netns, flow, reason, location); the flow's per-packet details
// (TCP flags, length) come from the group's first packet. Groups are sorted by count, largest
// first, then by first time.
func Aggregate(events []Event) []Group {
	idx := map[string]int{}
	var out []Group
	for _, e := range events {
		k := e.Netns + "|" + e.Flow.key() + "|" + e.Reason + "|" + e.Location
		i, ok := idx[k]
		if !ok {
			idx[k] = len(out)
			out = append(out, Group{NetnsInode: e.NetnsInode, Netns: e.Netns, Device: e.Device, Flow: e.Flow,
				Reason: e.Reason, Location: e.Location, Function: e.Function, First: e.Time, Last: e.Time})
			i = len(out) - 1
		}
		g := &out[i]
		g.Count++
		if e.Time.Before(g.First) {
			g.First = e.Time
		}
		if e.Time.After(g.Last) {
			g.Last = e.Time
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].First.Before(out[j].First)
	})
	return out
}
