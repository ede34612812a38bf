package storetest

import (
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

// Audience is the aud the IdP puts in tokens unless told otherwise.
const Audience = "latchkey-store"

// AdminClaim and AdminValue mark administrators in tokens minted with
// Admin: true.
const (
	AdminClaim = "groups"
	AdminValue = "latchkey-admins"
)

// IdP is an OIDC identity provider on loopback: /.well-known/openid-configuration
// and /jwks, serving RSA keys it generated.
type IdP struct {
	t   testing.TB
	srv *httptest.Server

	mu        sync.Mutex
	current   *rsa.PrivateKey
	currentID string
	published []jose.JSONWebKey

	jwksFetches atomic.Int64
}

// NewIdP starts an IdP with one RSA key; it stops at the end of the test.
func NewIdP(t testing.TB) *IdP {
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
			"id_token_signing_alg_values_supported": []string{"RS256"},
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

// Rotate makes a new signing key and publishes it; keepOld keeps the old
// public key in the set (a graceful rotation), otherwise it is withdrawn.
func (p *IdP) Rotate(keepOld bool) {
	p.t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		p.t.Fatal(err)
	}
	id := make([]byte, 8)
	rand.Read(id)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.current, p.currentID = k, hex.EncodeToString(id)
	pub := jose.JSONWebKey{Key: &k.PublicKey, KeyID: p.currentID, Algorithm: string(jose.RS256), Use: "sig"}
	if keepOld {
		p.published = append(p.published, pub)
	} else {
		p.published = []jose.JSONWebKey{pub}
	}
}

// Claims adjust a minted token.
type Claims struct {
	Admin    bool          // add groups: [latchkey-admins]
	Audience string        // default Audience
	Issuer   string        // default Issuer()
	TTL      time.Duration // default 1h; negative: already expired
	Extra    map[string]any
	Alg      jose.SignatureAlgorithm // default RS256
	Key      any                     // default the current RSA key
	KeyID    string                  // default the current key's id
}

// Token mints a JWT for sub signed with the current key.
func (p *IdP) Token(sub string, c Claims) string {
	p.t.Helper()
	p.mu.Lock()
	key, kid := p.current, p.currentID
	p.mu.Unlock()
	alg := c.Alg
	if alg == "" {
		alg = jose.RS256
	}
	if c.KeyID != "" {
		kid = c.KeyID
	}
	var signKey any = jose.JSONWebKey{Key: key, KeyID: kid}
	if c.Key != nil {
		signKey = jose.JSONWebKey{Key: c.Key, KeyID: kid}
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: signKey}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		p.t.Fatal(err)
	}
	if c.Audience == "" {
		c.Audience = Audience
	}
	if c.Issuer == "" {
		c.Issuer = p.Issuer()
	}
	if c.TTL == 0 {
		c.TTL = time.Hour
	}
	now := time.Now()
	claims := map[string]any{
		"iss": c.Issuer, "sub": sub, "aud": c.Audience,
		"iat": now.Add(-time.Minute).Unix(), "exp": now.Add(c.TTL).Unix(),
	}
	if c.Admin {
		claims[AdminClaim] = []string{"staff", AdminValue}
	}
	for k, v := range c.Extra {
		claims[k] = v
	}
	tok, err := jwt.Signed(sig).Claims(claims).Serialize()
	if err != nil {
		p.t.Fatal(err)
	}
	return tok
}
