package kube

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"sigs.k8s.io/yaml"
)

// ErrNotADump: the file holds neither a List nor Kubernetes objects.
var ErrNotADump = errors.New("not a Kubernetes dump")

// MaxDumpSize bounds how much of a dump file is read.
const MaxDumpSize = 512 << 20

// LoadDump reads a cluster dump: a `v1 List` (kubectl get -A -o yaml|json), a multi-document YAML
// file, or a single object, and keeps the kinds a diagnosis uses. Unknown kinds are ignored; null
// fields and events without message are fine.
func LoadDump(path string) (*Cluster, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("kube: read dump: %w", err)
	}
	defer f.Close()
	c, err := ReadDump(io.LimitReader(f, MaxDumpSize))
	if err != nil {
		return nil, fmt.Errorf("kube: dump %s: %w", path, err)
	}
	c.Source = path
	return c, nil
}

// ReadDump parses a dump from r (see LoadDump).
func ReadDump(r io.Reader) (*Cluster, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	c := &Cluster{}
	n := 0
	for _, doc := range splitYAML(data) {
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		js, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNotADump, err)
		}
		k, err := c.add(js)
		if err != nil {
			return nil, err
		}
		n += k
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: no Kubernetes objects found", ErrNotADump)
	}
	return c, nil
}

type typeMeta struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Items      []json.RawMessage `json:"items"`
}

// add decodes one object (or a list of them) and returns how many objects it held.
func (c *Cluster) add(js []byte) (int, error) {
	if bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
		return 0, nil
	}
	var tm typeMeta
	if err := json.Unmarshal(js, &tm); err != nil {
		return 0, fmt.Errorf("%w: %v", ErrNotADump, err)
	}
	if tm.Kind == "" {
		return 0, fmt.Errorf("%w: an object without kind", ErrNotADump)
	}
	if strings.HasSuffix(tm.Kind, "List") {
		n := 0
		for _, it := range tm.Items {
			k, err := c.add(it)
			if err != nil {
				return n, err
			}
			n += k
		}
		if n == 0 && tm.Items != nil {
			return 0, nil
		}
		return max(n, 1), nil
	}
	var err error
	switch tm.Kind {
	case "Node":
		err = appendJSON(js, &c.Nodes)
	case "Pod":
		err = appendJSON(js, &c.Pods)
	case "Service":
		err = appendJSON(js, &c.Services)
	case "EndpointSlice":
		err = appendJSON(js, &c.EndpointSlices)
	case "DaemonSet":
		err = appendJSON(js, &c.DaemonSets)
	case "Event":
		err = appendJSON(js, &c.Events)
	case "PriorityClass":
		err = appendJSON(js, &c.PriorityClasses)
	case "NetworkPolicy":
		err = appendJSON(js, &c.NetworkPolicies)
	case "Namespace":
		err = appendJSON(js, &c.Namespaces)
	}
	if err != nil {
		return 0, fmt.Errorf("decode %s: %w", tm.Kind, err)
	}
	return 1, nil
}

func appendJSON[T any](js []byte, list *[]T) error {
	var v T
	if err := json.Unmarshal(js, &v); err != nil {
		return err
	}
	*list = append(*list, v)
	return nil
}

// splitYAML splits a multi-document YAML stream at "---" lines. JSON input is one document.
func splitYAML(data []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), MaxDumpSize)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimRight(line, " \t") == "---" {
			docs = append(docs, append([]byte(nil), cur.Bytes()...))
			cur.Reset()
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
	}
	docs = append(docs, cur.Bytes())
	return docs
}
