package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ErrNoSandbox: the container runtime knows no ready sandbox for the pod on this node.
var ErrNoSandbox = errors.New("no ready pod sandbox")

// CRI finds pods' network namespaces through the node's container runtime (the CRI socket the
// kubelet uses: containerd's /run/containerd/containerd.sock, CRI-O's /var/run/crio/crio.sock):
// the pod's ready sandbox, then its network namespace path from the runtime's verbose status (the
// OCI spec's network namespace, else the sandbox process's /proc/PID/ns/net).
type CRI struct {
	// Socket is the runtime's unix socket path.
	Socket string
	// Timeout bounds one look-up (default 5 s).
	Timeout time.Duration
}

// PodNetns returns the network namespace path of the pod's ready sandbox.
func (c *CRI) PodNetns(ctx context.Context, pod *corev1.Pod) (string, error) {
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	conn, err := grpc.NewClient("unix://"+c.Socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return "", fmt.Errorf("agent/cri: %s: %w", c.Socket, err)
	}
	defer conn.Close()
	rt := runtimeapi.NewRuntimeServiceClient(conn)
	list, err := rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{
		State: &runtimeapi.PodSandboxStateValue{State: runtimeapi.PodSandboxState_SANDBOX_READY},
		LabelSelector: map[string]string{
			"io.kubernetes.pod.name":      pod.Name,
			"io.kubernetes.pod.namespace": pod.Namespace,
		},
	}})
	if err != nil {
		return "", fmt.Errorf("agent/cri: list sandboxes at %s: %w", c.Socket, err)
	}
	var best *runtimeapi.PodSandbox
	for _, s := range list.Items {
		if pod.UID != "" && s.Metadata != nil && s.Metadata.Uid != string(pod.UID) {
			continue
		}
		if best == nil || s.CreatedAt > best.CreatedAt {
			best = s
		}
	}
	if best == nil {
		return "", fmt.Errorf("agent/cri: %w for pod %s/%s", ErrNoSandbox, pod.Namespace, pod.Name)
	}
	st, err := rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: best.Id, Verbose: true})
	if err != nil {
		return "", fmt.Errorf("agent/cri: sandbox %s status: %w", best.Id, err)
	}
	var info struct {
		Pid         int `json:"pid"`
		RuntimeSpec struct {
			Linux struct {
				Namespaces []struct {
					Type string `json:"type"`
					Path string `json:"path"`
				} `json:"namespaces"`
			} `json:"linux"`
		} `json:"runtimeSpec"`
	}
	if raw, ok := st.Info["info"]; ok {
		_ = json.Unmarshal([]byte(raw), &info)
	}
	for _, ns := range info.RuntimeSpec.Linux.Namespaces {
		if ns.Type == "network" && ns.Path != "" {
			return ns.Path, nil
		}
	}
	if info.Pid > 0 {
		return "/proc/" + strconv.Itoa(info.Pid) + "/ns/net", nil
	}
	return "", fmt.Errorf("agent/cri: sandbox %s: the runtime's status names no network namespace", best.Id)
}
