package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/latchkey/latchkey/internal/fakeidp"
)

// clock is an injectable clock for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Unix(1_800_000_000, 0)} }
func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newIssuer(t testing.TB, clk *clock) *Issuer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	iss := NewIssuer(priv, DefaultIssuer, "latchkey-injector")
	iss.SetClock(clk.Now)
	return iss
}

// sign makes a token with arbitrary claims/method/key (for refusal rows).
func sign(t *testing.T, m jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLocalTokens(t *testing.T) {
	t.Parallel()
	clk := newClock()
	iss := newIssuer(t, clk)
	v, err := NewVerifier(VerifierConfig{Local: iss, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	good, err := iss.Mint("alice", []string{"docebo"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Verify(ctx, good)
	if err != nil {
		t.Fatalf("valid token refused: %v", err)
	}
	if c.Subject != "alice" || c.Source != SourceLocal || !c.Allows("docebo") || c.Allows("document360") {
		t.Fatalf("claims = %+v", c)
	}
	if !c.Expiry.Equal(clk.Now().Add(time.Hour)) {
		t.Fatalf("expiry = %v", c.Expiry)
	}

	cl, err := iss.Mint("client:abc", []string{"*"}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	c, err = v.Verify(ctx, cl)
	if err != nil || c.Source != "client:abc" || !c.Allows("anything") {
		t.Fatalf("client token: %+v %v", c, err)
	}
	none, _ := iss.Mint("bob", nil, time.Minute)
	c, err = v.Verify(ctx, none)
	if err != nil || c.Allows("docebo") {
		t.Fatalf("empty scope must authenticate but allow nothing: %+v %v", c, err)
	}

	now := clk.Now()
	base := func() jwt.MapClaims {
		return jwt.MapClaims{
			"iss": DefaultIssuer, "aud": "latchkey-injector", "sub": "alice",
			"scope": []string{"*"}, "iat": now.Unix(), "nbf": now.Unix(),
			"exp": now.Add(time.Hour).Unix(), "jti": "x",
		}
	}
	with := func(k string, val any) jwt.MapClaims {
		m := base()
		if val == nil {
			delete(m, k)
		} else {
			m[k] = val
		}
		return m
	}
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	kid := iss.KeyID()

	// The control row: the same construction with the right key passes,
	// so each refusal below is due to the one thing it changes.
	if _, err := v.Verify(ctx, sign(t, jwt.SigningMethodEdDSA, ed25519.PrivateKey(iss.priv), kid, base())); err != nil {
		t.Fatalf("control token refused: %v", err)
	}

	rows := []struct {
		name string
		tok  string
	}{
		{"bad signature", sign(t, jwt.SigningMethodEdDSA, otherPriv, kid, base())},
		{"tampered payload", func() string {
			s := sign(t, jwt.SigningMethodEdDSA, ed25519.PrivateKey(iss.priv), kid, base())
			p := strings.Split(s, ".")
			other := strings.Split(sign(t, jwt.SigningMethodEdDSA, otherPriv, kid, with("sub", "mallory")), ".")
			return p[0] + "." + other[1] + "." + p[2]
		}()},
		{"alg none", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, kid, base())},
		{"HS256 with the public key as secret", sign(t, jwt.SigningMethodHS256, []byte(iss.PublicKey()), kid, base())},
		{"RS256 own key", sign(t, jwt.SigningMethodRS256, rsaKey, kid, base())},
		{"expired", sign(t, jwt.SigningMethodEdDSA, ed25519.PrivateKey(iss.priv), kid, with("exp", now.Add(-time.Minute).Unix()))},
		{"no exp", sign(t, jwt.SigningMethodEdDSA, ed25519.PrivateKey(iss.priv), kid, with("exp", nil))},
		{"not yet valid", sign(t, jwt.SigningMethodEdDSA, ed25519.PrivateKey(iss.priv), kid, with("nbf", now.Add(10*time.Minute).Unix()))},
		{"issued in the future", sign(t, jwt.SigningMethodEdDSA, ed25519.PrivateKey(iss.priv), kid, with("iat", now.Add(10*time.Minute).Unix()))},
		{"wrong aud", sign(t, jwt.SigningMethodEdDSA, ed25519.PrivateKey(iss.priv), kid, with("aud", "something-else"))},
		{"no aud", sign(t, jwt.SigningMethodEdDSA, ed25519.PrivateKey(iss.priv), kid, with("aud", nil))},
		{"wrong iss", sign(t, jwt.SigningMethodEdDSA, ed25519.PrivateKey(iss.priv), kid, with("iss", "evil"))},
		{"unknown kid", sign(t, jwt.SigningMethodEdDSA, ed25519.PrivateKey(iss.priv), "other", base())},
		{"no sub", sign(t, jwt.SigningMethodEdDSA, ed25519.PrivateKey(iss.priv), kid, with("sub", nil))},
		{"garbage", "not.a.jwt"},
		{"empty", ""},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			_, err := v.Verify(ctx, r.tok)
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("accepted or wrong error: %v", err)
			}
			if r.tok != "" && strings.Contains(err.Error(), r.tok) {
				t.Fatal("error echoes the token")
			}
		})
	}

	// No leeway for local tokens (one clock mints and verifies them): valid
	// up to exp, refused from exp on, cached or not.
	short, _ := iss.Mint("alice", nil, time.Minute)
	clk.Add(time.Minute - time.Second)
	v2, _ := NewVerifier(VerifierConfig{Local: iss, Now: clk.Now})
	if _, err := v2.Verify(ctx, short); err != nil {
		t.Fatalf("a second before exp: %v", err)
	}
	clk.Add(time.Second)
	v3, _ := NewVerifier(VerifierConfig{Local: iss, Now: clk.Now})
	if _, err := v3.Verify(ctx, short); err == nil {
		t.Fatal("accepted at exp")
	}
	if _, err := v2.Verify(ctx, short); err == nil {
		t.Fatal("accepted at exp from the cache")
	}
}

// A token minted for a holder that expires (a personal client) expires
// with it, in whole seconds, never after.
func TestMintBeforeCapsTheExpiry(t *testing.T) {
	t.Parallel()
	clk := newClock()
	iss := newIssuer(t, clk)
	v, _ := NewVerifier(VerifierConfig{Local: iss, Now: clk.Now})
	ctx := context.Background()
	clientExpiry := clk.Now().Add(1500 * time.Millisecond)
	tok, exp, err := iss.MintBefore("client:lkc_x", []string{"docebo"}, 15*time.Minute, clientExpiry)
	if err != nil {
		t.Fatal(err)
	}
	if exp.After(clientExpiry) || !exp.After(clk.Now()) {
		t.Fatalf("exp %v, client expiry %v, now %v", exp, clientExpiry, clk.Now())
	}
	c, err := v.Verify(ctx, tok)
	if err != nil || !c.Expiry.Equal(exp) {
		t.Fatalf("claims %+v %v", c, err)
	}
	clk.Add(clientExpiry.Sub(clk.Now()))
	if _, err := v.Verify(ctx, tok); err == nil {
		t.Fatal("the token outlived its holder")
	}
	if _, _, err := iss.MintBefore("client:lkc_x", nil, time.Minute, clk.Now().Add(300*time.Millisecond)); !errors.Is(err, ErrNoLifetimeLeft) {
		t.Fatalf("a token with no second left: %v", err)
	}
}

func TestCache(t *testing.T) {
	t.Parallel()
	clk := newClock()
	iss := newIssuer(t, clk)
	v, _ := NewVerifier(VerifierConfig{Local: iss, Now: clk.Now, CacheSize: 32})
	ctx := context.Background()
	tok, _ := iss.Mint("alice", []string{"docebo"}, time.Minute)
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if v.cache.len() != 1 {
		t.Fatalf("cache len = %d", v.cache.len())
	}
	// A hit is served from the cache: prove it by verifying with the
	// parser disabled (any parse would panic on nil).
	saved := v.localParser
	v.localParser = nil
	if c, err := v.Verify(ctx, tok); err != nil || c.Subject != "alice" {
		t.Fatalf("cached verify: %+v %v", c, err)
	}
	v.localParser = saved
	// Past exp, the cached entry no longer answers and the
	// full verification refuses the token.
	clk.Add(time.Minute + 31*time.Second)
	if _, err := v.Verify(ctx, tok); err == nil {
		t.Fatal("expired token accepted after being cached")
	}
	if v.cache.len() != 0 {
		t.Fatalf("expired entry still cached (%d)", v.cache.len())
	}
	// A one-character change is not a hit.
	tok2, _ := iss.Mint("alice", []string{"docebo"}, time.Hour)
	if _, err := v.Verify(ctx, tok2); err != nil {
		t.Fatal(err)
	}
	bad := tok2[:len(tok2)-2] + flip(tok2[len(tok2)-2]) + tok2[len(tok2)-1:]
	if _, err := v.Verify(ctx, bad); err == nil {
		t.Fatal("altered token accepted")
	}
	// Bounded.
	for i := 0; i < 200; i++ {
		tk, _ := iss.Mint(fmt.Sprint("u", i), nil, time.Hour)
		if _, err := v.Verify(ctx, tk); err != nil {
			t.Fatal(err)
		}
	}
	if n := v.cache.len(); n > 32 {
		t.Fatalf("cache grew to %d", n)
	}
}

func flip(b byte) string {
	if b == 'A' {
		return "B"
	}
	return "A"
}

func TestJWKS(t *testing.T) {
	t.Parallel()
	iss := newIssuer(t, newClock())
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(iss.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 1 || set.Keys[0].KeyID != iss.KeyID() || set.Keys[0].Algorithm != "EdDSA" {
		t.Fatalf("jwks = %s", iss.JWKS())
	}
	pub, ok := set.Keys[0].Key.(ed25519.PublicKey)
	if !ok || !pub.Equal(iss.PublicKey()) || !set.Keys[0].IsPublic() {
		t.Fatal("jwks key is not the issuer's public key")
	}
	if strings.Contains(string(iss.JWKS()), `"d"`) {
		t.Fatal("private part in JWKS")
	}
}

func TestIdPTokens(t *testing.T) {
	t.Parallel()
	clk := newClock()
	p := fakeidp.New(t)
	p.RotateTo("k1", jose.RS256, false)
	v, err := NewVerifier(VerifierConfig{
		Local: newIssuer(t, clk),
		IdP: &IdPConfig{
			IssuerURL: p.Issuer(), Audience: "latchkey-desktop", Subject: "user-1",
			MinRefetchInterval: time.Minute,
		},
		Now: clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	claims := func() jwt.MapClaims {
		now := clk.Now()
		return jwt.MapClaims{"iss": p.Issuer(), "aud": "latchkey-desktop", "sub": "user-1",
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	}
	c, err := v.Verify(ctx, p.Sign(claims()))
	if err != nil {
		t.Fatalf("IdP token refused: %v", err)
	}
	if c.Source != SourceIdP || c.Subject != "user-1" || !c.Allows("docebo") {
		t.Fatalf("claims = %+v", c)
	}
	if got := p.JWKSFetches(); got != 1 {
		t.Fatalf("jwks fetches = %d, want 1", got)
	}

	// Rotation mid-test: a token under the new key is accepted without a
	// new verifier, after one more fetch.
	clk.Add(2 * time.Minute)
	p.RotateTo("k2", jose.ES256, true)
	if _, err := v.Verify(ctx, p.Sign(claims())); err != nil {
		t.Fatalf("token under rotated key refused: %v", err)
	}
	if got := p.JWKSFetches(); got != 2 {
		t.Fatalf("jwks fetches = %d, want 2", got)
	}
	// An unknown kid right after a fetch does not fetch again (rate limit).
	p.RotateTo("k3", jose.ES256, true)
	for i := 0; i < 5; i++ {
		if _, err := v.Verify(ctx, p.Sign(claims())); err == nil {
			t.Fatal("token with a kid not yet fetched accepted inside the rate limit window")
		}
	}
	if got := p.JWKSFetches(); got != 2 {
		t.Fatalf("unknown kid fetched %d times inside the window", got-2)
	}
	clk.Add(time.Minute)
	if _, err := v.Verify(ctx, p.Sign(claims())); err != nil {
		t.Fatalf("after the window: %v", err)
	}

	with := func(k string, val any) jwt.MapClaims {
		m := claims()
		if val == nil {
			delete(m, k)
		} else {
			m[k] = val
		}
		return m
	}
	now := clk.Now()
	pubDER, _ := json.Marshal(jose.JSONWebKey{Key: p.PublicKey()})
	rows := []struct {
		name string
		tok  string
	}{
		{"wrong aud", p.Sign(with("aud", "other-client"))},
		{"wrong sub", p.Sign(with("sub", "user-2"))},
		{"expired", p.Sign(with("exp", now.Add(-time.Hour).Unix()))},
		{"no exp", p.Sign(with("exp", nil))},
		{"alg none", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "k3", claims())},
		{"HS256 with the public JWK as secret", sign(t, jwt.SigningMethodHS256, pubDER, "k3", claims())},
		{"wrong key same kid", func() string {
			other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			return sign(t, jwt.SigningMethodES256, other, "k3", claims())
		}()},
		{"unknown issuer", p.Sign(with("iss", "https://evil.example"))},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			if _, err := v.Verify(ctx, r.tok); !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("accepted or wrong error: %v", err)
			}
		})
	}
}

func TestIdPDiscoveryDownThenUp(t *testing.T) {
	t.Parallel()
	clk := newClock()
	p := fakeidp.New(t)
	p.RotateTo("k1", jose.RS256, false)
	url := p.Issuer()
	p.Close()
	v, err := NewVerifier(VerifierConfig{IdP: &IdPConfig{IssuerURL: url, Audience: "a", MinRefetchInterval: time.Minute}, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	tok := p.Sign(jwt.MapClaims{"iss": url, "aud": "a", "sub": "s", "exp": clk.Now().Add(time.Hour).Unix()})
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("provider down: %v", err)
	}
}

func BenchmarkVerifyCached(b *testing.B) {
	clk := newClock()
	iss := newIssuer(b, clk)
	v, _ := NewVerifier(VerifierConfig{Local: iss, Now: clk.Now})
	tok, _ := iss.Mint("alice", []string{"docebo"}, time.Hour)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkVerifyUncached(b *testing.B) {
	clk := newClock()
	iss := newIssuer(b, clk)
	v, _ := NewVerifier(VerifierConfig{Local: iss, Now: clk.Now, CacheSize: 1})
	tok, _ := iss.Mint("alice", []string{"docebo"}, time.Hour)
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := v.verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

// A provider token whose aud names a refused audience (the daemon's client
// id: what its ID token, the store's bearer, is for) is refused even when
// it also names the accepted one; a config accepting a refused audience is
// an error.
func TestIdPRefusedAudiences(t *testing.T) {
	t.Parallel()
	clk := newClock()
	p := fakeidp.New(t)
	p.RotateTo("k1", jose.RS256, false)
	v, err := NewVerifier(VerifierConfig{
		IdP: &IdPConfig{IssuerURL: p.Issuer(), Audience: "latchkey-local", RefuseAudiences: []string{"latchkey-desktop"},
			MinRefetchInterval: time.Minute},
		Now: clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tok := func(aud any) string {
		now := clk.Now()
		return p.Sign(jwt.MapClaims{"iss": p.Issuer(), "aud": aud, "sub": "user-1",
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()})
	}
	if _, err := v.Verify(ctx, tok("latchkey-local")); err != nil {
		t.Fatalf("a token for the local API: %v", err)
	}
	for _, aud := range []any{"latchkey-desktop", []string{"latchkey-local", "latchkey-desktop"}, []string{"latchkey-desktop", "latchkey-local"}} {
		if _, err := v.Verify(ctx, tok(aud)); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("aud %v: %v", aud, err)
		}
	}
	if _, err := NewVerifier(VerifierConfig{IdP: &IdPConfig{IssuerURL: p.Issuer(), Audience: "x", RefuseAudiences: []string{"x"}}}); err == nil {
		t.Fatal("accepting a refused audience was allowed")
	}
}
