package image

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// staticBinary builds a small static Go program (CGO off) to package.
func staticBinary(t *testing.T) []byte {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte("package main\nfunc main() { println(\"hi\") }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "bin")
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, src)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=", "GO111MODULE=off")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func entries(t *testing.T, b []byte) map[string][]byte {
	t.Helper()
	m := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return m
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		if h.Uid != 0 || h.Gid != 0 || h.ModTime.Unix() != 0 {
			t.Errorf("%s: owner %d:%d, mtime %v: not reproducible", h.Name, h.Uid, h.Gid, h.ModTime)
		}
		m[h.Name] = data
	}
}

// TestReproducibleImage: the same binary gives the same bytes twice; every digest in the archive
// matches its blob; the layer holds exactly the binary at /netdoctor, executable; both the docker
// manifest.json and the OCI index point at the same config and layer.
func TestReproducibleImage(t *testing.T) {
	bin := staticBinary(t)
	var a, b bytes.Buffer
	ra, err := Write(&a, Options{Binary: bin, Name: "docker.io/netdoctor/netdoctor:v0.1.0"})
	if err != nil {
		t.Fatal(err)
	}
	rb, err := Write(&b, Options{Binary: bin, Name: "docker.io/netdoctor/netdoctor:v0.1.0"})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) || *ra != *rb {
		t.Fatalf("two builds differ: %s vs %s", ra.Manifest, rb.Manifest)
	}
	ents := entries(t, a.Bytes())
	for name, data := range ents {
		if len(name) > len("blobs/sha256/") && name[:13] == "blobs/sha256/" {
			if got := digest(data); got != "sha256:"+name[13:] {
				t.Errorf("%s holds %s", name, got)
			}
		}
	}
	var cfg struct {
		Config struct{ Entrypoint []string }
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if err := json.Unmarshal(ents["blobs/sha256/"+ra.Config[7:]], &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.RootFS.DiffIDs) != 1 || cfg.RootFS.DiffIDs[0] != ra.Layer || len(cfg.Config.Entrypoint) != 1 || cfg.Config.Entrypoint[0] != "/netdoctor" {
		t.Errorf("config: %+v", cfg)
	}
	var docker []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(ents["manifest.json"], &docker); err != nil || len(docker) != 1 {
		t.Fatalf("manifest.json: %v %s", err, ents["manifest.json"])
	}
	if _, ok := ents[docker[0].Config]; !ok || len(docker[0].Layers) != 1 {
		t.Errorf("manifest.json points at missing blobs: %+v", docker[0])
	}
	layer := entries(t, ents[docker[0].Layers[0]])
	if !bytes.Equal(layer["netdoctor"], bin) {
		t.Errorf("the layer does not hold the binary at /netdoctor (entries %d)", len(layer))
	}
	var index struct {
		Manifests []struct{ Digest string }
	}
	if err := json.Unmarshal(ents["index.json"], &index); err != nil || len(index.Manifests) != 1 || index.Manifests[0].Digest != ra.Manifest {
		t.Errorf("index.json: %v %s", err, ents["index.json"])
	}
	// A different binary gives a different image.
	var c bytes.Buffer
	rc, err := Write(&c, Options{Binary: append(append([]byte{}, bin...), 0), Name: "x:y"})
	if err != nil || rc.Manifest == ra.Manifest {
		t.Errorf("a changed binary: %v, %v", rc, err)
	}
}

func TestRefusesDynamicBinary(t *testing.T) {
	b, err := os.ReadFile("/bin/ls")
	if err != nil {
		t.Fatalf("a dynamic binary to refuse: %v", err)
	}
	if _, err := Write(io.Discard, Options{Binary: b, Name: "x:y"}); !errors.Is(err, ErrNotStatic) {
		t.Errorf("/bin/ls: %v, want ErrNotStatic", err)
	}
}

// TestAgentPath: the agent image holds its binary at /netdoctor-agent, the entrypoint, and keeps
// the default arguments; a path that is not a plain file name is refused.
func TestAgentPath(t *testing.T) {
	bin := staticBinary(t)
	var buf bytes.Buffer
	res, err := Write(&buf, Options{Binary: bin, Name: "x/agent:1", Path: AgentPath})
	if err != nil {
		t.Fatal(err)
	}
	files := entries(t, buf.Bytes())
	layer := entries(t, files["blobs/sha256/"+res.Layer[len("sha256:"):]])
	if !bytes.Equal(layer[AgentPath], bin) {
		t.Errorf("layer files %v: no %s holding the binary", keys(layer), AgentPath)
	}
	var cfg struct {
		Config struct{ Entrypoint, Cmd []string } `json:"config"`
	}
	if err := json.Unmarshal(files["blobs/sha256/"+res.Config[len("sha256:"):]], &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Config.Entrypoint) != 1 || cfg.Config.Entrypoint[0] != "/netdoctor-agent" || len(cfg.Config.Cmd) != 1 || cfg.Config.Cmd[0] != "agent" {
		t.Errorf("entrypoint %q cmd %q, want [/netdoctor-agent] [agent]", cfg.Config.Entrypoint, cfg.Config.Cmd)
	}
	for _, bad := range []string{"bin/agent", "..", "tmp"} {
		if _, err := Write(io.Discard, Options{Binary: bin, Name: "x/agent:1", Path: bad}); err == nil {
			t.Errorf("path %q accepted", bad)
		}
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
