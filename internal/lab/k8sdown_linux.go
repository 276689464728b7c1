//go:build linux

package lab

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/netdoctor/netdoctor/internal/lab/k8s"
)

// downK8s stops a --k8s lab's Kubernetes before its namespaces go: the relay in the host namespace
// (by PID, after checking it is this lab's), every component (kubelet and containerd first, so no
// container is restarted), then what containerd left: containers' processes, mounts, cgroups and
// the namespaces it made under the lab's directory.
func downK8s(s *State) []error {
	var errs []error
	if pid := s.K8s.RelayPID; pid > 0 {
		if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); err == nil &&
			bytes.Contains(b, []byte("\x00lab\x00relay\x00--lab\x00"+s.Name+"\x00")) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	// Newest first: kubelet and containerd were started last.
	for i := len(s.K8s.Procs) - 1; i >= 0; i-- {
		s.K8s.Procs[i].Kill(5 * time.Second)
	}
	for _, k := range s.K8s.Kubelets {
		if err := k8s.CleanupKubelet(k.Dir, k.CgroupRoot); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}
