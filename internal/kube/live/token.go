package live

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"k8s.io/client-go/rest"
)

// ErrNoBearerToken: the kubeconfig's credentials are not a bearer token (a client certificate,
// basic auth), so there is nothing to show the node agents.
var ErrNoBearerToken = errors.New("the kubeconfig's credentials carry no bearer token")

// captureRT records the Authorization header client-go adds, and answers without a network.
type captureRT struct{ auth string }

func (c *captureRT) RoundTrip(r *http.Request) (*http.Response, error) {
	c.auth = r.Header.Get("Authorization")
	return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(strings.NewReader("")), Request: r, Header: http.Header{}}, nil
}

// BearerToken returns the bearer token client-go would send with cfg: a static token, a token
// file, or one from an exec credential plugin or auth provider (run here if needed). It wraps
// ErrNoBearerToken when the credentials are of another kind.
func BearerToken(cfg *rest.Config) (string, error) {
	if cfg.BearerToken != "" {
		return cfg.BearerToken, nil
	}
	c := &captureRT{}
	rt, err := rest.HTTPWrappersForConfig(cfg, c)
	if err != nil {
		return "", fmt.Errorf("kube/live: credentials: %w", err)
	}
	req, _ := http.NewRequest(http.MethodGet, "https://netdoctor.invalid/", nil)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return "", fmt.Errorf("kube/live: credentials: %w", err)
	}
	resp.Body.Close()
	if t, ok := strings.CutPrefix(c.auth, "Bearer "); ok && t != "" {
		return t, nil
	}
	return "", fmt.Errorf("kube/live: %w", ErrNoBearerToken)
}
