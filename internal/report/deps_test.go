package report

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImportsOnlyDiag enforces the dependency rule: report imports internal/diag and the standard
// library, nothing else.
func TestImportsOnlyDiag(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			first, _, _ := strings.Cut(p, "/")
			if p != "github.com/netdoctor/netdoctor/internal/diag" && strings.Contains(first, ".") {
				t.Errorf("%s imports %s: report may import only internal/diag and the standard library", f, p)
			}
		}
	}
}
