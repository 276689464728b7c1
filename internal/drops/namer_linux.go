//go:build linux

package drops

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Namer names network namespaces by inode: the names given by the caller first, then named
// namespaces (/run/netns/NAME), the root namespace ("host"), then a process inside it
// ("pid 1234 (nginx)"). Safe for concurrent use; rescans at most once a second on a miss.
type Namer struct {
	mu      sync.Mutex
	given   map[uint64]string
	known   map[uint64]string
	scanned time.Time
}

// NewNamer returns a Namer that prefers the names in given.
func NewNamer(given map[uint64]string) *Namer {
	n := &Namer{given: given, known: map[uint64]string{}}
	n.scan()
	return n
}

// Name returns the namespace's name, or "netns:[INODE]" when nothing names it; "" for inode 0.
func (n *Namer) Name(inode uint64) string {
	if inode == 0 {
		return ""
	}
	if s, ok := n.given[inode]; ok {
		return s
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if s, ok := n.known[inode]; ok {
		return s
	}
	if time.Since(n.scanned) > time.Second {
		n.scan()
		if s, ok := n.known[inode]; ok {
			return s
		}
	}
	return "netns:[" + strconv.FormatUint(inode, 10) + "]"
}

// scan fills known; called with mu held (or before n is shared).
func (n *Namer) scan() {
	n.scanned = time.Now()
	known := map[uint64]string{}
	procs, _ := filepath.Glob("/proc/[0-9]*/ns/net")
	for _, p := range procs {
		ino := Inode(p)
		if ino == 0 || known[ino] != "" {
			continue
		}
		pid := strings.Split(p, "/")[2]
		comm, _ := os.ReadFile("/proc/" + pid + "/comm")
		known[ino] = "pid " + pid + " (" + strings.TrimSpace(string(comm)) + ")"
	}
	if ino := Inode("/proc/1/ns/net"); ino != 0 {
		known[ino] = "host"
	}
	named, _ := filepath.Glob("/run/netns/*")
	for _, p := range named {
		if ino := Inode(p); ino != 0 {
			known[ino] = filepath.Base(p)
		}
	}
	n.known = known
}

// Inode returns the inode number of a namespace file (/run/netns/X, /proc/PID/ns/net), 0 when it
// cannot be read.
func Inode(path string) uint64 {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0
	}
	return st.Ino
}
