// Package lab is the `netdoctor lab` command: a mini-cluster in network namespaces with a catalogue
// of real faults (up, down, list, status, verify, dump, demo; serve is the hidden pod process).
package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/netdoctor/netdoctor/internal/cli"
	"github.com/netdoctor/netdoctor/internal/lab"
	"github.com/netdoctor/netdoctor/internal/lab/fault"
	"github.com/netdoctor/netdoctor/internal/lab/k8s"
)

// NewCommand returns the `lab` command.
func NewCommand(s *cli.Streams) *cobra.Command {
	c := &cobra.Command{
		Use:   "lab",
		Short: "Build a mini-cluster in network namespaces and break it on purpose",
		Long: "lab builds a miniature Kubernetes data plane inside network namespaces (underlay bridge, nodes with\n" +
			"cni0 and flannel-style VXLAN, kube-proxy iptables NAT, pods running real servers, a DNS server behind\n" +
			"the kube-dns ClusterIP, an outside VM behind a router), injects one fault from a catalogue, and writes\n" +
			"the cluster view for 'netdoctor diagnose'. Nothing is changed outside the lab's own namespaces.\n" +
			"State lives in $" + lab.EnvDir + "/NAME (default " + lab.DefaultParent + "/NAME).",
	}
	c.AddCommand(newUp(s), newDown(s), newList(s), newStatus(s), newVerify(s), newDump(s), newDemo(s), newServe(s), newRelay(s), newPause(s))
	return c
}

type upOptions struct {
	name    string
	nodes   int
	pods    int
	fault   string
	timeout time.Duration
	k8s     bool
	// timeoutSet: --timeout was given (otherwise --k8s raises the default).
	timeoutSet bool
}

func newUp(s *cli.Streams) *cobra.Command {
	o := &upOptions{}
	c := &cobra.Command{
		Use:   "up [--nodes N] [--fault NAME] [--name LAB]",
		Short: "Build a lab (replacing a running lab of the same name) and inject a fault",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.timeoutSet = cmd.Flags().Changed("timeout")
			l, f, err := o.run(cmd.Context(), s)
			if err != nil {
				return err
			}
			printUp(s, l, f)
			return nil
		},
	}
	c.Flags().StringVar(&o.name, "name", lab.DefaultName, "lab name (prefix of every namespace it creates)")
	c.Flags().IntVar(&o.nodes, "nodes", 3, "number of nodes (3..100); the last one is the new node")
	c.Flags().IntVar(&o.pods, "pods", 0, "extra application pods per node (scale tests)")
	c.Flags().StringVar(&o.fault, "fault", "none", "fault to inject (see 'netdoctor lab list')")
	c.Flags().DurationVar(&o.timeout, "timeout", 2*time.Minute, "give up (and clean up) after this long (with --k8s the default is 5m, and a first run builds the components for longer: the build does not count)")
	c.Flags().BoolVar(&o.k8s, "k8s", false, "run real Kubernetes under the lab: etcd, kube-apiserver, controller-manager, scheduler, kubelet+containerd on a control-plane node; real kube-proxy and flanneld on every node; CoreDNS with the kubernetes plugin; writes a kubeconfig")
	return c
}

func (o *upOptions) run(ctx context.Context, s *cli.Streams) (*lab.Lab, lab.Fault, error) {
	f, err := fault.Lookup(o.fault)
	if err != nil {
		return nil, f, cli.Usagef("lab up", "%v", err)
	}
	if err := lab.ValidName(o.name); err != nil {
		return nil, f, cli.Usagef("lab up", "%v", err)
	}
	if o.nodes < 3 || o.nodes > lab.MaxNodes {
		return nil, f, cli.Usagef("lab up", "--nodes %d: want 3..%d", o.nodes, lab.MaxNodes)
	}
	if os.Geteuid() != 0 {
		return nil, f, cli.Failf("lab up needs root (it creates network namespaces): run it as root")
	}
	if o.k8s && !f.K8s {
		return nil, f, cli.Usagef("lab up", "--k8s: fault %s is not supported with real components (the K8S column of 'netdoctor lab list' names those that are)", f.Name)
	}
	if o.k8s {
		// Build the components first (minutes on a cold machine, with progress): not part of --timeout.
		if _, err := k8s.EnsureBins(ctx, s.Progressf); err != nil {
			return nil, f, cli.Failf("%v", err)
		}
		if !o.timeoutSet && o.timeout < 5*time.Minute {
			o.timeout = 5 * time.Minute
		}
	}
	ctx, cancel := cli.Deadline(ctx, o.timeout)
	defer cancel()
	l, err := lab.Up(ctx, lab.UpOptions{Options: lab.Options{Name: o.name, Nodes: o.nodes, PodsPerNode: o.pods, K8s: o.k8s}, Fault: &f,
		Progressf: s.Progressf})
	if err != nil {
		switch cause := context.Cause(ctx); {
		case errors.Is(cause, cli.ErrTimeout):
			return nil, f, cli.Failf("lab up timed out after %s; the partial lab %s was removed", o.timeout, o.name)
		case errors.Is(cause, cli.ErrInterrupted):
			return nil, f, cli.Failf("lab up interrupted; the partial lab %s was removed", o.name)
		}
		return nil, f, cli.Failf("%v", err)
	}
	return l, f, nil
}

func printUp(s *cli.Streams, l *lab.Lab, f lab.Fault) {
	pods := 0
	for _, p := range l.Plan.Pods {
		if p.PID > 0 {
			pods++
		}
	}
	fmt.Fprintf(s.Out, "lab %s is up: %d nodes (new node %s), %d pods running, fault %s\n", l.State.Name, len(l.Plan.Nodes), l.Plan.NewNode().Name, pods, f.Name)
	fmt.Fprintf(s.Out, "state: %s\ndump:  %s\n", lab.StatePath(l.State.Name), lab.DumpPath(l.State.Name))
	if kc := l.State.KubeconfigPath(); kc != "" {
		fmt.Fprintf(s.Out, "kubeconfig: %s (API server %s; try: KUBECONFIG=%s kubectl get pods -A)\n", kc, l.State.K8s.URL, kc)
	}
	if f.Name != "none" {
		r := l.Expand(f).Request
		fmt.Fprintf(s.Out, "request: from %s to %s proto %s", r.From, r.To, r.Proto)
		if r.Size > 0 {
			fmt.Fprintf(s.Out, " size %d", r.Size)
		}
		fmt.Fprintln(s.Out)
	}
}

func newDown(s *cli.Streams) *cobra.Command {
	var name string
	c := &cobra.Command{
		Use:   "down [--name LAB]",
		Short: "Remove a lab: kill its processes, delete its namespaces and files (idempotent)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := lab.ValidName(name); err != nil {
				return cli.Usagef("lab down", "%v", err)
			}
			if os.Geteuid() != 0 {
				return cli.Failf("lab down needs root: run it as root")
			}
			if err := lab.Down(context.WithoutCancel(cmd.Context()), name); err != nil {
				return cli.Failf("%v", err)
			}
			fmt.Fprintf(s.Out, "lab %s is down\n", name)
			return nil
		},
	}
	c.Flags().StringVar(&name, "name", lab.DefaultName, "lab name")
	return c
}
