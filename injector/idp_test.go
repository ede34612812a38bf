package injector

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/latchkey/latchkey/injector/auth"
)

// testIdP is an in-test OpenID provider: discovery and a JWKS whose key
// can be rotated.
type testIdP struct {
	srv     *httptest.Server
	mu      sync.Mutex
	kid     string
	key     *rsa.PrivateKey
	fetches atomic.Int64
}

func newTestIdP(t *testing.T) *testIdP {
	p := &testIdP{}
	p.rotate(t, "k1")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{
			"issuer": p.srv.URL, "jwks_uri": p.srv.URL + "/jwks",
			"authorization_endpoint": p.srv.URL + "/authorize", "token_endpoint": p.srv.URL + "/token",
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		p.fetches.Add(1)
		p.mu.Lock()
		set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: p.key.Public(), KeyID: p.kid, Algorithm: "RS256", Use: "sig"}}}
		p.mu.Unlock()
		json.NewEncoder(w).Encode(set)
	})
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *testIdP) rotate(t *testing.T, kid string) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.kid, p.key = kid, k
	p.mu.Unlock()
}

func (p *testIdP) token(t *testing.T, sub, aud string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	tk := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"iss": p.srv.URL, "aud": aud, "sub": sub, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()})
	tk.Header["kid"] = p.kid
	s, err := tk.SignedString(p.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestIdPCallers: the organisation's JWTs reach the API; after the provider
// rotates its signing key mid-test, tokens under the new key are accepted by
// the same running server.
func TestIdPCallers(t *testing.T) {
	idp := newTestIdP(t)
	e := newEnv(t, func(c *Config) {
		v, err := auth.NewVerifier(auth.VerifierConfig{
			Local: c.Issuer,
			IdP:   &auth.IdPConfig{IssuerURL: idp.srv.URL, Audience: "latchkey-desktop", Subject: "user-1", MinRefetchInterval: time.Nanosecond},
		})
		if err != nil {
			t.Fatal(err)
		}
		c.Verifier = v
	})
	tok := idp.token(t, "user-1", "latchkey-desktop")
	e.secrets = append(e.secrets, tok)
	if resp, body := e.do("GET", "/v1/proxy/docebo/api/x", tok, nil, nil); resp.StatusCode != 200 {
		t.Fatalf("IdP token: %d %s", resp.StatusCode, body)
	}
	idp.rotate(t, "k2")
	tok2 := idp.token(t, "user-1", "latchkey-desktop")
	e.secrets = append(e.secrets, tok2)
	if resp, body := e.do("GET", "/v1/status", tok2, nil, nil); resp.StatusCode != 200 {
		t.Fatalf("token under the rotated key: %d %s", resp.StatusCode, body)
	}
	if idp.fetches.Load() != 2 {
		t.Fatalf("JWKS fetched %d times, want 2", idp.fetches.Load())
	}
	for name, bad := range map[string]string{
		"another user": idp.token(t, "user-2", "latchkey-desktop"),
		"wrong aud":    idp.token(t, "user-1", "someone-else"),
		"old key (k1)": tok[:len(tok)-4] + "AAAA",
	} {
		if resp, _ := e.do("GET", "/v1/status", bad, nil, nil); resp.StatusCode != 401 {
			t.Errorf("%s: %d", name, resp.StatusCode)
		}
	}
}

// TestConcurrentRefresh: many concurrent requests rejected with 401 each ask
// the Tokens to refresh with the token that was rejected; the Tokens (the
// daemon's single flight, here a compare under a lock) refresh once, and all
// requests succeed.
func TestConcurrentRefresh(t *testing.T) {
	e := newEnv(t)
	tok := e.mint("docebo")
	const n = 1000
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 64, MaxIdleConnsPerHost: 64}}
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", e.base+"/v1/proxy/docebo/api/strict", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := client.Do(req)
			if err != nil {
				failed.Add(1)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d requests failed", failed.Load(), n)
	}
	if r := e.tk.refreshes.Load(); r != 1 {
		t.Fatalf("%d refreshes for %d concurrent rejected requests", r, n)
	}
	e.secrets = append(e.secrets, e.tk.cur)
}
