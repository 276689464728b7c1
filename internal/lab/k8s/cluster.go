package k8s

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
)

// NodeSpec is one node of the cluster, as kube-proxy and flanneld see it.
type NodeSpec struct {
	Name    string       // Node name
	Netns   string       // path of its network namespace
	IP      netip.Addr   // InternalIP on eth0
	PodCIDR netip.Prefix // spec.podCIDR
	Root    string       // its host-like root: flanneld writes ROOT/run/flannel/subnet.env there
	// PublicIP is flanneld's --public-ip (the VTEP address it announces); zero: flanneld picks
	// eth0's address itself.
	PublicIP netip.Addr
	// NoKubeProxy: kube-proxy is not started on this node (its pod was evicted).
	NoKubeProxy bool
}

// Spec describes the whole cluster.
type Spec struct {
	Name         string   // lab name (for logs)
	Dir          string   // where the cluster's files live (certificates, kubeconfigs, etcd data, logs)
	ControlPlane NodeSpec // etcd, kube-apiserver, kube-controller-manager and kube-scheduler run in its netns
	ServiceCIDR  netip.Prefix
	ClusterCIDR  netip.Prefix
	DNSDomain    string
	Bins         Bins
	NodeNames    []string // every other node (a kubelet identity is made for each)
}

// Bins are the component binaries.
type Bins struct {
	Dir        string // the k8s build cache bin directory
	Etcd       string
	APIServer  string
	KCM        string
	Scheduler  string
	KubeProxy  string
	Flanneld   string
	Kubelet    string
	Kubectl    string
	CoreDNS    string
	Containerd string
	Runc       string
	CNIBinDir  string
}

// Users with static bearer tokens: name → groups. Each component has its own identity so the
// default RBAC of the API server applies to it as in any cluster.
var users = []struct{ name, groups string }{
	{"admin", "system:masters"},
	{"system:kube-controller-manager", ""},
	{"system:kube-scheduler", ""},
	{"system:kube-proxy", ""},
	{"flannel", ""},
	{"coredns", ""},
	// Test identities: one that a test binds the netdoctor roles to, one that stays without them.
	{"alice", ""},
	{"bob", ""},
}

// NodeUser is the identity of node NAME's kubelet.
func NodeUser(node string) string { return "system:node:" + node }

// Token returns the bearer token of user ("" if there is none). Tokens are random; the API server
// reads them from DIR/tokens.csv (0600).
func (c *Cluster) Token(user string) string { return c.tokens[user] }

// Cluster is a running control plane.
type Cluster struct {
	Spec   Spec
	PKI    *PKI
	URL    string // https://CONTROL-PLANE-IP:6443, reachable from the lab's namespaces
	Procs  []*Proc
	tokens map[string]string
}

// KubeconfigFor writes DIR/NAME.kubeconfig for user's token against server and returns its path.
func (c *Cluster) KubeconfigFor(name, user, server, namespace string) (string, error) {
	tok := c.tokens[user]
	if tok == "" {
		return "", fmt.Errorf("k8s: no token for user %q", user)
	}
	p := filepath.Join(c.Spec.Dir, name+".kubeconfig")
	if _, err := os.Stat(p); err == nil {
		return p, nil // written once; every node's component reads the same one
	}
	return p, WriteKubeconfig(p, server, c.PKI.CAFile(), namespace, "    token: "+tok+"\n")
}

// WriteKubeconfig writes a kubeconfig with one cluster, one user (userLines are the user's YAML
// fields, indented by four spaces) and one context.
func WriteKubeconfig(path, server, caFile, namespace, userLines string) error {
	ns := ""
	if namespace != "" {
		ns = "    namespace: " + namespace + "\n"
	}
	cfg := "apiVersion: v1\nkind: Config\nclusters:\n- name: lab\n  cluster:\n    server: " + server +
		"\n    certificate-authority: " + caFile + "\ncontexts:\n- name: lab\n  context:\n    cluster: lab\n    user: u\n" + ns +
		"current-context: lab\nusers:\n- name: u\n  user:\n" + userLines
	// Atomically: components on other nodes may be reading the same file while it is rewritten.
	return writeAtomic(path, []byte(cfg), 0o600)
}

// writeAtomic writes path through a temporary file and a rename, so a reader sees the old file or
// the whole new one, never a truncated one.
func writeAtomic(path string, b []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, mode); err != nil {
		return fmt.Errorf("k8s: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("k8s: %w", err)
	}
	return nil
}
