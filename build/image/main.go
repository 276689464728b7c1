// Command image builds the netdoctor agent image without Docker or a registry: it builds the
// static binary reproducibly (CGO_ENABLED=0, -trimpath, no build id, no VCS stamp) and writes a
// FROM-scratch image archive (OCI layout + docker manifest.json) that `ctr -n k8s.io images import`
// and `docker load` read. Same source and toolchain, same bytes.
//
//	go run ./build/image -o netdoctor-image.tar [-name docker.io/netdoctor/netdoctor:v0.1.0] [-arch amd64]
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/netdoctor/netdoctor/internal/image"
)

func main() {
	out := flag.String("o", "netdoctor-image.tar", "archive to write")
	name := flag.String("name", "docker.io/netdoctor/netdoctor:v0.1.0", "image reference")
	arch := flag.String("arch", "amd64", "GOARCH")
	version := flag.String("version", "v0.1.0", "version stamped into the binary")
	flag.Parse()
	if err := run(*out, *name, *arch, *version); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(2)
	}
}

func run(out, name, arch, version string) error {
	dir, err := os.MkdirTemp("", "netdoctor-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "netdoctor")
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false",
		"-ldflags", "-s -w -buildid= -X github.com/netdoctor/netdoctor/cmd/app.Version="+version, "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build: %w", err)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	res, err := image.Write(&buf, image.Options{Binary: b, Name: name, Arch: arch})
	if err != nil {
		return err
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Printf("%s %s (%d bytes)\n", name, res.Manifest, buf.Len())
	return nil
}
