package dns

import (
	"reflect"
	"testing"
)

func TestCandidates(t *testing.T) {
	k8s := &Config{Search: []string{"default.svc.cluster.local", "svc.cluster.local", "cluster.local"}, Ndots: 5}
	tests := []struct {
		name string
		cfg  *Config
		in   string
		want []string
	}{
		{"short name, ndots 5", k8s, "web",
			[]string{"web.default.svc.cluster.local.", "web.svc.cluster.local.", "web.cluster.local.", "web."}},
		{"external name with fewer dots than ndots goes through the search list first", k8s, "example.com",
			[]string{"example.com.default.svc.cluster.local.", "example.com.svc.cluster.local.", "example.com.cluster.local.", "example.com."}},
		{"trailing dot is absolute", k8s, "example.com.", []string{"example.com."}},
		{"enough dots: as is first, then the search list", &Config{Search: []string{"a.example"}, Ndots: 1}, "www.example.com",
			[]string{"www.example.com.", "www.example.com.a.example."}},
		{"no search list", &Config{Search: []string{}, Ndots: 1}, "web", []string{"web."}},
		{"root on the search list replaces the final as-is try", &Config{Search: []string{"a.example", "."}, Ndots: 1}, "web",
			[]string{"web.a.example.", "web."}},
		{"no-tld-query: a dotless name is never tried as is", &Config{Search: []string{"a.example"}, Ndots: 1, NoTLDQuery: true}, "web",
			[]string{"web.a.example."}},
		{"search domains written with dots", &Config{Search: []string{".a.example."}, Ndots: 2}, "x.y",
			[]string{"x.y.a.example.", "x.y."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, c := range Candidates(tt.in, tt.cfg) {
				got = append(got, c.Name)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Candidates(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
