//go:build linux

package lab

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/netdoctor/netdoctor/internal/lab/k8s"
	"golang.org/x/sys/unix"
)

// UpOptions configure Up.
type UpOptions struct {
	Options
	Fault *Fault // nil or the "none" fault for a healthy lab
	// Exe is the netdoctor binary the pod servers run (`Exe lab serve …`); default: this executable.
	Exe string
	// Progressf, when set, receives one line per step.
	Progressf func(format string, args ...any)
}

// Up builds a lab, replacing any lab of the same name, injects the fault and writes state.json and
// dump.yaml. On failure it removes everything it made.
func Up(ctx context.Context, o UpOptions) (*Lab, error) {
	if os.Geteuid() != 0 {
		return nil, errNotRoot
	}
	progress := o.Progressf
	if progress == nil {
		progress = func(string, ...any) {}
	}
	plan, err := NewPlan(o.Options)
	if err != nil {
		return nil, err
	}
	faultName := "none"
	if o.Fault != nil {
		faultName = o.Fault.Name
		if o.Fault.Mutate != nil {
			o.Fault.Mutate(plan)
			if err := plan.AllocateIPs(); err != nil {
				return nil, err
			}
		}
	}
	exe := o.Exe
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("lab: find own binary: %w", err)
		}
	}
	if err := Down(ctx, plan.Name); err != nil {
		return nil, fmt.Errorf("lab: replace the running lab %q: %w", plan.Name, err)
	}
	coredns := CoreDNSPath()
	if plan.K8s {
		// The kubernetes plugin is needed: the script rebuilds a cached CoreDNS without it.
		if coredns, err = k8s.EnsureCoreDNS(ctx, progress); err != nil {
			return nil, err
		}
	}
	st := &State{Name: plan.Name, Dir: Dir(plan.Name), Fault: faultName, Created: time.Now().UTC(), Plan: plan, Exe: exe, CoreDNS: coredns}
	for _, n := range plan.AllNodes() {
		n.Root = filepath.Join(st.Dir, "nodes", n.Name)
	}
	st.Namespaces = plan.Namespaces()
	for _, pod := range plan.Pods {
		if pod.Sandboxed() {
			st.EtcNetns = append(st.EtcNetns, filepath.Join(EtcNetns, pod.Netns))
		}
	}
	if err := os.MkdirAll(filepath.Join(st.Dir, "logs"), 0o755); err != nil {
		return nil, fmt.Errorf("lab: state dir: %w", err)
	}
	// Record what we are about to make before making it, so Down can always clean up.
	if err := st.save(); err != nil {
		return nil, err
	}
	l := &Lab{State: st, Plan: plan}
	fail := func(err error) (*Lab, error) {
		_ = Down(context.WithoutCancel(ctx), plan.Name)
		return nil, err
	}
	progress("lab %s: creating %d namespaces", plan.Name, len(st.Namespaces))
	if err := ipBatch(ctx, "netns add", st.Namespaces); err != nil {
		return fail(err)
	}
	h, err := openHandles(st.Namespaces)
	if err != nil {
		return fail(err)
	}
	defer h.close()
	progress("lab %s: wiring underlay, %d nodes, %d pods", plan.Name, len(plan.Nodes), len(plan.Pods))
	if err := buildNetwork(ctx, h, plan); err != nil {
		return fail(err)
	}
	progress("lab %s: node files, resolv.conf, DNS zone", plan.Name)
	if err := writeFiles(st); err != nil {
		return fail(err)
	}
	progress("lab %s: starting pod servers", plan.Name)
	if err := startServers(st); err != nil {
		return fail(err)
	}
	if plan.K8s {
		if err := l.upK8s(ctx, progress); err != nil {
			return fail(err)
		}
	}
	if o.Fault != nil && o.Fault.Inject != nil {
		progress("lab %s: injecting fault %s", plan.Name, o.Fault.Name)
		if err := o.Fault.Inject(ctx, l); err != nil {
			return fail(fmt.Errorf("lab: inject %s: %w", o.Fault.Name, err))
		}
	}
	if plan.K8s {
		progress("lab %s: reading the cluster back from the API server for dump.yaml", plan.Name)
		if err := l.readAPI(ctx); err != nil {
			return fail(err)
		}
	}
	if err := l.WriteDump(); err != nil {
		return fail(err)
	}
	st.Ready = true
	if err := st.save(); err != nil {
		return fail(err)
	}
	progress("lab %s: up (fault %s)", plan.Name, faultName)
	return l, nil
}

