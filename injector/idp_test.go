package injector

import (
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/injector/auth"
	"github.com/latchkey/latchkey/internal/fakeidp"
)

// TestIdPCallers: the organisation's JWTs reach the API; after the provider
// rotates its signing key mid-test, tokens under the new key are accepted by
// the same running server.
func TestIdPCallers(t *testing.T) {
	t.Parallel()
	idp := fakeidp.New(t)
	e := newEnv(t, func(c *Config) {
		v, err := auth.NewVerifier(auth.VerifierConfig{
			Local: c.Issuer,
			IdP:   &auth.IdPConfig{IssuerURL: idp.Issuer(), Audience: "latchkey-desktop", Subject: "user-1", MinRefetchInterval: time.Nanosecond},
		})
		if err != nil {
			t.Fatal(err)
		}
		c.Verifier = v
	})
	tok := idp.Token("user-1", fakeidp.Claims{Audience: "latchkey-desktop"})
	e.secrets = append(e.secrets, tok)
	if resp, body := e.do("GET", "/v1/proxy/docebo/api/x", tok, nil, nil); resp.StatusCode != 200 {
		t.Fatalf("IdP token: %d %s", resp.StatusCode, body)
	}
	idp.Rotate(false)
	tok2 := idp.Token("user-1", fakeidp.Claims{Audience: "latchkey-desktop"})
	e.secrets = append(e.secrets, tok2)
	if resp, body := e.do("GET", "/v1/status", tok2, nil, nil); resp.StatusCode != 200 {
		t.Fatalf("token under the rotated key: %d %s", resp.StatusCode, body)
	}
	if idp.JWKSFetches() != 2 {
		t.Fatalf("JWKS fetched %d times, want 2", idp.JWKSFetches())
	}
	for name, bad := range map[string]string{
		"another user": idp.Token("user-2", fakeidp.Claims{Audience: "latchkey-desktop"}),
		"wrong aud":    idp.Token("user-1", fakeidp.Claims{Audience: "someone-else"}),
		"old key":      tok[:len(tok)-4] + "AAAA",
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
