//go:build linux

package k8s

import (
	"context"
	"os/exec"
	"time"

	"github.com/netdoctor/netdoctor/internal/netns"
)

// runIn runs a read-only command in ns (bounded to 10 s) and returns its output.
func runIn(ctx context.Context, ns *netns.NS, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var out []byte
	err := ns.Do(func() error {
		var err error
		out, err = cmd.CombinedOutput()
		return err
	})
	return string(out), err
}
