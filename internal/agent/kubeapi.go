package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"k8s.io/client-go/rest"
)

// apiClient makes the few raw calls this package needs of the API server (TokenReview,
// SubjectAccessReview, the pod proxy) over client-go's transport (rest.HTTPClientFor: the
// kubeconfig's TLS settings and credentials, exec plugins included) but without client-go's typed
// clients, whose scheme registers every API group: that keeps the agent binary small (see
// docs/benchmarks.md).
type apiClient struct {
	base *url.URL // the server URL with its path prefix, no trailing slash
	http *http.Client
}

func newAPIClient(cfg *rest.Config) (*apiClient, error) {
	u, _, err := rest.DefaultServerUrlFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("agent: API server address %q: %w", cfg.Host, err)
	}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("agent: API server client: %w", err)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	return &apiClient{base: u, http: hc}, nil
}

// url returns the address of an API path ("/apis/…", "/api/v1/…") on the server.
func (a *apiClient) url(path string) string {
	u := *a.base
	u.Path += path
	return u.String()
}

// apiStatus is the metav1.Status the API server answers an error with.
type apiStatus struct {
	Kind       string `json:"kind"`
	APIVersion string `json:"apiVersion"`
	Message    string `json:"message"`
	Reason     string `json:"reason"`
	Code       int    `json:"code"`
}

// isStatus reports whether s is an API server Status object (not some other JSON).
func (s *apiStatus) isStatus() bool { return s.Kind == "Status" && s.APIVersion == "v1" }

// apiError is a refusal or failure the API server itself answered.
type apiError struct {
	Code    int
	Message string
}

func (e *apiError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Code, e.Message) }

// create posts in (a JSON object with apiVersion and kind) to path and decodes the created
// object into out.
func (a *apiClient) create(ctx context.Context, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.url(path), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := a.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return statusError(resp.StatusCode, b)
	}
	return json.Unmarshal(b, out)
}

// statusError turns an API server error answer into an *apiError with the Status' message.
func statusError(code int, body []byte) *apiError {
	var st apiStatus
	if json.Unmarshal(body, &st) == nil && st.isStatus() && st.Message != "" {
		return &apiError{Code: code, Message: st.Message}
	}
	msg := strings.TrimSpace(string(body))
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	if msg == "" {
		msg = http.StatusText(code)
	}
	return &apiError{Code: code, Message: msg}
}
