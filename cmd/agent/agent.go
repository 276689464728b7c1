// Package agent is `netdoctor agent`: the node agent of the DaemonSet (deploy/agent). It serves
// this node's view and runs probes in any of its network namespaces for authorised callers.
//
// The same command runs in two binaries with the same arguments: the full netdoctor (NewCommand,
// a cobra subcommand) and the small agent-only netdoctor-agent of the image (Standalone, plain
// pflag: no cobra, no text/template, no cli-runtime, so the binary holds little more than the
// agent needs).
package agent

import (
	"github.com/spf13/cobra"

	"github.com/netdoctor/netdoctor/internal/cli"
)

const (
	use   = "agent [--listen ADDR] [--node-name NODE] [--root /host]"
	short = "Serve this node's network view and probes to authorised netdoctor clients (the DaemonSet)"
	long  = `Runs the node agent: an HTTPS server (HTTP without --tls-cert) that serves snapshots of this node's
and its pods' network namespaces (links, routes, rules, neighbours, iptables with counters…), FIB
look-ups and probes run inside any of them. It reads and probes only; it changes nothing.

Every call must carry a Kubernetes bearer token (the Authorization header, or X-Netdoctor-Token
when the call comes through the API server's pod proxy, which keeps the Authorization header for
itself); the agent checks it with a TokenReview and checks that the user may "diagnose" this node
(verb diagnose on nodes.netdoctor.dev, see deploy/rbac) with a SubjectAccessReview. In a pod it
uses its service account (in-cluster config); elsewhere --kubeconfig. The agent's own identity
needs the ClusterRole system:auth-delegator.

Tools the node view runs (iptables-save, nft, ipset) that are not in PATH are run from the host's
root (/proc/1/root, or $NETDOCTOR_HOST_ROOT) through the host's own dynamic loader, so the agent
works from a FROM-scratch image (needs hostPID and CAP_SYS_PTRACE).

It prints "netdoctor agent: serving node NODE on ADDR" on stdout once it listens, and stops on
SIGINT/SIGTERM after the calls in flight end (at most 5 s).`
)

// NewCommand returns the `agent` command of the full netdoctor binary.
func NewCommand(s *cli.Streams) *cobra.Command {
	o := &options{}
	c := &cobra.Command{
		Use:   use,
		Short: short,
		Long:  long,
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return o.run(cmd.Context(), s) },
	}
	o.addFlags(c.Flags())
	return c
}
