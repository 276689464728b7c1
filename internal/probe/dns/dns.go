// Package dns resolves a name the way a process in a given network namespace would: it reads that
// vantage point's resolv.conf, expands the search list like glibc's res_nsearch, walks the nameservers
// with glibc's attempts and timeouts, retries over TCP when an answer is truncated, and records every
// query it sent (name, server, protocol, rcode, answers, TC bit, latency).
//
// Sockets are opened inside the vantage namespace (netns.NS.Do) and used from the caller's goroutine.
// Resolve returns an error only when it could not run (bad input, unreadable resolv.conf, vanished
// namespace); a name that does not resolve is a Result with an Outcome other than OutcomeOK.
package dns

import (
	"encoding/json"
	"errors"
	"time"
)

// Outcome is how a resolution (or one candidate name) ended. The values are stable JSON words.
type Outcome string

// Outcomes, from best to worst.
const (
	OutcomeOK          Outcome = "ok"          // an answer with records of the asked type (or a CNAME chain to them)
	OutcomeNoData      Outcome = "nodata"      // the name exists but has no record of that type
	OutcomeNXDomain    Outcome = "nxdomain"    // no candidate name exists
	OutcomeServFail    Outcome = "servfail"    // every server answered SERVFAIL
	OutcomeRefused     Outcome = "refused"     // servers answered REFUSED (or NOTIMP, FORMERR)
	OutcomeTimeout     Outcome = "timeout"     // no answer within the wait, or the deadline hit
	OutcomeUnreachable Outcome = "unreachable" // no server could be reached: port or host unreachable, no route
)

// Failure says why a single query got no DNS answer.
type Failure string

// Failures of one query.
const (
	FailTimeout     Failure = "timeout"     // nothing came back within the wait
	FailRefused     Failure = "refused"     // ICMP port unreachable (UDP) or RST (TCP): no DNS server on that port
	FailUnreachable Failure = "unreachable" // no route, host or network unreachable
	FailError       Failure = "error"       // another socket error or a malformed reply (see Query.Detail)
)

// Proto is the transport of a query.
type Proto string

// Transports.
const (
	UDP Proto = "udp"
	TCP Proto = "tcp"
)

// Query is one DNS message sent and what came back.
type Query struct {
	Name   string `json:"name"`   // the FQDN asked for, with trailing dot
	Type   string `json:"type"`   // the query type: A, AAAA, SRV…
	Server string `json:"server"` // ip:port it was sent to
	Proto  Proto  `json:"proto"`  // udp or tcp
	// Rcode is the response code (NOERROR, NXDOMAIN, SERVFAIL, REFUSED…); empty when no reply came.
	Rcode string `json:"rcode,omitempty"`
	// Answers are the answer-section records in presentation format (as dig prints them).
	Answers []string `json:"answers"`
	// Truncated is the TC bit of the reply: the answer did not fit and the query is retried over TCP.
	Truncated bool `json:"truncated,omitempty"`
	// Latency is from writing the query to reading its reply (or giving up), excluding socket set-up.
	Latency time.Duration `json:"-"`
	// Err says why no reply came; empty when one did.
	Err Failure `json:"err,omitempty"`
	// Detail is the operating system's message for Err, for evidence.
	Detail string `json:"detail,omitempty"`
	// Size is the reply's size in bytes (0 without a reply).
	Size int `json:"size,omitempty"`
}

// MarshalJSON adds latencyMs.
func (q Query) MarshalJSON() ([]byte, error) {
	type plain Query
	return json.Marshal(struct {
		plain
		LatencyMs float64 `json:"latencyMs"`
	}{plain(q), ms(q.Latency)})
}

// Answer is the final answer of a resolution that succeeded.
type Answer struct {
	Name    string   `json:"name"`    // the candidate name that resolved (FQDN)
	Type    string   `json:"type"`    // the query type
	Server  string   `json:"server"`  // who answered
	Proto   Proto    `json:"proto"`   // over what
	Values  []string `json:"values"`  // record data of the asked type, in answer order (e.g. IPs for A)
	Records []string `json:"records"` // the full answer section, CNAMEs included
}

// Result is everything Resolve did.
type Result struct {
	// Config is the resolver configuration used (resolv.conf parsed, overrides applied).
	Config *Config `json:"config"`
	// Name and Type are what was asked (after turning an IP into its reverse name for PTR).
	Name string `json:"name"`
	Type string `json:"type"`
	// Servers are the ip:port addresses asked, in order: resolv.conf's (at most three) or Options.Server.
	Servers []string `json:"servers"`
	// Candidates are the names tried in search order (some may not have been reached).
	Candidates []string `json:"candidates"`
	// Queries are every message sent, in order.
	Queries []Query `json:"queries"`
	// Final is the answer, set only when Outcome is OutcomeOK.
	Final *Answer `json:"final,omitempty"`
	// Outcome is how the resolution ended.
	Outcome Outcome `json:"outcome"`
	// Stopped is set when the context ended before the resolver finished: "timed out",
	// "interrupted", or why the vantage point vanished.
	Stopped string `json:"stopped,omitempty"`
	// Duration is the wall time of Resolve.
	Duration time.Duration `json:"-"`
}

// MarshalJSON adds durationMs.
func (r Result) MarshalJSON() ([]byte, error) {
	type plain Result
	return json.Marshal(struct {
		plain
		DurationMs float64 `json:"durationMs"`
	}{plain(r), ms(r.Duration)})
}

// OK reports whether the name resolved.
func (r *Result) OK() bool { return r.Outcome == OutcomeOK }

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Options say what to resolve and how. Zero values take the vantage point's resolv.conf.
type Options struct {
	// Name is the name to resolve; a trailing dot makes it absolute. For Type PTR an IP address is
	// turned into its in-addr.arpa / ip6.arpa name.
	Name string
	// Type is the record type (A, AAAA, SRV, PTR, CNAME, TXT, MX, NS, SOA); empty means A.
	Type string
	// Server, when set (IP or IP:port), replaces the nameservers of resolv.conf; the search list and
	// options still apply.
	Server string
	// TCP queries over TCP from the start (like resolv.conf's use-vc).
	TCP bool
	// Config is a parsed resolv.conf to use instead of reading one.
	Config *Config
	// ResolvConf is the path of the resolv.conf to read when Config is nil; empty means the vantage
	// point's own (ResolvConfPath).
	ResolvConf string
	// Timeout, when positive, replaces resolv.conf's wait per answer.
	Timeout time.Duration
	// Attempts, when positive, replaces resolv.conf's attempts.
	Attempts int
	// NoSearch queries the name as given (as absolute), like `dig` without +search.
	NoSearch bool
}

// ErrBadInput wraps every error about the Options themselves (bad name, unknown type, bad server).
var ErrBadInput = errors.New("bad input")
