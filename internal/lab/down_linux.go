//go:build linux

package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Down removes the lab name: it kills every process running in the lab's namespaces (by PID),
// deletes the namespaces, the /etc/netns files and the state directory. A lab that does not exist
// is not an error: Down is idempotent. When state.json is missing or unreadable, it finds the lab's
// namespaces by their names (NAME-underlay, NAME-router, NAME-vm, NAME-nodeN, NAME-pod-…, NAME-extra…).
func Down(ctx context.Context, name string) error {
	if name == "" {
		name = DefaultName
	}
	if err := ValidName(name); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return errNotRoot
	}
	var names, etc []string
	var pids []int
	var errs []error
	if s, err := Current(name); err == nil && s.K8s != nil {
		errs = append(errs, downK8s(s)...)
	}
	if s, err := Current(name); err == nil {
		names, etc = s.Namespaces, s.EtcNetns
		if s.Plan != nil {
			for _, pod := range s.Plan.Pods {
				pids = append(pids, pod.PID)
			}
			pids = append(pids, s.Plan.VMPID)
		}
	}
	names = append(names, scanNamespaces(name)...)
	names = dedupe(names)
	inodes := map[uint64]bool{}
	for _, n := range names {
		var st unix.Stat_t
		if unix.Stat(NetnsPath(n), &st) == nil {
			inodes[st.Ino] = true
		}
		etc = append(etc, filepath.Join(EtcNetns, n))
	}
	killInNamespaces(inodes, pids, name)
	var existing []string
	for _, n := range names {
		if _, err := os.Lstat(NetnsPath(n)); err == nil {
			existing = append(existing, n)
		}
	}
	if err := ipBatch(ctx, "netns del", existing); err != nil {
		errs = append(errs, err)
	}
	for _, d := range dedupe(etc) {
		if strings.HasPrefix(d, EtcNetns+"/"+name+"-") {
			if err := os.RemoveAll(d); err != nil {
				errs = append(errs, fmt.Errorf("lab: %w", err))
			}
		}
	}
	if err := os.RemoveAll(Dir(name)); err != nil {
		errs = append(errs, fmt.Errorf("lab: remove state: %w", err))
	}
	return errors.Join(errs...)
}

// scanNamespaces finds namespaces named like the lab's under /run/netns.
func scanNamespaces(name string) []string {
	ents, _ := os.ReadDir("/run/netns")
	var out []string
	for _, e := range ents {
		if isLabNamespace(name, e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
