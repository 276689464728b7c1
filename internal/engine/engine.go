// Package engine runs a diagnosis: resolve the endpoints, run the symptom probes, classify, plan
// the checks (a pure function), run them concurrently under deadlines, and build the report.
package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/netdoctor/netdoctor/internal/check"
	"github.com/netdoctor/netdoctor/internal/diag"
	"github.com/netdoctor/netdoctor/internal/kube"
)

// Request is what to diagnose, as the user gave it.
type Request struct {
	From, To string
	Proto    string // tcp, udp, icmp, dns; "" picks from the target
	Size     int    // large-packet size in bytes; 0 picks a default
	// Namespace is the default Kubernetes namespace for pod/NAME and svc/NAME.
	Namespace string
}

// Config is everything Diagnose needs; the seams (views, prober) make it work on a lab, a dump
// with local namespaces, or (later) remote agents.
type Config struct {
	Cluster *kube.Cluster
	Views   check.Views
	Prober  check.Prober
	// Resolver finds namespaces of pods and sources; nil uses annotations only.
	Resolver SourceResolver
	// Checks are run in this order (see registry.All); every one runs, each decides its relevance.
	Checks []check.Check
	// Localise, when set, captures along the path while re-sending the failing probe; it runs when
	// the symptom is a failure and no check found a critical cause.
	Localise func(ctx context.Context, env *check.Env) ([]diag.Finding, error)
	// CheckTimeout bounds each check (default 8 s, never past the context's deadline).
	CheckTimeout time.Duration
	// Progress is called with each step's name as it starts (nil: silent).
	Progress func(step string)
	Now      func() time.Time
	Logf     func(string, ...any)
}

// ErrBadRequest wraps problems with the request itself (unknown pod, malformed DST): exit 2.
var ErrBadRequest = errors.New("bad request")

// Diagnose runs the whole workflow. It returns an error only when it could not diagnose at all
// (bad request, unreadable source); everything else ends up in the report.
func Diagnose(ctx context.Context, cfg Config, req Request) (*diag.Report, error) {
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	start := now()
	progress := cfg.Progress
	if progress == nil {
		progress = func(string) {}
	}
	rep := &diag.Report{SchemaVersion: diag.SchemaVersion, From: req.From, To: req.To, Started: start,
		Findings: []diag.Finding{}, Probes: []diag.ProbeRecord{}, Path: []diag.PathHop{}}
	timed := func(step string, fn func()) {
		progress(step)
		t := now()
		fn()
		rep.Timings = append(rep.Timings, diag.Timing{Step: step, Ms: ms(now().Sub(t))})
	}

	var env *check.Env
	var err error
	timed("resolve", func() { env, err = resolve(ctx, cfg, req) })
	if err != nil {
		return nil, err
	}
	env.Now, env.Logf = now, cfg.Logf
	if env.Logf == nil {
		env.Logf = func(string, ...any) {}
	}

	sourceAddress(ctx, env)
	prefetch(ctx, env)
	var summary string
	if env.Source.NoNetwork {
		env.Obs = &check.Observations{}
		env.Symptom = diag.KindNetworkUnreachable
		summary = fmt.Sprintf("%s has no IP address: its network was never set up (phase %s)", env.Source, env.Source.Pod.Status.Phase)
	} else {
		timed("symptom probes", func() {
			env.Obs, rep.Probes = runSymptomProbes(ctx, cfg.Prober, env)
		})
		env.Symptom, summary = Classify(env.Target, env.Proto, env.Obs)
	}

	plan := Plan(env.Symptom, cfg.Checks)
	var checkTimings []diag.Timing
	timed("checks", func() {
		findings, notes, timings := runChecks(ctx, cfg, env, plan)
		rep.Findings = append(rep.Findings, findings...)
		rep.Notes = append(rep.Notes, notes...)
		checkTimings = timings
	})
	if cfg.Localise != nil && env.Symptom != diag.KindHealthy && !hasCritical(rep.Findings) && !env.Source.NoNetwork {
		timed("capture localisation", func() {
			f, err := cfg.Localise(ctx, env)
			if err != nil {
				rep.Notes = append(rep.Notes, "capture localisation could not run: "+err.Error())
			}
			rep.Findings = append(rep.Findings, f...)
		})
	}
	rep.Timings = append(rep.Timings, checkTimings...)
	sortFindings(rep.Findings, cfg.Checks)
	rep.Verdict = Verdict(env.Symptom, summary, rep.Findings)
	rep.Path = BuildPath(ctx, env, rep.Findings)
	rep.DurationMs = ms(now().Sub(start))
	return rep, nil
}

// skipped names the checks that cannot contribute to a symptom: a healthy path has no failing probe
// to re-send or listener to miss; DNS failures are not about MTU or listeners; large-packet loss
// behind a working handshake is not about names, listeners, IPAM or egress NAT.
var skipped = map[diag.Kind][]string{
	diag.KindHealthy:         {"firewall", "dns", "listener", "pod-route"},
	diag.KindDNSFailure:      {"listener", "mtu"},
	diag.KindLargePacketLoss: {"dns", "listener", "ipam", "masquerade"},
}

// Plan returns the checks to run for a symptom, in registry order: every check that can contribute
// to it. It is pure (a table test pins it); each planned check still decides from the state whether
// it applies.
func Plan(symptom diag.Kind, all []check.Check) []check.Check {
	skip := map[string]bool{}
	for _, n := range skipped[symptom] {
		skip[n] = true
	}
	var out []check.Check
	for _, c := range all {
		if !skip[c.Name()] {
			out = append(out, c)
		}
	}
	return out
}

