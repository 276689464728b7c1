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

// Aggregator groups events per (netns, flow, reason, location) as they arrive, in memory
// proportional to the number of groups, not of events. The zero value is ready to use.
type Aggregator struct {
	idx    map[groupKey]int
	groups []Group
}

type groupKey struct {
	netns          string
	flow           flowKey
	reason, locate string
}

// Add counts one event; the group's flow details (TCP flags, length) are its first packet's.
func (a *Aggregator) Add(e Event) {
	if a.idx == nil {
		a.idx = map[groupKey]int{}
	}
	k := groupKey{e.Netns, e.Flow.key(), e.Reason, e.Location}
	i, ok := a.idx[k]
	if !ok {
		a.idx[k] = len(a.groups)
		a.groups = append(a.groups, Group{NetnsInode: e.NetnsInode, Netns: e.Netns, Device: e.Device, Flow: e.Flow,
			Reason: e.Reason, Location: e.Location, Function: e.Function, First: e.Time, Last: e.Time})
		i = len(a.groups) - 1
	}
	g := &a.groups[i]
	g.Count++
	if e.Time.Before(g.First) {
		g.First = e.Time
	}
	if e.Time.After(g.Last) {
		g.Last = e.Time
	}
}

// Groups returns the groups sorted by count, largest first, then by first time.
func (a *Aggregator) Groups() []Group {
	out := append([]Group{}, a.groups...)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].First.Before(out[j].First)
	})
	return out
}

// Aggregate groups events per (netns, flow, reason, location); see Aggregator.
func Aggregate(events []Event) []Group {
	var a Aggregator
	for _, e := range events {
		a.Add(e)
	}
	return a.Groups()
}
