package registry

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestEveryCheckDocumented: docs/checks.md has a section for every registered check with what it
// detects, its evidence, its fix and an example; names are unique kebab-case.
func TestEveryCheckDocumented(t *testing.T) {
	b, err := os.ReadFile("../../../docs/checks.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	kebab := regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	seen := map[string]bool{}
	for _, c := range All() {
		name := c.Name()
		if !kebab.MatchString(name) {
			t.Errorf("check name %q is not kebab-case", name)
		}
		if seen[name] {
			t.Errorf("check name %q registered twice", name)
		}
		seen[name] = true
		i := strings.Index(doc, "\n## "+name+"\n")
		if i < 0 {
			t.Errorf("docs/checks.md has no section \"## %s\"", name)
			continue
		}
		sec := doc[i+1:]
		if j := strings.Index(sec[3:], "\n## "); j >= 0 {
			sec = sec[:j+3]
		}
		for _, part := range []string{"**Detects**", "**Evidence**", "**Fix**", "**Example**"} {
			if !strings.Contains(sec, part) {
				t.Errorf("docs/checks.md section %s lacks %s", name, part)
			}
		}
	}
}
