//go:build linux

package k8s

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// CleanupKubelet removes every trace of a node's containerd and kubelet, whether or not they ran:
// it kills (SIGKILL, by PID) every process in cgroupRoot in every cgroup hierarchy (the pods'
// containers and pause processes) and every containerd, shim or kubelet whose command line names
// dir; unmounts everything mounted under dir, deepest first (lazily when busy); removes the pod
// network namespaces containerd pinned under dir; removes cgroupRoot from every hierarchy, deepest
// first. Outside dir and cgroupRoot it removes only what the node's own containerd left in shared
// places: the socket files of its shims (/run/containerd/s/…, named in dir) and libcni's cached
// results for its sandboxes (/var/lib/cni/results/*-SANDBOX-*).
//
// The caller kills containerd and kubelet (by PID) first. Files under dir stay (logs); once
// CleanupKubelet returns, dir holds no mounts and can be removed.
func CleanupKubelet(dir, cgroupRoot string) error {
	if !filepath.IsAbs(dir) || filepath.Clean(dir) == "/" {
		return fmt.Errorf("k8s: cleanup: state directory %q is not an absolute path below /", dir)
	}
	if !validCgroup(cgroupRoot) {
		return fmt.Errorf("k8s: cleanup: cgroup root %q is not an absolute cgroup path below /", cgroupRoot)
	}
	dir = filepath.Clean(dir)
	l := layoutOf(dir)
	mounts, err := cgroupMounts()
	if err != nil {
		return err
	}
	var errs []error
	if err := killNode(dir, cgroupRoot, mounts); err != nil {
		errs = append(errs, err)
	}
	nsfs, err := unmountUnder(dir)
	if err != nil {
		errs = append(errs, err)
	}
	// Pinned pod namespaces: now plain files (their mounts are gone above).
	pinned, _ := filepath.Glob(filepath.Join(l.ContainerdState, "io.containerd.grpc.v1.cri", "netns", "*"))
	for _, p := range append(nsfs, pinned...) {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("k8s: cleanup: remove pod netns %s: %w", p, err))
		}
	}
	errs = append(errs, removeShimSockets(l)...)
	errs = append(errs, removeCNICache(l)...)
	for _, m := range mounts {
		if err := removeCgroupTree(filepath.Join(m.Path, cgroupRoot)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// killNode SIGKILLs the node's processes until none is left (at most 15 s): those in cgroupRoot of
// any hierarchy, and containerd, its shims and kubelet when their command line names dir.
func killNode(dir, cgroupRoot string, mounts []cgroupMount) error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		pids := map[int]bool{}
		for _, m := range mounts {
			for _, pid := range cgroupPIDs(filepath.Join(m.Path, cgroupRoot), m.Freezer) {
				pids[pid] = true
			}
		}
		for _, pid := range runtimePIDs(dir) {
			pids[pid] = true
		}
		delete(pids, os.Getpid())
		delete(pids, 1)
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			var left []string
			for pid := range pids {
				left = append(left, strconv.Itoa(pid)+" "+comm(pid))
			}
			sort.Strings(left)
			return fmt.Errorf("k8s: cleanup: processes survive SIGKILL for 15 s: %s", strings.Join(left, ", "))
		}
		for pid := range pids {
			_ = unix.Kill(pid, unix.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond) // killed processes leave their cgroup asynchronously
	}
}

// cgroupPIDs lists the processes in the cgroup tree at root (thawing frozen cgroups first, so a
// SIGKILL takes effect).
func cgroupPIDs(root string, freezer bool) []int {
	var pids []int
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if freezer {
			_ = os.WriteFile(filepath.Join(p, "freezer.state"), []byte("THAWED"), 0o644)
		}
		b, _ := os.ReadFile(filepath.Join(p, "cgroup.procs"))
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
				pids = append(pids, pid)
			}
		}
		return nil
	})
	return pids
}