func runChecks(ctx context.Context, cfg Config, env *check.Env, plan []check.Check) ([]diag.Finding, []string, []diag.Timing) {
	timeout := cfg.CheckTimeout
	if timeout <= 0 {
		timeout = 8 * time.Second
	}
	var (
		mu       sync.Mutex
		findings []diag.Finding
		notes    []string
		timings  = make([]diag.Timing, len(plan))
		wg       sync.WaitGroup
	)
	for i, c := range plan {
		wg.Add(1)
		go func(i int, c check.Check) {
			defer wg.Done()
			start := time.Now()
			defer func() { timings[i] = diag.Timing{Step: "check " + c.Name(), Ms: ms(time.Since(start))} }()
			cctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			type result struct {
				f   []diag.Finding
				err error
			}
			done := make(chan result, 1)
			go func() {
				defer func() {
					if r := recover(); r != nil {
						done <- result{err: fmt.Errorf("internal error: %v", r)}
					}
				}()
				f, err := c.Run(cctx, env)
				done <- result{f, err}
			}()
			var r result
			select {
			case r = <-done:
			case <-cctx.Done():
				r.err = fmt.Errorf("did not finish within %s", timeout)
			}
			mu.Lock()
			defer mu.Unlock()
			for i := range r.f {
				if r.f[i].Check == "" {
					r.f[i].Check = c.Name()
				}
				if r.f[i].Evidence == nil {
					r.f[i].Evidence = []string{}
				}
			}
			findings = append(findings, r.f...)
			if r.err != nil {
				notes = append(notes, fmt.Sprintf("check %s could not run: %v", c.Name(), r.err))
			}
		}(i, c)
	}
	wg.Wait()
	sort.Strings(notes)
	return findings, notes, timings
}

// sortFindings orders findings: by severity, data-plane root causes first, then in the order of the
// checks (the seed workflow's order).
func sortFindings(f []diag.Finding, checks []check.Check) {
	order := map[string]int{}
	for i, c := range checks {
		order[c.Name()] = i
	}
	sort.SliceStable(f, func(i, j int) bool {
		if a, b := f[i].Severity.Rank(), f[j].Severity.Rank(); a != b {
			return a < b
		}
		// Root causes in the data plane before their symptoms.
		if a, b := f[i].Kind == diag.KindCNIKubeProxy, f[j].Kind == diag.KindCNIKubeProxy; a != b {
			return a
		}
		return order[f[i].Check] < order[f[j].Check]
	})
}

// Verdict picks the answer: a critical data-plane finding makes the verdict cni-kube-proxy (the
// symptom stays a finding); otherwise the first critical finding's kind; otherwise the symptom.
// A healthy symptom with critical findings (a latent fault) keeps healthy only if nothing failed.
func Verdict(symptom diag.Kind, summary string, findings []diag.Finding) diag.Verdict {
	var crit []diag.Finding
	for _, f := range findings {
		if f.Severity == diag.SeverityCritical {
			crit = append(crit, f)
		}
	}
	if symptom == diag.KindHealthy {
		return diag.Verdict{Kind: diag.KindHealthy, Summary: summary}
	}
	if len(crit) == 0 {
		return diag.Verdict{Kind: symptom, Summary: summary + "; no check found the cause"}
	}
	top := crit[0]
	kind := top.Kind
	for _, f := range crit {
		if f.Kind == diag.KindCNIKubeProxy {
			kind, top = diag.KindCNIKubeProxy, f
			break
		}
	}
	if !kind.Valid() || kind == diag.KindHealthy {
		kind = symptom
	}
	title := top.Title
	if title == "" {
		title = top.Cause
	}
	where := top.Hop.Where
	if where != "" && !strings.Contains(title, where) {
		title += " (" + where + ")"
	}
	return diag.Verdict{Kind: kind, Summary: summary + ": " + title}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// prefetch starts reading the snapshots the checks will need while the symptom probes run; the
// views memoise, so the checks then find them ready (and a failure is reported by the check).
func prefetch(ctx context.Context, env *check.Env) {
	if env.Views == nil {
		return
	}
	for _, n := range env.NodesOnPath() {
		go func(n string) { _, _ = env.Views.Node(ctx, n) }(n)
	}
	if p := env.Target.Pod; p != nil {
		go func() { _, _ = env.Views.Pod(ctx, p) }()
	}
}

// sourceAddress fills the address of a source known only by its namespace (an outside host, a
// process): the first global IPv4 address of its namespace.
func sourceAddress(ctx context.Context, env *check.Env) {
	s := env.Source
	if s.IP.IsValid() || s.NoNetwork || env.Views == nil || s.Netns == "" {
		return
	}
	snap, err := env.Views.Netns(ctx, s.Netns)
	if err != nil || snap == nil {
		return
	}
	for _, l := range snap.Links {
		if l.Name == "lo" {
			continue
		}
		for _, a := range l.Addrs {
			if a.IP.Is4() && a.IP.IsGlobalUnicast() {
				s.IP = a.IP
				return
			}
		}
	}
}

func hasCritical(fs []diag.Finding) bool {
	for _, f := range fs {
		if f.Severity == diag.SeverityCritical {
			return true
		}
	}
	return false
}
