package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/netdoctor/netdoctor/internal/kube"
)

// Labels and annotations of ephemeral agent pods.
const (
	// EphemeralLabel marks every ephemeral agent pod (value "true"); leftovers are found by it.
	EphemeralLabel = "netdoctor.dev/ephemeral"
	// RunLabel holds the id of the run that created the pod.
	RunLabel = "netdoctor.dev/run"
	// ExpiresAnnotation is the RFC 3339 time after which the pod is a leftover anyone may delete.
	ExpiresAnnotation = "netdoctor.dev/expires"
	// SchemeAnnotation on an agent pod says how to reach it: "https" (default) or "http".
	SchemeAnnotation = "netdoctor.dev/agent-scheme"
)

// PodClient is the part of client-go's PodInterface (kubernetes/typed/core/v1) that Ephemeral
// uses: pass clientset.CoreV1().Pods(namespace). The narrow interface keeps client-go's typed
// clients, whose scheme registers every API group, out of the agent-only binary.
type PodClient interface {
	Create(ctx context.Context, pod *corev1.Pod, opts metav1.CreateOptions) (*corev1.Pod, error)
	Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
	List(ctx context.Context, opts metav1.ListOptions) (*corev1.PodList, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
}

// Ephemeral runs the agent as short-lived pods on just the nodes a diagnosis needs (when no agent
// DaemonSet is installed) and deletes them afterwards. Each pod is pinned to its node
// (spec.nodeName), has the DaemonSet's privileges, and carries its own end: activeDeadlineSeconds
// (the kubelet kills it) and an expiry annotation (the next run deletes it). Safe for concurrent use.
type Ephemeral struct {
	// Pods is the client for pods in Namespace (needs create, get, watch, list, delete there).
	Pods      PodClient
	Namespace string
	// Image is the agent image (the netdoctor binary); Port the port it listens on (hostNetwork).
	Image string
	Port  int
	// TLSSecret holds tls.crt/tls.key for the agent; "" serves plain HTTP.
	TLSSecret string
	// ServiceAccount the pods run as (it needs system:auth-delegator).
	ServiceAccount string
	// Lifetime bounds a pod's life (default 10 min); StartTimeout bounds waiting for Running.
	Lifetime     time.Duration
	StartTimeout time.Duration
	// Now is injected by tests (default time.Now).
	Now func() time.Time

	once  sync.Once
	runID string
	mu    sync.Mutex
	nodes map[string]*ephemeralPod
}

type ephemeralPod struct {
	done   chan struct{}
	name   string
	target Target
	err    error
}

func (e *Ephemeral) init() {
	e.once.Do(func() {
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		e.runID = hex.EncodeToString(b)
		e.nodes = map[string]*ephemeralPod{}
		if e.Lifetime <= 0 {
			e.Lifetime = 10 * time.Minute
		}
		if e.StartTimeout <= 0 {
			e.StartTimeout = 60 * time.Second
		}
		if e.Port == 0 {
			e.Port = DefaultPort + 1
		}
		if e.Now == nil {
			e.Now = time.Now
		}
	})
}

// RunID is the id of this run's pods (label netdoctor.dev/run).
func (e *Ephemeral) RunID() string { e.init(); return e.runID }

// Endpoint returns where the ephemeral agent of node is (its pod and URL), creating its pod on first use and
// waiting (bounded by ctx and StartTimeout) until it runs. Concurrent callers for one node share
// one pod.
func (e *Ephemeral) Endpoint(ctx context.Context, node string) (Target, error) {
	e.init()
	e.mu.Lock()
	p := e.nodes[node]
	if p == nil {
		p = &ephemeralPod{done: make(chan struct{})}
		e.nodes[node] = p
		e.mu.Unlock()
		p.target, p.err = e.start(ctx, node, p)
		close(p.done)
	} else {
		e.mu.Unlock()
	}
	select {
	case <-p.done:
		return p.target, p.err
	case <-ctx.Done():
		return Target{}, fmt.Errorf("agent: ephemeral agent on node %s: %w", node, ctx.Err())
	}
}

func (e *Ephemeral) start(ctx context.Context, node string, p *ephemeralPod) (Target, error) {
	pod := e.podSpec(node)
	created, err := e.Pods.Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		return Target{}, fmt.Errorf("agent: create the ephemeral agent pod on node %s: %w", node, err)
	}
	e.mu.Lock()
	p.name = created.Name
	e.mu.Unlock()
	wctx, cancel := context.WithTimeout(ctx, e.StartTimeout)
	defer cancel()
	w, err := e.Pods.Watch(wctx, metav1.ListOptions{FieldSelector: "metadata.name=" + created.Name, ResourceVersion: created.ResourceVersion})
	if err != nil {
		return Target{}, fmt.Errorf("agent: watch the ephemeral agent pod %s: %w", created.Name, err)
	}
	defer w.Stop()
	cur := created
	for {
		if u, ok, err := e.ready(cur); err != nil {
			return Target{}, err
		} else if ok {
			return u, nil
		}
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				return Target{}, fmt.Errorf("agent: the ephemeral agent pod %s on node %s did not run within %s", created.Name, node, e.StartTimeout)
			}
			if pp, ok := ev.Object.(*corev1.Pod); ok {
				cur = pp
			}
		case <-wctx.Done():
			return Target{}, fmt.Errorf("agent: the ephemeral agent pod %s on node %s did not run within %s (phase %s)", created.Name, node, e.StartTimeout, cur.Status.Phase)
		}
	}
}