// runtimePIDs lists live containerd, containerd-shim* and kubelet processes whose command line
// names dir (a shim names its containerd's socket, which lives in dir).
func runtimePIDs(dir string) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || len(b) == 0 {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		base := filepath.Base(args[0])
		if !strings.HasPrefix(base, "containerd") && base != "kubelet" {
			continue
		}
		for _, a := range args[1:] {
			if names(a, dir) {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// names reports whether a command-line argument names dir or a path under it (also as the value
// of --flag=PATH or unix://PATH).
func names(arg, dir string) bool {
	if i := strings.IndexByte(arg, '='); i >= 0 {
		arg = arg[i+1:]
	}
	arg = strings.TrimPrefix(arg, "unix://")
	return under(arg, dir)
}

// under reports whether p is dir or inside it.
func under(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }

func comm(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	return strings.TrimSpace(string(b))
}

// unmountUnder unmounts every mount at or below dir, deepest (and latest) first, lazily when a
// mount is busy, and returns the nsfs mount points it removed (pinned namespaces).
func unmountUnder(dir string) (nsfs []string, err error) {
	why := map[string]error{}
	for pass := 0; pass < 8; pass++ {
		all, err := readMountinfo("/proc/self/mountinfo")
		if err != nil {
			return nsfs, err
		}
		type item struct {
			m   mountEntry
			idx int
		}
		var ms []item
		for i, m := range all {
			if under(m.Point, dir) {
				ms = append(ms, item{m, i})
			}
		}
		if len(ms) == 0 {
			return nsfs, nil
		}
		sort.Slice(ms, func(i, j int) bool {
			di, dj := strings.Count(ms[i].m.Point, "/"), strings.Count(ms[j].m.Point, "/")
			if di != dj {
				return di > dj
			}
			return ms[i].idx > ms[j].idx
		})
		for _, it := range ms {
			if it.m.FSType == "nsfs" {
				nsfs = append(nsfs, it.m.Point)
			}
			if err := unix.Unmount(it.m.Point, unix.UMOUNT_NOFOLLOW); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
				if err := unix.Unmount(it.m.Point, unix.MNT_DETACH|unix.UMOUNT_NOFOLLOW); err != nil {
					why[it.m.Point] = err
				}
			}
		}
	}
	all, err := readMountinfo("/proc/self/mountinfo")
	if err != nil {
		return nsfs, err
	}
	var left []string
	for _, m := range all {
		if under(m.Point, dir) {
			if why[m.Point] != nil {
				left = append(left, fmt.Sprintf("%s (%s: %v)", m.Point, m.FSType, why[m.Point]))
			} else {
				left = append(left, fmt.Sprintf("%s (%s)", m.Point, m.FSType))
			}
		}
	}
	if len(left) > 0 {
		return nsfs, fmt.Errorf("k8s: cleanup: cannot unmount %s", strings.Join(left, ", "))
	}
	return nsfs, nil
}

// removeShimSockets removes the socket files of the node's shims, as named by the address files in
// containerd's task state (a killed shim cannot remove its own).
func removeShimSockets(l layout) []error {
	addrs, _ := filepath.Glob(filepath.Join(l.ContainerdState, "io.containerd.runtime.v2.task", "*", "*", "address"))
	var errs []error
	for _, a := range addrs {
		b, err := os.ReadFile(a)
		if err != nil {
			continue
		}
		p := strings.TrimPrefix(strings.TrimSpace(string(b)), "unix://")
		if filepath.Dir(p) != "/run/containerd/s" {
			continue // abstract or elsewhere: not a file of ours to remove
		}
		if st, err := os.Lstat(p); err != nil || st.Mode().Type() != fs.ModeSocket {
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("k8s: cleanup: remove shim socket %s: %w", p, err))
		}
	}
	return errs
}

// removeCNICache removes libcni's cached ADD results of the node's sandboxes, NETWORK-SANDBOX-IF for
// the pod network and containerd's cni-loopback (written to /var/lib/cni/results, a path
// containerd 1.6 does not let us move; a killed runtime never runs the DEL that would remove them).
func removeCNICache(l layout) []error {
	var ids []string
	for _, base := range []string{l.ContainerdState, l.ContainerdRoot} {
		ents, _ := os.ReadDir(filepath.Join(base, "io.containerd.grpc.v1.cri", "sandboxes"))
		for _, e := range ents {
			ids = append(ids, e.Name())
		}
	}
	var errs []error
	for _, id := range ids {
		if len(id) < 12 || strings.ContainsAny(id, "/*?[") {
			continue
		}
		files, _ := filepath.Glob(filepath.Join("/var/lib/cni/results", "*-"+id+"-*"))
		for _, f := range files {
			if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("k8s: cleanup: remove CNI cache %s: %w", f, err))
			}
		}
	}
	return errs
}

