//go:build linux

package lab

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/miekg/dns"

	"github.com/netdoctor/netdoctor/internal/netns"
)

// EnvCoreDNS names a CoreDNS binary for the lab's DNS pods; without it the lab looks for the cached
// build of scripts/coredns.sh.
const EnvCoreDNS = "NETDOCTOR_COREDNS"

// CoreDNSVersion is the CoreDNS release scripts/coredns.sh builds.
const CoreDNSVersion = "v1.15.0"

// CoreDNSPath returns the real CoreDNS binary the lab runs in its CoreDNS pods: $NETDOCTOR_COREDNS,
// else $NETDOCTOR_K8S_CACHE (default /var/cache/netdoctor)/coredns-VERSION/bin/coredns; "" when
// there is none, and then the lab's built-in DNS server answers instead.
func CoreDNSPath() string {
	if p := os.Getenv(EnvCoreDNS); p != "" {
		return p
	}
	cache := os.Getenv("NETDOCTOR_K8S_CACHE")
	if cache == "" {
		cache = "/var/cache/netdoctor"
	}
	p := filepath.Join(cache, "coredns-"+CoreDNSVersion, "bin", "coredns")
	if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
		return p
	}
	return ""
}

// writeCoreDNS writes the Corefile and the cluster.local zone (every service and pod record of the
// plan) into dir. Names outside cluster.local get NXDOMAIN: the lab has no upstream resolver.
func (p *Plan) writeCoreDNS(dir string) error {
	corefile := fmt.Sprintf(`%[1]s:53 {
    errors
    file %[2]s
}
.:53 {
    errors
    template ANY ANY {
        rcode NXDOMAIN
    }
}
`, DNSDomain, filepath.Join(dir, "db."+DNSDomain))
	var b strings.Builder
	fmt.Fprintf(&b, "$ORIGIN %s.\n@ 30 IN SOA ns.dns.%[1]s. hostmaster.%[1]s. 1 7200 1800 86400 30\n@ 30 IN NS ns.dns.%[1]s.\n", DNSDomain)
	rr := p.DNSRecords()
	names := make([]string, 0, len(rr))
	for n := range rr {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for _, ip := range rr[n] {
			fmt.Fprintf(&b, "%s 30 IN A %s\n", n, ip)
		}
	}
	if dnsSvc := p.Service("kube-system", "kube-dns"); dnsSvc != nil {
		fmt.Fprintf(&b, "ns.dns 30 IN A %s\n", dnsSvc.ClusterIP)
	}
	if err := os.WriteFile(filepath.Join(dir, "Corefile"), []byte(corefile), 0o644); err != nil {
		return fmt.Errorf("lab: Corefile: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "db."+DNSDomain), []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("lab: zone file: %w", err)
	}
	return nil
}

// startCoreDNS starts real CoreDNS in a DNS pod's namespace (through ip netns exec, in its own
// session, logging to the lab's log directory) and waits until it answers on the pod IP.
func (s *State) startCoreDNS(pod *PodPlan) (int, error) {
	logf, err := os.OpenFile(filepath.Join(s.Dir, "logs", pod.Name+".coredns.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return 0, fmt.Errorf("lab: log file: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command("ip", "netns", "exec", pod.Netns, s.CoreDNS, "-conf", filepath.Join(s.Dir, "Corefile"))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Dir = "/"
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("lab: start CoreDNS in %s: %w", pod.Name, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	ns, err := netns.OpenPath(pod.Netns)
	if err != nil {
		return cmd.Process.Pid, err
	}
	defer ns.Close()
	// Readiness is CoreDNS answering a query for the DNS service itself on the pod's address.
	q := new(dns.Msg)
	q.SetQuestion("kube-dns.kube-system.svc."+DNSDomain+".", dns.TypeA)
	server := net.JoinHostPort(pod.IP.String(), "53")
	deadline := time.Now().Add(serverReadyTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return cmd.Process.Pid, fmt.Errorf("lab: CoreDNS of %s exited before it answered (see %s)", pod.Name, logf.Name())
		default:
		}
		var answered bool
		_ = ns.Do(func() error {
			c := &dns.Client{Timeout: 200 * time.Millisecond}
			r, _, err := c.Exchange(q, server)
			answered = err == nil && r != nil && r.Rcode == dns.RcodeSuccess
			return nil
		})
		if answered {
			return cmd.Process.Pid, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return cmd.Process.Pid, fmt.Errorf("lab: CoreDNS of %s not answering after %s", pod.Name, serverReadyTimeout)
}
