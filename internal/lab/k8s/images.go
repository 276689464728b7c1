package k8s

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/netdoctor/netdoctor/internal/image"
)

// Images the lab's kubelets run, written from the netdoctor binary itself (no registry, no pulls:
// pods use imagePullPolicy Never).
const (
	// AgentImage is the node agent's image, the reference deploy/agent uses.
	AgentImage = "docker.io/netdoctor/netdoctor:v0.1.0"
	// PauseImage is the sandbox image (containerd's sandbox_image): `netdoctor lab pause`, which
	// holds a pod's namespaces until SIGTERM.
	PauseImage = "registry.k8s.io/pause:3.10"
)

// PauseCmd is the pause image's command (after the /netdoctor entrypoint).
var PauseCmd = []string{"lab", "pause"}

// WriteImages writes into dir the agent image (AgentImage, command `agent`) and the pause image
// (PauseImage, command `lab pause`), both FROM scratch holding exe, which must be a static
// (CGO_ENABLED=0) netdoctor binary. It returns the archives' paths and the image references.
func WriteImages(dir, exe string) (agentTar, pauseTar, agentRef, pauseRef string, err error) {
	bin, err := os.ReadFile(exe)
	if err != nil {
		return "", "", "", "", fmt.Errorf("k8s: images: read the netdoctor binary: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", "", "", fmt.Errorf("k8s: images: %w", err)
	}
	agentTar = filepath.Join(dir, "netdoctor-agent-image.tar")
	pauseTar = filepath.Join(dir, "pause-image.tar")
	if err := writeImage(agentTar, image.Options{Binary: bin, Name: AgentImage, Cmd: []string{"agent"}}); err != nil {
		return "", "", "", "", err
	}
	if err := writeImage(pauseTar, image.Options{Binary: bin, Name: PauseImage, Cmd: PauseCmd}); err != nil {
		return "", "", "", "", err
	}
	return agentTar, pauseTar, AgentImage, PauseImage, nil
}

// writeImage writes one archive atomically (a reader never sees half an archive).
func writeImage(path string, o image.Options) error {
	var buf bytes.Buffer
	if _, err := image.Write(&buf, o); err != nil {
		return fmt.Errorf("k8s: image %s: %w", o.Name, err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("k8s: image %s: %w", o.Name, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("k8s: image %s: %w", o.Name, err)
	}
	return nil
}
