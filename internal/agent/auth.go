package agent

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

// Authorizer decides whether the holder of token may use the agent of node. It returns the
// user name, or an error wrapping ErrUnauthenticated, ErrForbidden, or another error when it
// could not decide (the API server is unreachable).
type Authorizer interface {
	Authorize(ctx context.Context, token, node string) (user string, err error)
}

// KubeAuth authorises through the API server: a TokenReview authenticates the bearer token and a
// SubjectAccessReview checks verb "diagnose" on nodes.netdoctor.dev/NODE for that user. The agent's
// own identity needs create on tokenreviews and subjectaccessreviews (ClusterRole
// system:auth-delegator). Allowed decisions are cached for CacheTTL (denials never are), bounded
// to 1024 entries.
type KubeAuth struct {
	api      *apiClient
	CacheTTL time.Duration
	Now      func() time.Time

	mu    sync.Mutex
	cache map[[32]byte]cached
}

type cached struct {
	user    string
	expires time.Time
}

// NewKubeAuth returns an authoriser that asks the API server cfg points at.
func NewKubeAuth(cfg *rest.Config) (*KubeAuth, error) {
	c := rest.CopyConfig(cfg)
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	api, err := newAPIClient(c)
	if err != nil {
		return nil, err
	}
	return &KubeAuth{api: api, CacheTTL: 10 * time.Second, Now: time.Now, cache: map[[32]byte]cached{}}, nil
}

// Authorize implements Authorizer.
func (k *KubeAuth) Authorize(ctx context.Context, token, node string) (string, error) {
	if token == "" {
		return "", fmt.Errorf("agent: %w: no bearer token; call the agent with the token of a Kubernetes user allowed to %s", ErrUnauthenticated, permission(node))
	}
	key := sha256.Sum256([]byte(node + "\x00" + token))
	now := k.Now()
	k.mu.Lock()
	if c, ok := k.cache[key]; ok && now.Before(c.expires) {
		k.mu.Unlock()
		return c.user, nil
	}
	k.mu.Unlock()

	tr := &authnv1.TokenReview{}
	err := k.api.create(ctx, "/apis/authentication.k8s.io/v1/tokenreviews", &authnv1.TokenReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "authentication.k8s.io/v1", Kind: "TokenReview"},
		Spec:     authnv1.TokenReviewSpec{Token: token}}, tr)
	if err != nil {
		return "", fmt.Errorf("agent: cannot check the token with the API server (TokenReview): %w", err)
	}
	if !tr.Status.Authenticated {
		why := tr.Status.Error
		if why == "" {
			why = "the API server does not know this token"
		}
		return "", fmt.Errorf("agent: %w: token rejected by the API server: %s", ErrUnauthenticated, why)
	}
	u := tr.Status.User
	extra := map[string]authzv1.ExtraValue{}
	for k, v := range u.Extra {
		extra[k] = authzv1.ExtraValue(v)
	}
	sar := &authzv1.SubjectAccessReview{TypeMeta: metav1.TypeMeta{APIVersion: "authorization.k8s.io/v1", Kind: "SubjectAccessReview"}, Spec: authzv1.SubjectAccessReviewSpec{
		User: u.Username, UID: u.UID, Groups: u.Groups, Extra: extra,
		ResourceAttributes: &authzv1.ResourceAttributes{
			Group: PermissionGroup, Resource: PermissionResource, Verb: PermissionVerb, Name: node,
		},
	}}
	res := &authzv1.SubjectAccessReview{}
	if err := k.api.create(ctx, "/apis/authorization.k8s.io/v1/subjectaccessreviews", sar, res); err != nil {
		return "", fmt.Errorf("agent: cannot check the permission with the API server (SubjectAccessReview): %w", err)
	}
	if !res.Status.Allowed {
		return "", fmt.Errorf("agent: %w: user %q may not %s (grant it with the ClusterRole netdoctor-diagnose in deploy/rbac)", ErrForbidden, u.Username, permission(node))
	}
	k.mu.Lock()
	if len(k.cache) >= 1024 {
		for key, c := range k.cache {
			if !now.Before(c.expires) || len(k.cache) >= 1024 {
				delete(k.cache, key)
			}
		}
	}
	k.cache[key] = cached{user: u.Username, expires: now.Add(k.CacheTTL)}
	k.mu.Unlock()
	return u.Username, nil
}

func permission(node string) string {
	return fmt.Sprintf("%s node %s (verb %q on resource %q in API group %q)", PermissionVerb, node, PermissionVerb, PermissionResource, PermissionGroup)
}
