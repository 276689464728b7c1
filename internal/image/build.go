package image

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// The agent image's binary: the agent-only command, at /netdoctor-agent.
const (
	// AgentPackage is the Go package of the agent-only binary (relative to the module root).
	AgentPackage = "./cmd/netdoctor-agent"
	// AgentPath is its file name in the image and its entrypoint (/netdoctor-agent).
	AgentPath = "netdoctor-agent"
)

// AgentTags are the build tags of the agent binary. grpcnotrace drops gRPC's golang.org/x/net/trace
// (the CRI client needs gRPC), whose html/template makes the linker keep every exported method of
// every type: 6 MiB of text and about 3 MiB of idle RSS on every node.
var AgentTags = []string{"grpcnotrace"}

// Build is a reproducible static build: CGO_ENABLED=0, -trimpath, no VCS stamp, no build id,
// stripped, for linux/Arch. Same source and toolchain, same bytes.
type Build struct {
	// ModuleDir is the netdoctor module's root (where go.mod is).
	ModuleDir string
	// Package is what to build, e.g. AgentPackage or "." (the full netdoctor).
	Package string
	// Output is the binary's path.
	Output string
	// Arch is the GOARCH (default amd64).
	Arch string
	// Version is stamped into cmd/app.Version (the full binary; ignored by the agent-only one).
	Version string
	// Tags are build tags (AgentTags for the agent).
	Tags []string
}

// Run builds the binary with the go command in PATH; the error carries the compiler's output.
func (b Build) Run(ctx context.Context) error {
	if b.Arch == "" {
		b.Arch = "amd64"
	}
	ld := "-s -w -buildid="
	if b.Version != "" {
		ld += " -X github.com/netdoctor/netdoctor/cmd/app.Version=" + b.Version
	}
	args := []string{"build", "-trimpath", "-buildvcs=false", "-ldflags", ld}
	if len(b.Tags) > 0 {
		args = append(args, "-tags", strings.Join(b.Tags, ","))
	}
	args = append(args, "-o", b.Output, b.Package)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = b.ModuleDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+b.Arch)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("image: go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// AgentBuild is the build of the agent image's binary into output.
func AgentBuild(moduleDir, output, arch, version string) Build {
	return Build{ModuleDir: moduleDir, Package: AgentPackage, Output: output, Arch: arch, Version: version, Tags: AgentTags}
}