// ready returns where the agent is once the pod runs and is ready.
func (e *Ephemeral) ready(p *corev1.Pod) (Target, bool, error) {
	switch p.Status.Phase {
	case corev1.PodFailed, corev1.PodSucceeded:
		return Target{}, false, fmt.Errorf("agent: the ephemeral agent pod %s ended (%s %s)", p.Name, p.Status.Phase, p.Status.Reason)
	case corev1.PodRunning:
		ips := kube.PodIPs(p)
		if len(ips) == 0 || !kube.PodReady(p) {
			return Target{}, false, nil
		}
		return podTarget(p, ips[0].String(), e.Port), true, nil
	}
	return Target{}, false, nil
}

// podTarget is where an agent pod is: its scheme annotation, namespace, name, IP and port.
func podTarget(p *corev1.Pod, ip string, port int) Target {
	scheme := p.Annotations[SchemeAnnotation]
	if scheme == "" {
		scheme = "https"
	}
	return Target{URL: scheme + "://" + net.JoinHostPort(ip, strconv.Itoa(port)), Namespace: p.Namespace, Pod: p.Name, Scheme: scheme, Port: port}
}

func (e *Ephemeral) podSpec(node string) *corev1.Pod {
	deadline := int64(e.Lifetime / time.Second)
	scheme := "https"
	args := []string{"agent", "--listen=:" + strconv.Itoa(e.Port), "--root=/host"}
	if e.TLSSecret != "" {
		args = append(args, "--tls-cert=/tls/tls.crt", "--tls-key=/tls/tls.key")
	} else {
		scheme = "http"
	}
	ro := func(name, path string) corev1.VolumeMount {
		return corev1.VolumeMount{Name: name, MountPath: path, ReadOnly: true}
	}
	host := func(name, path string, t corev1.HostPathType) corev1.Volume {
		return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: path, Type: &t}}}
	}
	f, t := false, true
	root := int64(0)
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: "netdoctor-agent-" + e.runID + "-",
			Namespace:    e.Namespace,
			Labels:       map[string]string{EphemeralLabel: "true", RunLabel: e.runID, AgentLabelKey: AgentLabelValue + "-ephemeral"},
			Annotations: map[string]string{ExpiresAnnotation: e.Now().Add(e.Lifetime).UTC().Format(time.RFC3339),
				SchemeAnnotation: scheme},
		},
		Spec: corev1.PodSpec{
			NodeName: node, HostNetwork: true, HostPID: true, DNSPolicy: corev1.DNSClusterFirstWithHostNet,
			RestartPolicy: corev1.RestartPolicyNever, ActiveDeadlineSeconds: &deadline,
			ServiceAccountName: e.ServiceAccount,
			Tolerations:        []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
			Containers: []corev1.Container{{
				Name: "agent", Image: e.Image, Args: args,
				Env:   []corev1.EnvVar{{Name: "NODE_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}}},
				Ports: []corev1.ContainerPort{{Name: "agent", ContainerPort: int32(e.Port), Protocol: corev1.ProtocolTCP}},
				SecurityContext: &corev1.SecurityContext{RunAsUser: &root, ReadOnlyRootFilesystem: &t, AllowPrivilegeEscalation: &f,
					AppArmorProfile: &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeUnconfined}, // as the DaemonSet: /proc/PID/ns/net, /proc/1/root
					Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"},
						Add: []corev1.Capability{"SYS_ADMIN", "NET_ADMIN", "NET_RAW", "SYS_PTRACE", "DAC_READ_SEARCH"}}},
				VolumeMounts: []corev1.VolumeMount{ro("cni-conf", "/host/etc/cni/net.d"), ro("cni-state", "/host/var/lib/cni"),
					ro("flannel-run", "/host/run/flannel"), ro("containerd", "/run/containerd")},
			}},
			Volumes: []corev1.Volume{host("cni-conf", "/etc/cni/net.d", corev1.HostPathDirectoryOrCreate),
				host("cni-state", "/var/lib/cni", corev1.HostPathDirectoryOrCreate), host("flannel-run", "/run/flannel", corev1.HostPathDirectoryOrCreate),
				host("containerd", "/run/containerd", corev1.HostPathDirectoryOrCreate)},
		},
	}
	if e.TLSSecret != "" {
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: e.TLSSecret}}})
		p.Spec.Containers[0].VolumeMounts = append(p.Spec.Containers[0].VolumeMounts, ro("tls", "/tls"))
	}
	return p
}

