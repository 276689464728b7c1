// Package agent is `netdoctor agent`: the node agent of the DaemonSet (deploy/agent). It serves
// this node's view and runs probes in any of its network namespaces for authorised callers.
package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"

	"github.com/netdoctor/netdoctor/internal/agent"
	"github.com/netdoctor/netdoctor/internal/cli"
	"github.com/netdoctor/netdoctor/internal/kube/live"
)

type options struct {
	listen      string
	node        string
	netns       string
	root        string
	tlsCert     string
	tlsKey      string
	maxCalls    int
	criSocket   string
	readyFormat bool
	kube        *live.Flags
}

// NewCommand returns the `agent` command.
func NewCommand(s *cli.Streams) *cobra.Command {
	o := &options{}
	c := &cobra.Command{
		Use:   "agent [--listen ADDR] [--node-name NODE] [--root /host]",
		Short: "Serve this node's network view and probes to authorised netdoctor clients (the DaemonSet)",
		Long: `Runs the node agent: an HTTPS server (HTTP without --tls-cert) that serves snapshots of this node's
and its pods' network namespaces (links, routes, rules, neighbours, iptables with counters…), FIB
look-ups and probes run inside any of them. It reads and probes only; it changes nothing.

Every call must carry a Kubernetes bearer token; the agent checks it with a TokenReview and checks
that the user may "diagnose" this node (verb diagnose on nodes.netdoctor.dev, see deploy/rbac)
with a SubjectAccessReview. In a pod it uses its service account (in-cluster config); elsewhere
--kubeconfig. The agent's own identity needs the ClusterRole system:auth-delegator.

It prints "netdoctor agent: serving node NODE on ADDR" on stdout once it listens, and stops on
SIGINT/SIGTERM after the calls in flight end (at most 5 s).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd.Context(), s) },
	}
	f := c.Flags()
	f.StringVar(&o.listen, "listen", fmt.Sprintf(":%d", agent.DefaultPort), "address to listen on")
	f.StringVar(&o.node, "node-name", os.Getenv("NODE_NAME"), "the node this agent serves (default $NODE_NAME)")
	f.StringVar(&o.netns, "node-netns", "", "the node's network namespace path (default: the agent's own, i.e. hostNetwork)")
	f.StringVar(&o.root, "root", "", "where the node's host files are mounted (etc/cni/net.d, var/lib/cni, run/flannel)")
	f.StringVar(&o.tlsCert, "tls-cert", "", "serving certificate (PEM); without it the agent serves plain HTTP")
	f.StringVar(&o.tlsKey, "tls-key", "", "key of --tls-cert")
	f.IntVar(&o.maxCalls, "max-calls", 32, "calls served at once")
	f.StringVar(&o.criSocket, "cri-socket", defaultCRISocket(), "container runtime (CRI) socket to find pods' namespaces with (\"\": none)")
	o.kube = live.AddFlags(f)
	return c
}

func (o *options) restConfig() (*rest.Config, error) {
	if !o.kube.Given() {
		if c, err := rest.InClusterConfig(); err == nil {
			return c, nil
		}
	}
	return o.kube.RESTConfig()
}

func (o *options) run(ctx context.Context, s *cli.Streams) error {
	if o.node == "" {
		return cli.Usagef("agent", "--node-name is required (the DaemonSet sets NODE_NAME from spec.nodeName)")
	}
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return cli.Usagef("agent", "--tls-cert and --tls-key go together")
	}
	cfg, err := o.restConfig()
	if err != nil {
		return cli.Failf("agent: no API server to check callers with: %v", err)
	}
	auth, err := agent.NewKubeAuth(cfg)
	if err != nil {
		return cli.Failf("%v", err)
	}
	var cri *agent.CRI
	if o.criSocket != "" {
		cri = &agent.CRI{Socket: o.criSocket}
	}
	srv, err := agent.NewServer(agent.ServerConfig{NodeName: o.node, Netns: o.netns, Root: o.root, Auth: auth, MaxConcurrent: o.maxCalls, CRI: cri,
		Logf: func(format string, args ...any) { fmt.Fprintf(s.ErrOut, format+"\n", args...) }})
	if err != nil {
		return cli.Usagef("agent", "%v", err)
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return cli.Failf("agent: listen %s: %v", o.listen, err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: agent.MaxCallTimeout + 10*time.Second, IdleTimeout: 60 * time.Second, MaxHeaderBytes: 64 << 10}
	// Start-up garbage (API scheme registration, flag parsing) goes back to the OS: the agent
	// idles on every node.
	debug.FreeOSMemory()
	fmt.Fprintf(s.Out, "netdoctor agent: serving node %s on %s\n", o.node, ln.Addr())
	errc := make(chan error, 1)
	go func() {
		if o.tlsCert != "" {
			errc <- hs.ServeTLS(ln, o.tlsCert, o.tlsKey)
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return cli.Failf("agent: %v", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return cli.Failf("agent: shutdown: %v", err)
	}
	return nil
}

// defaultCRISocket is the first container runtime socket present: containerd's, then CRI-O's.
func defaultCRISocket() string {
	for _, p := range []string{"/run/containerd/containerd.sock", "/var/run/crio/crio.sock"} {
		if st, err := os.Stat(p); err == nil && st.Mode()&os.ModeSocket != 0 {
			return p
		}
	}
	return ""
}
