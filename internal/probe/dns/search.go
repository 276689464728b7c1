package dns

import "strings"

// Candidate is one fully qualified name the resolver tries, in order.
type Candidate struct {
	Name string // FQDN with a trailing dot
	// AsIs is true for the name as given (no search domain appended).
	AsIs bool
	// FromSearch is true for names that come from the search list (including the root domain on it):
	// a timeout there ends the search list.
	FromSearch bool
}

// Candidates lists the names glibc's res_nsearch tries for name, in its order, given the search list
// and ndots of c:
//   - a trailing dot makes the name absolute: only the name itself;
//   - a name with at least ndots dots is tried as is first, then with each search domain;
//   - otherwise each search domain first, then the name as is (unless no-tld-query and it has no dot,
//     or the root domain is on the search list).
//
// How a failure moves along the list (NXDOMAIN and NODATA continue, SERVFAIL continues, a timeout
// stops the search list and goes to the as-is name) is Resolve's business.
func Candidates(name string, c *Config) []Candidate {
	if strings.HasSuffix(name, ".") {
		return []Candidate{{Name: name, AsIs: true}}
	}
	dots := strings.Count(name, ".")
	var out []Candidate
	triedAsIs := false
	if dots >= c.Ndots {
		out = append(out, Candidate{Name: name + ".", AsIs: true})
		triedAsIs = true
	}
	rootOnList := false
	for _, d := range c.Search {
		d = strings.TrimPrefix(d, ".")
		d = strings.TrimSuffix(d, ".")
		if d == "" {
			rootOnList = true
			out = append(out, Candidate{Name: name + ".", AsIs: true, FromSearch: true})
			continue
		}
		out = append(out, Candidate{Name: name + "." + d + ".", FromSearch: true})
	}
	if (dots > 0 || len(c.Search) == 0 || !c.NoTLDQuery) && !triedAsIs && !rootOnList {
		out = append(out, Candidate{Name: name + ".", AsIs: true})
	}
	return out
}
