package dns

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseResolvConf(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Config
	}{
		{
			name: "kubernetes pod",
			in: "search default.svc.cluster.local svc.cluster.local cluster.local\n" +
				"nameserver 10.96.0.10\noptions ndots:5\n",
			want: Config{Nameservers: []string{"10.96.0.10"},
				Search: []string{"default.svc.cluster.local", "svc.cluster.local", "cluster.local"},
				Ndots:  5, Timeout: 5 * time.Second, Attempts: 2, Options: []string{"ndots:5"}},
		},
		{
			name: "comments, domain then search: the last wins",
			in: "# generated\n; also a comment\ndomain example.org\nsearch a.example b.example # trailing\n" +
				"nameserver 192.0.2.1 ; x\nnameserver 2001:db8::1\n",
			want: Config{Nameservers: []string{"192.0.2.1", "2001:db8::1"}, Search: []string{"a.example", "b.example"},
				Ndots: 1, Timeout: 5 * time.Second, Attempts: 2},
		},
		{
			name: "search then domain: domain wins",
			in:   "search a.example b.example\ndomain c.example\nnameserver 192.0.2.1\n",
			want: Config{Nameservers: []string{"192.0.2.1"}, Search: []string{"c.example"}, Ndots: 1,
				Timeout: 5 * time.Second, Attempts: 2},
		},
		{
			name: "options capped like glibc, flags",
			in:   "nameserver 192.0.2.1\noptions ndots:99 timeout:0 attempts:9 use-vc rotate edns0 no-tld-query\noptions tcp\n",
			want: Config{Nameservers: []string{"192.0.2.1"}, Search: []string{}, Ndots: 15, Timeout: time.Second,
				Attempts: 5, UseVC: true, Rotate: true, EDNS0: true, NoTLDQuery: true,
				Options: []string{"ndots:99", "timeout:0", "attempts:9", "use-vc", "rotate", "edns0", "no-tld-query", "tcp"}},
		},
		{
			name: "empty file: 127.0.0.1",
			in:   "",
			want: Config{Nameservers: []string{"127.0.0.1"}, Search: []string{}, Ndots: 1, Timeout: 5 * time.Second,
				Attempts: 2, Warnings: []string{"no nameserver line: glibc uses 127.0.0.1"}},
		},
		{
			name: "four nameservers, a bad one, a bad option",
			in: "nameserver 192.0.2.1\nnameserver 192.0.2.2\nnameserver dns.example\nnameserver 192.0.2.3\n" +
				"nameserver 192.0.2.4\noptions ndots:x\n",
			want: Config{Nameservers: []string{"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"}, Search: []string{},
				Ndots: 1, Timeout: 5 * time.Second, Attempts: 2, Options: []string{"ndots:x"},
				Warnings: []string{`line 3: nameserver "dns.example" is not an IP address`,
					`line 6: option "ndots:x" needs a number`,
					"4 nameservers: glibc uses only the first 3, ignores 192.0.2.4"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseResolvConf(strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("ParseResolvConf(%q)\n got %+v\nwant %+v", tt.in, *got, tt.want)
			}
		})
	}
}

func TestServersUsesFirstThree(t *testing.T) {
	c, _ := ParseResolvConf(strings.NewReader("nameserver 192.0.2.1\nnameserver 192.0.2.2\nnameserver 192.0.2.3\nnameserver 192.0.2.4\n"))
	if got := c.Servers(); !reflect.DeepEqual(got, []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"}) {
		t.Errorf("Servers() = %v", got)
	}
}

func TestLoadResolvConfMissing(t *testing.T) {
	c, err := LoadResolvConf(t.TempDir() + "/resolv.conf")
	if err != nil {
		t.Fatal(err)
	}
	if c.Source != "(none)" || !reflect.DeepEqual(c.Nameservers, []string{"127.0.0.1"}) {
		t.Errorf("missing file: got %+v, want glibc defaults", c)
	}
}

func FuzzParseResolvConf(f *testing.F) {
	f.Add("nameserver 10.0.0.1\nsearch a b\noptions ndots:5 timeout:2 attempts:3\n")
	f.Add("options ndots:-1 timeout: attempts:99999999999999999999\n")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseResolvConf(strings.NewReader(s))
		if err != nil {
			return
		}
		if len(c.Nameservers) == 0 || c.Ndots < 0 || c.Ndots > maxNdots || c.Attempts < 1 || c.Attempts > maxAttempts ||
			c.Timeout < time.Second || c.Timeout > maxTimeout {
			t.Errorf("out of bounds config from %q: %+v", s, c)
		}
	})
}

func FuzzQuestion(f *testing.F) {
	for _, s := range []string{"web", "10.96.0.1", "2001:db8::1", "a..b", ".", "x\x00y", "_http._tcp.web"} {
		f.Add(s, "A")
		f.Add(s, "PTR")
	}
	f.Fuzz(func(t *testing.T, name, typ string) {
		_, n, _, err := question(Options{Name: name, Type: typ})
		if err == nil && (n == "" || len(n) > 255) {
			t.Errorf("question(%q, %q) accepted %q", name, typ, n)
		}
	})
}