// ipBatch runs `ip -force -batch -` with one "verb NAME" line per name (one exec for all).
func ipBatch(ctx context.Context, verb string, names []string) error {
	if len(names) == 0 {
		return nil
	}
	var b strings.Builder
	for _, n := range names {
		b.WriteString(verb + " " + n + "\n")
	}
	cmd := exec.CommandContext(ctx, "ip", "-force", "-batch", "-")
	cmd.Stdin = strings.NewReader(b.String())
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("lab: ip %s: %w: %s", verb, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// buildNetwork wires every namespace. Nodes are built concurrently (each with its pods).
func buildNetwork(ctx context.Context, h *handles, p *Plan) error {
	all := p.Namespaces()
	for _, ns := range all {
		if err := h.up(ns, "lo"); err != nil {
			return err
		}
	}
	ul := p.Underlay
	if err := h.bridge(ul, "br0", UnderlayMTU); err != nil {
		return err
	}
	// Router: tun0 on the underlay, eth1 towards the outside VM.
	if err := h.veth(ul, "router", "br0", p.Router, "tun0", UnderlayMTU); err != nil {
		return err
	}
	if err := h.up(p.Router, "tun0"); err != nil {
		return err
	}
	if err := h.addr(p.Router, "tun0", netip4Prefix(RouterUnderlay, UnderlayPrefix.Bits()), 0); err != nil {
		return err
	}
	if err := h.veth(p.Router, "eth1", "", p.VM, "eth0", UnderlayMTU); err != nil {
		return err
	}
	if err := h.addr(p.Router, "eth1", netip4Prefix(RouterOutside, OutsidePrefix.Bits()), 0); err != nil {
		return err
	}
	if err := h.sysctl(p.Router, "net.ipv4.ip_forward", "1"); err != nil {
		return err
	}
	// The router knows the underlay and the VM's network; everything else (pod CIDRs, ClusterIPs)
	// vanishes silently, as it would upstream.
	if err := h.nl[p.Router].RouteAdd(&netlink.Route{Dst: &net.IPNet{IP: net.IPv4zero, Mask: net.CIDRMask(0, 32)}, Type: unix.RTN_BLACKHOLE}); err != nil {
		return fmt.Errorf("lab: %s: blackhole default route: %w", p.Router, err)
	}
	if err := h.up(p.VM, "eth0"); err != nil {
		return err
	}
	if err := h.addr(p.VM, "eth0", netip4Prefix(VMAddr, OutsidePrefix.Bits()), 0); err != nil {
		return err
	}
	if err := h.defaultRoute(p.VM, RouterOutside); err != nil {
		return err
	}
	for i, e := range p.Extra {
		port := fmt.Sprintf("extra%d", i+1)
		if err := h.veth(ul, port, "br0", e.Netns, "eth0", UnderlayMTU); err != nil {
			return err
		}
		if err := h.up(e.Netns, "eth0"); err != nil {
			return err
		}
		if err := h.addr(e.Netns, "eth0", e.Addr, 0); err != nil {
			return err
		}
	}
	nodes := p.AllNodes()
	for _, n := range nodes {
		if err := h.veth(ul, n.Name, "br0", n.Netns, "eth0", UnderlayMTU); err != nil {
			return err
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, len(nodes))
	sem := make(chan struct{}, 4)
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = buildNode(ctx, h, p, n)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func buildNode(ctx context.Context, h *handles, p *Plan, n *NodePlan) error {
	ns := n.Netns
	steps := []func() error{
		func() error { return h.up(ns, "eth0") },
		func() error { return h.addr(ns, "eth0", netip4Prefix(n.IP, UnderlayPrefix.Bits()), 0) },
		func() error {
			for _, d := range n.Dynamic {
				if err := h.addr(ns, "eth0", d, DynamicAddrLifetime); err != nil {
					return err
				}
			}
			return nil
		},
		func() error { return h.defaultRoute(ns, RouterUnderlay) },
		func() error { return h.sysctl(ns, "net.ipv4.ip_forward", "1") },
		func() error {
			// br_netfilter's knob is per namespace; it exists once the module is loaded.
			if _, err := os.Stat("/proc/sys/net/bridge"); err == nil {
				return h.sysctl(ns, "net.bridge.bridge-nf-call-iptables", "1")
			}
			return nil
		},
		func() error { return h.bridge(ns, "cni0", VXLANMTU) },
		func() error { return h.addr(ns, "cni0", netip4Prefix(nthAddr(n.PodCIDR, 1), n.PodCIDR.Bits()), 0) },
		func() error {
			if p.K8s {
				return nil // real flanneld makes flannel.1, its routes, neighbours and FDB entries
			}
			return h.vxlan(ns, n)
		},
		func() error {
			if p.K8s {
				return nil
			}
			for _, peer := range p.Nodes {
				if peer != n {
					if err := h.flannelPeer(ns, peer, true, true, true); err != nil {
						return err
					}
				}
			}
			return nil
		},
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return err
		}
	}
	for _, pod := range p.Pods {
		if pod.Node != n.Name || !pod.Sandboxed() {
			continue
		}
		if err := buildPod(h, n, pod); err != nil {
			return err
		}
	}
	for k, v := range n.Sysctls {
		if err := h.sysctl(ns, k, v); err != nil {
			return err
		}
	}
	if p.K8s {
		return nil // real kube-proxy and flanneld write the node's rules
	}
	return restoreIPTables(ctx, h, ns, p.NodeIPTables(n))
}

func buildPod(h *handles, n *NodePlan, pod *PodPlan) error {
	if err := h.veth(n.Netns, pod.HostVeth, "cni0", pod.Netns, "eth0", pod.MTU); err != nil {
		return err
	}
	if err := h.up(pod.Netns, "eth0"); err != nil {
		return err
	}
	if err := h.addr(pod.Netns, "eth0", netip4Prefix(pod.IP, n.PodCIDR.Bits()), 0); err != nil {
		return err
	}
	return h.defaultRoute(pod.Netns, nthAddr(n.PodCIDR, 1))
}

// restoreIPTables loads rules (iptables-restore input) into netns ns, replacing the tables it names.
func restoreIPTables(ctx context.Context, h *handles, ns, rules string) error {
	cmd := exec.CommandContext(ctx, "iptables-restore", "-w", "5")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := runIn(h.ns[ns], cmd); err != nil {
		return fmt.Errorf("lab: %s: iptables-restore: %w: %s", ns, err, strings.TrimSpace(out))
	}
	return nil
}

func writeFiles(st *State) error {
	p := st.Plan
	for _, n := range p.AllNodes() {
		if err := p.writeNodeRoot(n); err != nil {
			return err
		}
	}
	for _, pod := range p.Pods {
		if !pod.Sandboxed() {
			continue
		}
		dir := filepath.Join(EtcNetns, pod.Netns)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("lab: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, "resolv.conf"), []byte(p.ResolvConf(pod)), 0o644); err != nil {
			return fmt.Errorf("lab: %w", err)
		}
	}
	if st.CoreDNS != "" {
		if err := p.writeCoreDNS(st.Dir); err != nil {
			return err
		}
	}
	return p.writeRecords(filepath.Join(st.Dir, "records.json"))
}

func startServers(st *State) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	sem := make(chan struct{}, 16)
	for _, pod := range st.Plan.Pods {
		if pod.Netns == "" || !pod.IP.IsValid() || pod.Stopped {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := st.startServer(pod); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		pid, err := st.startProcess(st.Plan.VM, "vm", []string{"lab", "serve", "--lab", st.Name, "--pod", "vm", "--http", fmt.Sprint(VMPort)})
		st.Plan.VMPID = pid
		if err != nil {
			mu.Lock()
			if first == nil {
				first = err
			}
			mu.Unlock()
		}
	}()
	wg.Wait()
	// Save the PIDs even on failure, so Down finds them.
	if err := st.save(); err != nil && first == nil {
		first = err
	}
	return first
}
