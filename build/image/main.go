// Command image builds the netdoctor agent image without Docker or a registry: it builds the
// agent-only static binary (cmd/netdoctor-agent, the same arguments as `netdoctor agent`)
// reproducibly (CGO_ENABLED=0, -trimpath, no build id, no VCS stamp, -tags grpcnotrace) and
// writes a FROM-scratch image archive (OCI layout + docker manifest.json) that
// `ctr -n k8s.io images import` and `docker load` read, with /netdoctor-agent as its entrypoint
// (deploy/agent and the Helm chart pass args ["agent", …]). Same source and toolchain, same bytes.
//
//	go run ./build/image -o netdoctor-image.tar [-name docker.io/netdoctor/netdoctor:v0.1.0] [-arch amd64]
//	go run ./build/image -full …   # the full netdoctor binary at /netdoctor instead
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/netdoctor/netdoctor/internal/image"
)

func main() {
	out := flag.String("o", "netdoctor-image.tar", "archive to write")
	name := flag.String("name", "docker.io/netdoctor/netdoctor:v0.1.0", "image reference")
	arch := flag.String("arch", "amd64", "GOARCH")
	version := flag.String("version", "v0.1.0", "version stamped into the binary")
	full := flag.Bool("full", false, "package the full netdoctor binary (/netdoctor) instead of the agent-only one")
	flag.Parse()
	if err := run(*out, *name, *arch, *version, *full); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(2)
	}
}

func run(out, name, arch, version string, full bool) error {
	dir, err := os.MkdirTemp("", "netdoctor-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	b := image.AgentBuild(wd, filepath.Join(dir, image.AgentPath), arch, version)
	path := image.AgentPath
	if full {
		b = image.Build{ModuleDir: wd, Package: ".", Output: filepath.Join(dir, "netdoctor"), Arch: arch, Version: version}
		path = "netdoctor"
	}
	if err := b.Run(context.Background()); err != nil {
		return err
	}
	bin, err := os.ReadFile(b.Output)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	res, err := image.Write(&buf, image.Options{Binary: bin, Name: name, Arch: arch, Path: path})
	if err != nil {
		return err
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Printf("%s %s (%d bytes, /%s)\n", name, res.Manifest, buf.Len(), path)
	return nil
}
