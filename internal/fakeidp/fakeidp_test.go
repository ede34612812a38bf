package fakeidp

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

func keySet(t *testing.T, p *IdP) jose.JSONWebKeySet {
	t.Helper()
	resp, err := http.Get(p.JWKSURL())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	return set
}

// verify checks tok against the published key set and returns its claims.
func verify(t *testing.T, p *IdP, tok string) (map[string]any, bool) {
	t.Helper()
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	return claims, parsed.Claims(keySet(t, p), &claims) == nil
}

func TestTokensVerifyAgainstThePublishedKeys(t *testing.T) {
	t.Parallel()
	p := New(t)
	var disc map[string]any
	resp, err := http.Get(p.Issuer() + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&disc)
	resp.Body.Close()
	if disc["issuer"] != p.Issuer() || disc["jwks_uri"] != p.JWKSURL() {
		t.Fatalf("discovery %v", disc)
	}
	claims, ok := verify(t, p, p.Token("user-1", Claims{Audience: "app", Extra: map[string]any{"email": "a@example.com"}}))
	if !ok || claims["sub"] != "user-1" || claims["aud"] != "app" || claims["iss"] != p.Issuer() || claims["email"] != "a@example.com" {
		t.Fatalf("claims %v (verified %v)", claims, ok)
	}
	if _, ok := claims["exp"]; !ok {
		t.Fatal("no exp")
	}
	if n := p.JWKSFetches(); n != 1 {
		t.Fatalf("JWKS fetches %d, want 1", n)
	}
}

func TestRotation(t *testing.T) {
	t.Parallel()
	p := New(t)
	old := p.Token("u", Claims{})
	p.RotateTo("ec", jose.ES256, true)
	if set := keySet(t, p); len(set.Keys) != 2 || len(set.Key("ec")) != 1 {
		t.Fatalf("graceful rotation published %d keys", len(set.Keys))
	}
	ec := p.Sign(map[string]any{"sub": "u"})
	if _, ok := verify(t, p, old); !ok {
		t.Fatal("a token under the kept key no longer verifies")
	}
	if _, ok := verify(t, p, ec); !ok {
		t.Fatal("a token under the new EC key does not verify")
	}
	p.Rotate(false)
	if _, ok := verify(t, p, ec); ok {
		t.Fatal("a token under a withdrawn key still verifies")
	}
	if len(keySet(t, p).Keys) != 1 {
		t.Fatal("a rotation without keepOld kept old keys")
	}
}
