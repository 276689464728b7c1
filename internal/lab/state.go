package lab

import (
	"encoding/json"

	"errors"
	"fmt"
	"github.com/netdoctor/netdoctor/internal/lab/k8s"
	"os"
	"path/filepath"
	"time"
)

// DefaultName is the lab name when none is given.
const DefaultName = "ndlab"

// EnvDir is the environment variable that overrides the parent directory of lab state directories.
const EnvDir = "NETDOCTOR_LAB_DIR"

// DefaultParent is the parent of lab state directories when EnvDir is unset.
const DefaultParent = "/run/netdoctor/lab"

// ErrNoLab is returned (wrapped) by Current when no lab of that name is up.
var ErrNoLab = errors.New("no such lab")

// State is what a running lab is made of; Up writes it to state.json in Dir, Down reads it to tear
// the lab down. Everything the lab created is named here: namespaces, processes, files.
type State struct {
	Name       string    `json:"name"`
	Dir        string    `json:"dir"`               // the state directory (holds state.json, dump.yaml, node roots)
	Fault      string    `json:"fault"`             // the injected fault, "none" for a healthy lab
	Created    time.Time `json:"created"`           //
	Namespaces []string  `json:"namespaces"`        // every netns name the lab made, under /run/netns
	EtcNetns   []string  `json:"etcNetns"`          // /etc/netns/NAME directories the lab made (pod resolv.conf)
	Plan       *Plan     `json:"plan"`              // the topology as built: nodes, IPs, pods (with PIDs), services
	Exe        string    `json:"exe"`               // the netdoctor binary the lab's servers run
	CoreDNS    string    `json:"coredns,omitempty"` // the real CoreDNS binary the DNS pods run ("" = the built-in server)
	Ready      bool      `json:"ready"`             // Up finished (false while building or after a failed Up)
	K8s        *K8sState `json:"k8s,omitempty"`     // the real Kubernetes of a --k8s lab
}

// K8sState is the real Kubernetes a --k8s lab runs: its processes (killed by PID on Down, as well
// as by namespace), the relay that makes the API server reachable from the host, kubeconfigs.
type K8sState struct {
	Dir        string      `json:"dir"`        // certificates, kubeconfigs, etcd data, component logs
	URL        string      `json:"url"`        // the API server as the host reaches it (https://127.0.0.1:PORT, the relay)
	InnerURL   string      `json:"innerURL"`   // the API server inside the lab (https://CONTROL-PLANE-IP:6443)
	Kubeconfig string      `json:"kubeconfig"` // the admin's kubeconfig for URL
	RelayPID   int         `json:"relayPID,omitempty"`
	Procs      []*k8s.Proc `json:"procs,omitempty"`
	// Kubelets are the nodes running a real kubelet: their state directory and cgroup root.
	Kubelets []KubeletState `json:"kubelets,omitempty"`
}

// KubeletState is one node's kubelet + containerd.
type KubeletState struct {
	Node       string `json:"node"`
	Dir        string `json:"dir"`
	CgroupRoot string `json:"cgroupRoot"`
}

// Parent is the directory holding lab state directories: $NETDOCTOR_LAB_DIR or DefaultParent.
func Parent() string {
	if d := os.Getenv(EnvDir); d != "" {
		return d
	}
	return DefaultParent
}

// Dir is the state directory of the lab name ("" means DefaultName).
func Dir(name string) string {
	if name == "" {
		name = DefaultName
	}
	return filepath.Join(Parent(), name)
}

// StatePath is the state.json of the lab name.
func StatePath(name string) string { return filepath.Join(Dir(name), "state.json") }

// DumpPath is the cluster dump (a v1 List in YAML) of the lab name. The diagnoser reads it as its
// cluster view; it exists once Up has finished.
func DumpPath(name string) string { return filepath.Join(Dir(name), "dump.yaml") }

// Current loads the state of the running lab name ("" means DefaultName). It returns an error
// wrapping ErrNoLab when no such lab exists, and a plain error when the state cannot be read.
func Current(name string) (*State, error) {
	if name == "" {
		name = DefaultName
	}
	b, err := os.ReadFile(StatePath(name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("lab: %q: %w (start one with 'netdoctor lab up --name %s')", name, ErrNoLab, name)
	}
	if err != nil {
		return nil, fmt.Errorf("lab: read state: %w", err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("lab: parse %s: %w", StatePath(name), err)
	}
	return &s, nil
}

// save writes state.json atomically.
func (s *State) save() error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("lab: encode state: %w", err)
	}
	tmp := filepath.Join(s.Dir, ".state.json.tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("lab: write state: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(s.Dir, "state.json")); err != nil {
		return fmt.Errorf("lab: write state: %w", err)
	}
	return nil
}

// Labs lists the names of labs that have a state directory.
func Labs() []string {
	ents, _ := os.ReadDir(Parent())
	var out []string
	for _, e := range ents {
		if _, err := os.Stat(filepath.Join(Parent(), e.Name(), "state.json")); err == nil {
			out = append(out, e.Name())
		}
	}
	return out
}

// KubeconfigPath is the admin kubeconfig of a --k8s lab ("" for a lab without real Kubernetes).
func (s *State) KubeconfigPath() string {
	if s.K8s == nil {
		return ""
	}
	return s.K8s.Kubeconfig
}