// removeCgroupTree removes a cgroup directory and its children, deepest first, waiting up to 5 s for
// killed processes to leave.
func removeCgroupTree(root string) error {
	var dirs []string
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	deadline := time.Now().Add(5 * time.Second)
	for i := len(dirs) - 1; i >= 0; i-- {
		for {
			err := unix.Rmdir(dirs[i])
			if err == nil || errors.Is(err, unix.ENOENT) {
				break
			}
			if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
				return fmt.Errorf("k8s: cleanup: remove cgroup %s: %w", dirs[i], err)
			}
			time.Sleep(20 * time.Millisecond) // a killed process leaves its cgroup asynchronously
		}
	}
	return nil
}

// mountEntry is one line of /proc/PID/mountinfo.
type mountEntry struct {
	ID, Parent int
	Root       string // the mount's root inside its filesystem
	Point      string // mount point (unescaped)
	FSType     string
	SuperOpts  []string // per-superblock options (for cgroup v1: the controllers)
	Shared     bool     // in a peer group (propagates mount events)
}

// readMountinfo parses a mountinfo file (proc(5)).
func readMountinfo(path string) ([]mountEntry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("k8s: read mounts: %w", err)
	}
	defer f.Close()
	var out []mountEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		sep := -1
		for i := 6; i < len(fields); i++ {
			if fields[i] == "-" {
				sep = i
				break
			}
		}
		if len(fields) < 7 || sep < 0 || sep+1 >= len(fields) {
			continue
		}
		m := mountEntry{Root: unescapeMount(fields[3]), Point: unescapeMount(fields[4]), FSType: fields[sep+1]}
		if sep+3 < len(fields) {
			m.SuperOpts = strings.Split(fields[sep+3], ",")
		}
		m.ID, _ = strconv.Atoi(fields[0])
		m.Parent, _ = strconv.Atoi(fields[1])
		for _, opt := range fields[6:sep] {
			if strings.HasPrefix(opt, "shared:") {
				m.Shared = true
			}
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("k8s: read mounts: %w", err)
	}
	return out, nil
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space, \011, \012, \134).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// cgroupMount is the mount point of one cgroup hierarchy (v1, or the v2 unified one).
type cgroupMount struct {
	Path    string
	Cpuset  bool // cpuset.cpus/mems must be filled before a cgroup takes tasks
	Freezer bool
}

// cgroupMounts lists the cgroup hierarchies mounted at their root in this mount namespace.
func cgroupMounts() ([]cgroupMount, error) {
	ms, err := readMountinfo("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []cgroupMount
	for _, m := range ms {
		if (m.FSType != "cgroup" && m.FSType != "cgroup2") || m.Root != "/" || seen[m.Point] {
			continue
		}
		seen[m.Point] = true
		cm := cgroupMount{Path: m.Point}
		if m.FSType == "cgroup" {
			cm.Cpuset, cm.Freezer = slices.Contains(m.SuperOpts, "cpuset"), slices.Contains(m.SuperOpts, "freezer")
		}
		out = append(out, cm)
	}
	return out, nil
}
