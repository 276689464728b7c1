package agent

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// kubeFlags are kubectl's connection flags, with the names and meanings of cli-runtime's
// ConfigFlags (what `netdoctor diagnose` takes), bound to client-go's clientcmd directly:
// cli-runtime would link kustomize and every API group into the agent-only binary.
type kubeFlags struct {
	fs                                             *pflag.FlagSet
	kubeconfig, cacheDir, certFile, keyFile, token string
	as, asUID, cluster, user, context, server      string
	tlsServerName, caFile, timeout, proxyURL       string
	asGroups, asExtra                              []string
	insecure, disableCompression                   bool
}

func addKubeFlags(fs *pflag.FlagSet) *kubeFlags {
	k := &kubeFlags{fs: fs}
	home, _ := os.UserHomeDir()
	fs.StringVar(&k.kubeconfig, "kubeconfig", "", "Path to the kubeconfig file to use for CLI requests.")
	fs.StringVar(&k.cacheDir, "cache-dir", home+"/.kube/cache", "Default cache directory")
	fs.StringVar(&k.certFile, "client-certificate", "", "Path to a client certificate file for TLS")
	fs.StringVar(&k.keyFile, "client-key", "", "Path to a client key file for TLS")
	fs.StringVar(&k.token, "token", "", "Bearer token for authentication to the API server")
	fs.StringVar(&k.as, "as", "", "Username to impersonate for the operation. User could be a regular user or a service account in a namespace.")
	fs.StringVar(&k.asUID, "as-uid", "", "UID to impersonate for the operation.")
	fs.StringArrayVar(&k.asGroups, "as-group", nil, "Group to impersonate for the operation, this flag can be repeated to specify multiple groups.")
	fs.StringArrayVar(&k.asExtra, "as-user-extra", nil, "User extras to impersonate for the operation, this flag can be repeated to specify multiple values for the same key.")
	fs.StringVar(&k.cluster, "cluster", "", "The name of the kubeconfig cluster to use")
	fs.StringVar(&k.user, "user", "", "The name of the kubeconfig user to use")
	fs.StringVar(&k.context, "context", "", "The name of the kubeconfig context to use")
	fs.StringVarP(&k.server, "server", "s", "", "The address and port of the Kubernetes API server")
	fs.StringVar(&k.tlsServerName, "tls-server-name", "", "Server name to use for server certificate validation. If it is not provided, the hostname used to contact the server is used")
	fs.BoolVar(&k.insecure, "insecure-skip-tls-verify", false, "If true, the server's certificate will not be checked for validity. This will make your HTTPS connections insecure")
	fs.StringVar(&k.caFile, "certificate-authority", "", "Path to a cert file for the certificate authority")
	fs.StringVar(&k.timeout, "request-timeout", "0", "The length of time to wait before giving up on a single server request. Non-zero values should contain a corresponding time unit (e.g. 1s, 2m, 3h). A value of zero means don't timeout requests.")
	fs.BoolVar(&k.disableCompression, "disable-compression", false, "If true, opt-out of response compression for all requests to the server")
	fs.StringVar(&k.proxyURL, "proxy-url", "", "Proxy URL to use for requests to the API server")
	return k
}

// given reports whether the user named a cluster: a kubeconfig (--kubeconfig or $KUBECONFIG) or
// a connection flag. Without one the agent uses its pod's service account (in-cluster config).
func (k *kubeFlags) given() bool {
	if os.Getenv("KUBECONFIG") != "" {
		return true
	}
	for _, n := range []string{"kubeconfig", "context", "cluster", "user", "server", "token"} {
		if f := k.fs.Lookup(n); f != nil && f.Changed {
			return true
		}
	}
	return false
}

// restConfig resolves the flags and the kubeconfig the way kubectl does.
func (k *kubeFlags) restConfig() (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.DefaultClientConfig = &clientcmd.DefaultClientConfig
	rules.ExplicitPath = k.kubeconfig
	o := &clientcmd.ConfigOverrides{ClusterDefaults: clientcmd.ClusterDefaults}
	changed := func(name string) bool { return k.fs.Changed(name) }
	if changed("client-certificate") {
		o.AuthInfo.ClientCertificate = k.certFile
	}
	if changed("client-key") {
		o.AuthInfo.ClientKey = k.keyFile
	}
	if changed("token") {
		o.AuthInfo.Token = k.token
	}
	o.AuthInfo.Impersonate, o.AuthInfo.ImpersonateUID, o.AuthInfo.ImpersonateGroups = k.as, k.asUID, k.asGroups
	if len(k.asExtra) > 0 {
		o.AuthInfo.ImpersonateUserExtra = map[string][]string{}
		for _, e := range k.asExtra {
			if key, v, ok := strings.Cut(e, "="); ok {
				o.AuthInfo.ImpersonateUserExtra[key] = append(o.AuthInfo.ImpersonateUserExtra[key], v)
			}
		}
	}
	o.ClusterInfo.Server, o.ClusterInfo.TLSServerName, o.ClusterInfo.CertificateAuthority = k.server, k.tlsServerName, k.caFile
	o.ClusterInfo.InsecureSkipTLSVerify, o.ClusterInfo.DisableCompression, o.ClusterInfo.ProxyURL = k.insecure, k.disableCompression, k.proxyURL
	o.CurrentContext, o.Context.Cluster, o.Context.AuthInfo = k.context, k.cluster, k.user
	o.Timeout = k.timeout
	c, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, o).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	return c, nil
}
