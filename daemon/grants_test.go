package daemon

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"testing"

	"github.com/latchkey/latchkey/client/apitype"
	"github.com/latchkey/latchkey/integrations"
	"github.com/latchkey/latchkey/integrations/docebo/sandbox"
)

// Every Docebo OAuth2 grant (docs/docebo.md) through the daemon and the vault: the token is
// sealed, stored, and reopened equal; the account is recorded.
func TestEveryGrantThroughTheVault(t *testing.T) {
	t.Parallel()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, sandbox.Options{JWTPublicKeys: []*rsa.PublicKey{&key.PublicKey}})
	ctx := context.Background()
	if err := h.d.StoreSigningKey(ctx, "docebo", key); err != nil {
		t.Fatal(err)
	}
	for _, req := range []apitype.GrantRequest{
		{Grant: integrations.GrantPassword, Username: "grace", Password: sandbox.DefaultPassword},
		{Grant: integrations.GrantClientCredentials},
		{Grant: integrations.GrantJWTBearer, Username: "alan"},
	} {
		t.Run(string(req.Grant), func(t *testing.T) {
			before := h.sb.GrantCalls(string(req.Grant))
			if err := h.d.ConnectWithGrant(ctx, "docebo", req); err != nil {
				t.Fatal(err)
			}
			if h.sb.GrantCalls(string(req.Grant)) != before+1 {
				t.Fatalf("the sandbox saw no %s grant", req.Grant)
			}
			tok, _, err := h.d.vault.LoadToken(ctx, "docebo")
			if err != nil || tok.AccessToken == "" || tok.Expiry.IsZero() {
				t.Fatalf("reopened token: %+v %v", tok, err)
			}
			if h.state("docebo") != "connected" {
				t.Fatalf("state %q", h.state("docebo"))
			}
			// An app token (client credentials) has no user session in
			// Docebo; it can list the course catalogue.
			path := "/v1/proxy/docebo/manage/v1/user/session"
			if req.Grant == integrations.GrantClientCredentials {
				path = "/v1/proxy/docebo/learn/v1/courses"
			}
			if code := h.api("GET", path, nil); code != 200 {
				t.Fatalf("proxy with the %s token: %d", req.Grant, code)
			}
			if req.Username != "" {
				c, err := h.d.store.GetConnection(ctx, "docebo")
				if err != nil || c.Username != req.Username {
					t.Fatalf("account recorded %+v %v, want %s", c, err, req.Username)
				}
			}
		})
	}
	// A wrong password is the provider's refusal, not a stored token.
	if err := h.d.ConnectWithGrant(ctx, "docebo", apitype.GrantRequest{Grant: integrations.GrantPassword, Username: "grace", Password: "wrong"}); err == nil {
		t.Fatal("a wrong password connected")
	}
	// A JWT-bearer token comes without a refresh token: once expired, the
	// daemon renews it by running the grant again, unattended.
	if err := h.d.ConnectWithGrant(ctx, "docebo", apitype.GrantRequest{Grant: integrations.GrantJWTBearer, Username: "alan"}); err != nil {
		t.Fatal(err)
	}
	h.sb.ExpireAccessTokens()
	before := h.sb.GrantCalls(string(integrations.GrantJWTBearer))
	var courses struct {
		Items  []integrations.Course `json:"items"`
		Errors []any                 `json:"errors"`
	}
	if code := h.api("GET", "/v1/courses", &courses); code != 200 || len(courses.Items) == 0 || len(courses.Errors) != 0 {
		t.Fatalf("courses after expiry: %d %+v", code, courses)
	}
	if h.sb.GrantCalls(string(integrations.GrantJWTBearer)) != before+1 {
		t.Fatal("the expired JWT-bearer token was not renewed by the grant")
	}
}

// The token endpoints get the integrations' egress policy: no proxy from
// the environment (a refresh token or client secret goes straight to the
// provider; net/http reads the proxy variables once per process, so the
// transport's Proxy must be nil rather than merely return nil here), and no
// redirect followed.
func TestTokenEndpointClientIgnoresProxyEnvironment(t *testing.T) {
	t.Parallel()
	c := newHTTPClient()
	tr, ok := c.Transport.(*http.Transport)
	if !ok {
		t.Fatalf("transport is %T", c.Transport)
	}
	if tr.Proxy != nil {
		t.Fatal("the token endpoint client takes its proxy from the environment")
	}
	req, _ := http.NewRequest("POST", "https://tenant.docebosaas.com/oauth2/token", nil)
	if c.CheckRedirect == nil || c.CheckRedirect(req, nil) != http.ErrUseLastResponse {
		t.Fatal("the token endpoint client follows redirects")
	}
}