// Cleanup deletes every pod this run created, whatever state it is in; ctx should be a fresh one
// (the diagnosis' may be cancelled). It returns the names it deleted.
func (e *Ephemeral) Cleanup(ctx context.Context) ([]string, error) {
	e.init()
	var errs []error
	var deleted []string
	grace := int64(0)
	// By label, not only by the names recorded: a Create whose answer was lost still made a pod.
	list, err := e.Pods.List(ctx, metav1.ListOptions{LabelSelector: RunLabel + "=" + e.runID})
	if err != nil {
		return nil, fmt.Errorf("agent: list this run's ephemeral agent pods: %w", err)
	}
	for _, p := range list.Items {
		if err := e.Pods.Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &grace}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("agent: delete ephemeral agent pod %s: %w", p.Name, err))
			continue
		}
		deleted = append(deleted, p.Name)
	}
	return deleted, errors.Join(errs...)
}

// RemoveLeftovers deletes ephemeral agent pods of earlier runs whose expiry has passed (a run that
// was killed before it could clean up). It returns the names it deleted.
func (e *Ephemeral) RemoveLeftovers(ctx context.Context) ([]string, error) {
	e.init()
	list, err := e.Pods.List(ctx, metav1.ListOptions{LabelSelector: EphemeralLabel + "=true"})
	if err != nil {
		return nil, fmt.Errorf("agent: list ephemeral agent pods: %w", err)
	}
	grace := int64(0)
	var deleted []string
	var errs []error
	for _, p := range list.Items {
		exp, err := time.Parse(time.RFC3339, p.Annotations[ExpiresAnnotation])
		if p.Labels[RunLabel] == e.runID || (err == nil && e.Now().Before(exp)) {
			continue // ours, or another run's still in its lifetime
		}
		if err := e.Pods.Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &grace}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
			continue
		}
		deleted = append(deleted, p.Name)
	}
	return deleted, errors.Join(errs...)
}
