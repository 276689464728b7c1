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

	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"

	"github.com/netdoctor/netdoctor/internal/agent"
	"github.com/netdoctor/netdoctor/internal/cli"
)

type options struct {
	listen    string
	node      string
	netns     string
	root      string
	tlsCert   string
	tlsKey    string
	maxCalls  int
	criSocket string
	kube      *kubeFlags
}

// addFlags registers the agent's flags; `netdoctor agent` and `netdoctor-agent` share them.
func (o *options) addFlags(f *pflag.FlagSet) {
	f.StringVar(&o.listen, "listen", fmt.Sprintf(":%d", agent.DefaultPort), "address to listen on")
	f.StringVar(&o.node, "node-name", os.Getenv("NODE_NAME"), "the node this agent serves (default $NODE_NAME)")
	f.StringVar(&o.netns, "node-netns", "", "the node's network namespace path (default: the agent's own, i.e. hostNetwork)")
	f.StringVar(&o.root, "root", "", "where the node's host files are mounted (etc/cni/net.d, var/lib/cni, run/flannel)")
	f.StringVar(&o.tlsCert, "tls-cert", "", "serving certificate (PEM); without it the agent serves plain HTTP")
	f.StringVar(&o.tlsKey, "tls-key", "", "key of --tls-cert")
	f.IntVar(&o.maxCalls, "max-calls", 32, "calls served at once")
	f.StringVar(&o.criSocket, "cri-socket", defaultCRISocket(), "container runtime (CRI) socket to find pods' namespaces with (\"\": none)")
	o.kube = addKubeFlags(f)
}

func (o *options) restConfig() (*rest.Config, error) {
	if !o.kube.given() {
		if c, err := rest.InClusterConfig(); err == nil {
			return c, nil
		}
	}
	return o.kube.restConfig()
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
