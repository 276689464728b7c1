// Package diag is netdoctor's shared vocabulary: the kinds of failure, findings, hops and the report.
//
// It is pure data with stable JSON tags and imports nothing else of netdoctor. Every other package meets
// the others through these types; field names here are a public contract (JSON schema version 1).
package diag

import "time"

// SchemaVersion is the version of the JSON report schema. It changes only when a field is removed or
// changes meaning; new optional fields keep the version.
const SchemaVersion = 1

// Kind names a class of pod network failure. The values are a stable contract used in JSON.
type Kind string

// The five failure kinds of the seed article, and healthy.
const (
	KindNetworkUnreachable Kind = "network-unreachable" // ICMP and TCP fail: routes, firewall, links
	KindPortUnreachable    Kind = "port-unreachable"    // the host answers but the port does not
	KindDNSFailure         Kind = "dns-failure"         // names do not resolve while IPs answer
	KindLargePacketLoss    Kind = "large-packet-loss"   // small packets pass, large ones vanish (MTU)
	KindCNIKubeProxy       Kind = "cni-kube-proxy"      // the CNI, kube-proxy or node data plane is at fault
	KindHealthy            Kind = "healthy"             // everything measured was fine
)

// Kinds lists every valid Kind in a stable order.
var Kinds = []Kind{KindNetworkUnreachable, KindPortUnreachable, KindDNSFailure, KindLargePacketLoss, KindCNIKubeProxy, KindHealthy}

// Valid reports whether k is one of Kinds.
func (k Kind) Valid() bool {
	for _, v := range Kinds {
		if v == k {
			return true
		}
	}
	return false
}

// Severity ranks a finding.
type Severity string

// Severities, most severe first.
const (
	SeverityCritical Severity = "critical" // explains (part of) the failure
	SeverityWarning  Severity = "warning"  // wrong, but not shown to cause this failure
	SeverityInfo     Severity = "info"     // a fact worth knowing, nothing wrong
)

// Rank orders severities: critical 0, warning 1, info 2, anything else 3.
func (s Severity) Rank() int {
	switch s {
	case SeverityCritical:
		return 0
	case SeverityWarning:
		return 1
	case SeverityInfo:
		return 2
	}
	return 3
}

// Hop is a place on a packet's path: a node, a network namespace and an interface in it.
type Hop struct {
	Node      string `json:"node,omitempty"`      // Kubernetes node name, empty outside the cluster
	Netns     string `json:"netns,omitempty"`     // netns name or path (pod, node or outside host)
	Interface string `json:"interface,omitempty"` // interface name inside Netns, if the hop is one
	Where     string `json:"where"`               // human words: "node2 flannel.1 (VXLAN encapsulation)"
}

// Finding is one conclusion of a check, with the facts that prove it.
type Finding struct {
	Check    string   `json:"check"`           // kebab-case name of the check that made it
	Kind     Kind     `json:"kind"`            // which failure kind this finding points at
	Severity Severity `json:"severity"`        // critical, warning or info
	Hop      Hop      `json:"hop"`             // where on the path the fault is
	Title    string   `json:"title,omitempty"` // one line a person reads first
	Evidence []string `json:"evidence"`        // concrete facts: IPs, MTUs, rules, pods, counters
	Cause    string   `json:"cause"`           // the root cause in one or two sentences
	Fix      string   `json:"fix"`             // what to do about it
}

// Verdict is the one-line answer: the kind and a summary sentence.
type Verdict struct {
	Kind    Kind   `json:"kind"`
	Summary string `json:"summary"`
}

// ProbeRecord is a probe the diagnoser ran, as it appears in a report.
type ProbeRecord struct {
	Name     string  `json:"name"`            // probe type: icmp, tcp, dns, pmtu, capture…
	From     string  `json:"from"`            // vantage point as given (pod/ns/name, netns/x, host)
	To       string  `json:"to"`              // target as sent (IP:port, name)
	OK       bool    `json:"ok"`              // the probe got what a healthy path gives
	Outcome  string  `json:"outcome"`         // short machine word: ok, timeout, refused, unreachable, nxdomain, …
	Summary  string  `json:"summary"`         // one human line
	RTTMs    float64 `json:"rttMs,omitempty"` // median round trip, when measured
	Duration float64 `json:"durationMs"`      // how long the probe ran
	Error    string  `json:"error,omitempty"` // why the probe could not run, if it could not
}

// PathHop is one step of the path a packet takes, as drawn in a report.
type PathHop struct {
	Hop
	Address string `json:"address,omitempty"` // IP the packet has at this hop (after NAT, if any)
	MTU     int    `json:"mtu,omitempty"`     // MTU of Interface
	Status  string `json:"status"`            // ok, failing, unknown, not-reached
	Note    string `json:"note,omitempty"`    // e.g. "DNAT 10.96.0.10:53 → 10.244.1.3:53"
}

// Timing is how long one step of a diagnosis took.
type Timing struct {
	Step string  `json:"step"`
	Ms   float64 `json:"ms"`
}

// Report is the full result of a diagnosis.
type Report struct {
	SchemaVersion int           `json:"schemaVersion"`
	From          string        `json:"from"`
	To            string        `json:"to"`
	Verdict       Verdict       `json:"verdict"`
	Findings      []Finding     `json:"findings"`
	Probes        []ProbeRecord `json:"probes"`
	Path          []PathHop     `json:"path"`
	Timings       []Timing      `json:"timings,omitempty"`
	DurationMs    float64       `json:"durationMs"`
	Started       time.Time     `json:"started"`
	Notes         []string      `json:"notes,omitempty"` // checks that could not run, and why
}
