package live

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericclioptions"
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
