package fakeidp

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// IdP is a fake identity provider on loopback. Create it with New.
type IdP struct {
	t   testing.TB
	srv *httptest.Server

	mu        sync.Mutex
	current   any // *rsa.PrivateKey or *ecdsa.PrivateKey
	currentID string
	published []jose.JSONWebKey

	jwksFetches atomic.Int64
}

// New starts a provider with one RSA signing key (a random key id); it
// stops at the end of the test.
func New(t testing.TB) *IdP {
	t.Helper()
	p := &IdP{t: t}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"issuer":                                p.Issuer(),
			"jwks_uri":                              p.JWKSURL(),
			"authorization_endpoint":                p.Issuer() + "/authorize",
			"token_endpoint":                        p.Issuer() + "/token",
			"id_token_signing_alg_values_supported": []string{"RS256", "ES256"},
			"response_types_supported":              []string{"code"},
			"subject_types_supported":               []string{"public"},
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		p.jwksFetches.Add(1)
		p.mu.Lock()
		set := jose.JSONWebKeySet{Keys: append([]jose.JSONWebKey(nil), p.published...)}
		p.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(set)
	})
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	p.Rotate(false)
	return p
}

// Issuer is the issuer URL (discovery lives under it).
func (p *IdP) Issuer() string { return p.srv.URL }

// JWKSURL is the key set URL.
func (p *IdP) JWKSURL() string { return p.srv.URL + "/jwks" }

// JWKSFetches counts key set downloads so far.
func (p *IdP) JWKSFetches() int64 { return p.jwksFetches.Load() }

// Close stops the provider before the end of the test (a provider that
// went away).
func (p *IdP) Close() { p.srv.Close() }

// Rotate makes a new RSA signing key with a random key id and publishes
// it; keepOld keeps the old public keys in the set (a graceful rotation),
// otherwise they are withdrawn.
func (p *IdP) Rotate(keepOld bool) {
	p.t.Helper()
	id := make([]byte, 8)
	rand.Read(id)
	p.RotateTo(hex.EncodeToString(id), jose.RS256, keepOld)
}

// RotateTo makes a new signing key for alg (RS256 or ES256) under key id
// kid and publishes it, keeping the old public keys when keepOld.
func (p *IdP) RotateTo(kid string, alg jose.SignatureAlgorithm, keepOld bool) {
	p.t.Helper()
	var key, pub any
	switch alg {
	case jose.RS256:
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			p.t.Fatal(err)
		}
		key, pub = k, &k.PublicKey
	case jose.ES256:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			p.t.Fatal(err)
		}
		key, pub = k, &k.PublicKey
	default:
		p.t.Fatalf("fakeidp: no key for %s", alg)
	}
	jwk := jose.JSONWebKey{Key: pub, KeyID: kid, Algorithm: string(alg), Use: "sig"}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.current, p.currentID = key, kid
	if keepOld {
		p.published = append(p.published, jwk)
	} else {
		p.published = []jose.JSONWebKey{jwk}
	}
}

// Claims adjust a token minted by Token.
type Claims struct {
	Audience string        // the aud claim; none when empty
	Issuer   string        // default Issuer()
	TTL      time.Duration // default 1h; negative: already expired
	Extra    map[string]any
	Alg      jose.SignatureAlgorithm // default the current key's
	Key      any                     // default the current key
	KeyID    string                  // default the current key's id
}

// Token mints a JWT for sub, issued a minute ago, signed with the current
// key unless c says otherwise.
func (p *IdP) Token(sub string, c Claims) string {
	p.t.Helper()
	if c.Issuer == "" {
		c.Issuer = p.Issuer()
	}
	if c.TTL == 0 {
		c.TTL = time.Hour
	}
	now := time.Now()
	claims := map[string]any{
		"iss": c.Issuer, "sub": sub,
		"iat": now.Add(-time.Minute).Unix(), "exp": now.Add(c.TTL).Unix(),
	}
	if c.Audience != "" {
		claims["aud"] = c.Audience
	}
	for k, v := range c.Extra {
		claims[k] = v
	}
	return p.sign(claims, c.Alg, c.Key, c.KeyID)
}

// Sign mints a JWT of exactly these claims (a nil value is sent as JSON
// null), signed with the current key.
func (p *IdP) Sign(claims map[string]any) string {
	p.t.Helper()
	return p.sign(claims, "", nil, "")
}

func (p *IdP) sign(claims map[string]any, alg jose.SignatureAlgorithm, key any, kid string) string {
	p.t.Helper()
	p.mu.Lock()
	curKey, curID := p.current, p.currentID
	p.mu.Unlock()
	if key == nil {
		key = curKey
	}
	if kid == "" {
		kid = curID
	}
	if alg == "" {
		alg = jose.RS256
		if _, ok := key.(*ecdsa.PrivateKey); ok {
			alg = jose.ES256
		}
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		p.t.Fatal(err)
	}
	tok, err := jwt.Signed(sig).Claims(claims).Serialize()
	if err != nil {
		p.t.Fatal(err)
	}
	return tok
}

// PublicKey is the public part of the current signing key.
func (p *IdP) PublicKey() crypto.PublicKey {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.current.(crypto.Signer).Public()
}
