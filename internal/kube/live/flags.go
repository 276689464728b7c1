package live

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/pflag"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"

	"github.com/netdoctor/netdoctor/internal/kube"
)

// Flags are kubectl's standard connection flags (cli-runtime's ConfigFlags: --kubeconfig,
// --context, --cluster, --user, --server, --token, --as, --certificate-authority, …) for one
// command. The namespace flag stays the command's own (-n), defaulted by Namespace.
type Flags struct {
	cf *genericclioptions.ConfigFlags
	fs *pflag.FlagSet
}

// AddFlags registers the connection flags on fs and returns them. The -s shorthand of --server is
// left out when fs already uses it.
func AddFlags(fs *pflag.FlagSet) *Flags {
	cf := genericclioptions.NewConfigFlags(true)
	cf.Namespace = nil // the command's own -n/--namespace
	tmp := pflag.NewFlagSet("kube", pflag.ContinueOnError)
	cf.AddFlags(tmp)
	tmp.VisitAll(func(f *pflag.Flag) {
		if fs.Lookup(f.Name) != nil {
			return
		}
		if f.Shorthand != "" && fs.ShorthandLookup(f.Shorthand) != nil {
			f.Shorthand = ""
		}
		fs.AddFlag(f)
	})
	return &Flags{cf: cf, fs: fs}
}

// Given reports whether the user named a cluster: a kubeconfig (--kubeconfig or $KUBECONFIG) or
// any connection flag.
func (f *Flags) Given() bool {
	if f == nil {
		return false
	}
	if os.Getenv("KUBECONFIG") != "" {
		return true
	}
	given := false
	f.fs.VisitAll(func(fl *pflag.Flag) {
		switch fl.Name {
		case "kubeconfig", "context", "cluster", "user", "server", "token":
			given = given || fl.Changed
		}
	})
	return given
}

// Namespace is the namespace of the kubeconfig's current context ("default" when it names none).
func (f *Flags) Namespace() (string, error) {
	ns, _, err := f.cf.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return "", fmt.Errorf("kube/live: kubeconfig: %w", err)
	}
	return ns, nil
}

// RESTConfig resolves the flags and kubeconfig into a client configuration.
func (f *Flags) RESTConfig() (*rest.Config, error) {
	c, err := f.cf.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("kube/live: kubeconfig: %w", err)
	}
	return c, nil
}

// Cluster fetches the cluster view from the API server the flags name (see FromAPI).
func (f *Flags) Cluster(ctx context.Context, opts Options) (*kube.Cluster, error) {
	c, err := f.RESTConfig()
	if err != nil {
		return nil, err
	}
	return FromAPI(ctx, c, opts)
}

// Complete lists completions for a --from/--to value from the live API, in the kubeconfig's (or
// namespace's) namespace: pod/NAME and node/NAME for sources, svc/NAME:PORT and pod/NAME for
// targets. It gives up silently after 2 s (completion must never hang a shell).
func (f *Flags) Complete(ctx context.Context, namespace string, target bool, prefix string) []string {
	if ctx == nil {
		ctx = context.Background()
	}
	cfg, err := f.RESTConfig()
	if err != nil {
		return nil
	}
	if namespace == "" {
		if namespace, err = f.Namespace(); err != nil {
			return nil
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	core, err := corev1client.NewForConfig(cfg)
	if err != nil {
		return nil
	}
	var out []string
	add := func(s string) {
		if strings.HasPrefix(s, prefix) {
			out = append(out, s)
		}
	}
	if target {
		if svcs, err := core.Services(namespace).List(ctx, metav1.ListOptions{Limit: 500}); err == nil {
			for _, s := range svcs.Items {
				for _, p := range s.Spec.Ports {
					add(fmt.Sprintf("svc/%s:%d", s.Name, p.Port))
				}
			}
		}
	} else if nodes, err := core.Nodes().List(ctx, metav1.ListOptions{Limit: 500}); err == nil {
		for _, n := range nodes.Items {
			add("node/" + n.Name)
		}
	}
	if pods, err := core.Pods(namespace).List(ctx, metav1.ListOptions{Limit: 500}); err == nil {
		for _, p := range pods.Items {
			add("pod/" + p.Name)
		}
	}
	sort.Strings(out)
	return out
}
