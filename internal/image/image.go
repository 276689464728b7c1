// Package image writes the netdoctor agent's container image without Docker or a registry: one
// layer holding a static binary (FROM scratch) — the agent-only netdoctor-agent for the
// DaemonSet (BuildAgent), or any other static binary, such as the full netdoctor — as an archive that both `docker load` and
// `ctr images import` read (an OCI image layout with a docker manifest.json). The output is a
// pure function of the binary and the options: same bytes every time (fixed timestamps, owners and
// order), so the image digest can be checked and reproduced.
package image

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Options describe the image.
type Options struct {
	// Binary is the static binary (its bytes): netdoctor-agent, netdoctor, or another program.
	Binary []byte
	// Path is the binary's file name at the image's root and its entrypoint (default "netdoctor":
	// /netdoctor). The agent image uses AgentPath.
	Path string
	// Name is the reference recorded in the archive, e.g. "docker.io/netdoctor/netdoctor:v0.1.0".
	Name string
	// Arch is the GOARCH the binary was built for (default amd64).
	Arch string
	// Cmd is the default arguments (default ["agent"]).
	Cmd []string
	// Created is recorded in the config (default: the Unix epoch, for reproducibility).
	Created time.Time
}

// ErrNotStatic: the binary asks for a dynamic loader, so it cannot run FROM scratch.
var ErrNotStatic = errors.New("image: the binary is dynamically linked (build with CGO_ENABLED=0)")

// Result names what was written.
type Result struct {
	// Manifest is the digest of the OCI manifest ("sha256:…"): the image's identity.
	Manifest string
	Config   string
	Layer    string
}

// checkStatic refuses ELF binaries with an interpreter (dynamic linking).
func checkStatic(b []byte) error {
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("image: not an ELF binary: %w", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return ErrNotStatic
		}
	}
	return nil
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// tarFile is one entry of a deterministic tar.
type tarFile struct {
	name string
	mode int64
	data []byte
	dir  bool
}

func writeTar(files []tarFile, created time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: created, Format: tar.FormatPAX,
			Uid: 0, Gid: 0, Typeflag: tar.TypeReg}
		if f.dir {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		// PAX records would carry atime/ctime; keep the header minimal and stable.
		h.PAXRecords = nil
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if !f.dir {
			if _, err := tw.Write(f.data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Write writes the image archive of o to w.
func Write(w io.Writer, o Options) (*Result, error) {
	if err := checkStatic(o.Binary); err != nil {
		return nil, err
	}
	if o.Arch == "" {
		o.Arch = "amd64"
	}
	if o.Cmd == nil {
		o.Cmd = []string{"agent"}
	}
	if o.Path == "" {
		o.Path = "netdoctor"
	}
	if strings.ContainsAny(o.Path, "/\x00") || o.Path == "." || o.Path == ".." || o.Path == "tmp" {
		return nil, fmt.Errorf("image: path %q: want a plain file name at the image's root", o.Path)
	}
	if o.Created.IsZero() {
		o.Created = time.Unix(0, 0).UTC()
	}
	if o.Name == "" {
		return nil, errors.New("image: no name")
	}
	layer, err := writeTar([]tarFile{
		{name: o.Path, mode: 0o755, data: o.Binary},
		{name: "tmp/", mode: 0o1777, dir: true},
	}, o.Created)
	if err != nil {
		return nil, fmt.Errorf("image: layer: %w", err)
	}
	ld := digest(layer)
	type imgConfig struct {
		Entrypoint []string `json:"Entrypoint"`
		Cmd        []string `json:"Cmd"`
		Env        []string `json:"Env"`
		User       string   `json:"User"`
	}
	type rootfs struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	}
	type history struct {
		Created   string `json:"created"`
		CreatedBy string `json:"created_by"`
	}
	cfg, err := json.Marshal(struct {
		Created      string    `json:"created"`
		Architecture string    `json:"architecture"`
		OS           string    `json:"os"`
		Config       imgConfig `json:"config"`
		RootFS       rootfs    `json:"rootfs"`
		History      []history `json:"history"`
	}{o.Created.Format(time.RFC3339), o.Arch, "linux",
		imgConfig{Entrypoint: []string{"/" + o.Path}, Cmd: o.Cmd, Env: []string{"PATH=/"}, User: "0"},
		rootfs{"layers", []string{ld}},
		[]history{{o.Created.Format(time.RFC3339), "netdoctor image: FROM scratch, COPY " + o.Path + " /" + o.Path}}})
	if err != nil {
		return nil, err
	}
	cd := digest(cfg)
	type desc struct {
		MediaType   string            `json:"mediaType"`
		Digest      string            `json:"digest"`
		Size        int               `json:"size"`
		Annotations map[string]string `json:"annotations,omitempty"`
	}
	man, err := json.Marshal(struct {
		SchemaVersion int    `json:"schemaVersion"`
		MediaType     string `json:"mediaType"`
		Config        desc   `json:"config"`
		Layers        []desc `json:"layers"`
	}{2, "application/vnd.oci.image.manifest.v1+json",
		desc{MediaType: "application/vnd.oci.image.config.v1+json", Digest: cd, Size: len(cfg)},
		[]desc{{MediaType: "application/vnd.oci.image.layer.v1.tar", Digest: ld, Size: len(layer)}}})
	if err != nil {
		return nil, err
	}
	md := digest(man)
	index, err := json.Marshal(struct {
		SchemaVersion int    `json:"schemaVersion"`
		MediaType     string `json:"mediaType"`
		Manifests     []desc `json:"manifests"`
	}{2, "application/vnd.oci.image.index.v1+json", []desc{{MediaType: "application/vnd.oci.image.manifest.v1+json", Digest: md, Size: len(man),
		Annotations: map[string]string{"io.containerd.image.name": o.Name, "org.opencontainers.image.ref.name": refTag(o.Name)}}}})
	if err != nil {
		return nil, err
	}
	blob := func(d string) string { return "blobs/sha256/" + d[len("sha256:"):] }
	docker, err := json.Marshal([]struct {
		Config   string   `json:"Config"`
		RepoTags []string `json:"RepoTags"`
		Layers   []string `json:"Layers"`
	}{{blob(cd), []string{o.Name}, []string{blob(ld)}}})
	if err != nil {
		return nil, err
	}
	out, err := writeTar([]tarFile{
		{name: "blobs/", mode: 0o755, dir: true},
		{name: "blobs/sha256/", mode: 0o755, dir: true},
		{name: blob(cd), mode: 0o644, data: cfg},
		{name: blob(ld), mode: 0o644, data: layer},
		{name: blob(md), mode: 0o644, data: man},
		{name: "index.json", mode: 0o644, data: index},
		{name: "manifest.json", mode: 0o644, data: docker},
		{name: "oci-layout", mode: 0o644, data: []byte(`{"imageLayoutVersion":"1.0.0"}`)},
	}, o.Created)
	if err != nil {
		return nil, fmt.Errorf("image: archive: %w", err)
	}
	if _, err := w.Write(out); err != nil {
		return nil, fmt.Errorf("image: write: %w", err)
	}
	return &Result{Manifest: md, Config: cd, Layer: ld}, nil
}

// refTag is the tag of a reference ("v0.1.0" of "x/y:v0.1.0"), "latest" without one.
func refTag(name string) string {
	for i := len(name) - 1; i >= 0 && name[i] != '/'; i-- {
		if name[i] == ':' {
			return name[i+1:]
		}
	}
	return "latest"
}
