//go:build linux

package lab

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// serverReadyTimeout bounds how long Up waits for one pod server to bind its sockets.
const serverReadyTimeout = 20 * time.Second

// serveArgs is the command line of a pod's server.
func (s *State) serveArgs(pod *PodPlan) []string {
	args := []string{"lab", "serve", "--lab", s.Name, "--pod", pod.Namespace + "/" + pod.Name}
	var tcp, udp []string
	for _, p := range pod.Listen {
		if pod.DNS && p.Port == 53 {
			continue
		}
		if p.Proto == "udp" {
			udp = append(udp, strconv.Itoa(p.Port))
		} else {
			tcp = append(tcp, strconv.Itoa(p.Port))
		}
	}
	if len(tcp) > 0 {
		args = append(args, "--http", strings.Join(tcp, ","))
	}
	if len(udp) > 0 {
		args = append(args, "--udp", strings.Join(udp, ","))
	}
	if pod.DNS && s.CoreDNS == "" {
		args = append(args, "--dns", "53", "--records", filepath.Join(s.Dir, "records.json"))
	}
	return args
}

// startServer starts the pod's server through `ip netns exec`, so the process sees the pod's
// resolv.conf at /etc/resolv.conf (and at /proc/PID/root/etc/resolv.conf), in a new session, with
// its output in the lab's log directory. It returns once the server reports its sockets bound.
func (s *State) startServer(pod *PodPlan) error {
	pid, err := s.startProcess(pod.Netns, pod.Name, s.serveArgs(pod))
	pod.PID = pid
	if err != nil || !pod.DNS || s.CoreDNS == "" || s.Plan.K8s {
		return err // a --k8s lab starts CoreDNS once the API server and the data plane are up
	}
	pod.DNSPID, err = s.startCoreDNS(pod)
	return err
}

// startProcess starts `Exe args… --ready-fd 3` in netns (through ip netns exec) and waits until it
// reports ready; label names its log file.
func (s *State) startProcess(netnsName, label string, serveArgs []string) (int, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return 0, fmt.Errorf("lab: pipe: %w", err)
	}
	defer r.Close()
	logf, err := os.OpenFile(filepath.Join(s.Dir, "logs", label+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		w.Close()
		return 0, fmt.Errorf("lab: log file: %w", err)
	}
	defer logf.Close()
	args := append([]string{"netns", "exec", netnsName, s.Exe}, serveArgs...)
	args = append(args, "--ready-fd", "3")
	cmd := exec.Command("ip", args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Dir = "/"
	err = cmd.Start()
	w.Close()
	if err != nil {
		return 0, fmt.Errorf("lab: start server of %s: %w", label, err)
	}
	pid := cmd.Process.Pid
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(r).ReadString('\n')
		if err == nil && strings.TrimSpace(line) == "ready" {
			ready <- nil
			return
		}
		ready <- fmt.Errorf("lab: server of %s exited before it was ready (see %s)", label, logf.Name())
	}()
	// Reap the child if it dies while we run; after we exit, init adopts it.
	go func() { _ = cmd.Wait() }()
	select {
	case err := <-ready:
		return pid, err
	case <-time.After(serverReadyTimeout):
		return pid, fmt.Errorf("lab: server of %s not ready after %s", label, serverReadyTimeout)
	}
}

// killInNamespaces kills, by PID, every process whose network namespace is one of inodes, plus the
// recorded pids when they still run the lab's server. It waits until they are gone (bounded).
func killInNamespaces(inodes map[uint64]bool, pids []int, lab string) {
	victims := map[int]bool{}
	for _, pid := range pids {
		if pid > 0 && isLabServer(pid, lab) {
			victims[pid] = true
		}
	}
	if len(inodes) > 0 {
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil || pid == os.Getpid() {
				continue
			}
			var st unix.Stat_t
			if unix.Stat("/proc/"+e.Name()+"/ns/net", &st) == nil && inodes[st.Ino] {
				victims[pid] = true
			}
		}
	}
	for pid := range victims {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(10 * time.Second)
	for pid := range victims {
		for time.Now().Before(deadline) {
			var ws syscall.WaitStatus
			_, _ = syscall.Wait4(pid, &ws, syscall.WNOHANG, nil) // reaps our own children
			if gone(pid) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// gone: no such process, or a zombie (dead; its parent reaps it).
func gone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && (b[i+2] == 'Z' || b[i+2] == 'X')
}

// isLabServer checks that pid still runs `netdoctor lab serve --lab LAB` (a PID may have been reused).
func isLabServer(pid int, lab string) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return false
	}
	return bytes.Contains(b, []byte("\x00lab\x00serve\x00--lab\x00"+lab+"\x00"))
}

var errNotRoot = errors.New("lab: needs root (it creates network namespaces): run as root")
