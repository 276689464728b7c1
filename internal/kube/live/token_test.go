package live

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/client-go/rest"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// TestBearerToken: a static token, a token file, and an exec credential plugin (a real process
// printing an ExecCredential) all yield the token; a client certificate does not.
func TestBearerToken(t *testing.T) {
	dir := t.TempDir()
	tf := filepath.Join(dir, "token")
	if err := os.WriteFile(tf, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	plugin := filepath.Join(dir, "cred.sh")
	if err := os.WriteFile(plugin, []byte("#!/bin/sh\necho '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"from-exec\"}}'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  rest.Config
		want string
	}{
		{"static", rest.Config{Host: "https://x", BearerToken: "static"}, "static"},
		{"file", rest.Config{Host: "https://x", BearerTokenFile: tf}, "from-file"},
		{"exec", rest.Config{Host: "https://x", ExecProvider: &clientcmdapi.ExecConfig{Command: plugin, APIVersion: "client.authentication.k8s.io/v1", InteractiveMode: "Never"}}, "from-exec"},
	} {
		got, err := BearerToken(&tc.cfg)
		if err != nil || got != tc.want {
			t.Errorf("%s: %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
	if _, err := BearerToken(&rest.Config{Host: "https://x", Username: "u", Password: "p"}); !errors.Is(err, ErrNoBearerToken) {
		t.Errorf("basic auth: %v, want ErrNoBearerToken", err)
	}
}
