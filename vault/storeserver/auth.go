package storeserver

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/latchkey/latchkey/internal/jwks"
)

// Identity is who a verified bearer token names.
type Identity struct {
	Subject string // the JWT "sub": the user whose records these are
	Admin   bool   // the administrator claim matched
}

// Verifier turns a bearer token into an Identity or refuses it.
type Verifier interface {
	Verify(ctx context.Context, rawJWT string) (Identity, error)
}

// AllowedAlgs are the signature algorithms accepted: asymmetric only (no
// "none", no HMAC, so no RSA/HMAC confusion).
var AllowedAlgs = []string{
	oidc.RS256, oidc.RS384, oidc.RS512,
	oidc.PS256, oidc.PS384, oidc.PS512,
	oidc.ES256, oidc.ES384, oidc.ES512,
	oidc.EdDSA,
}

// OIDCConfig names the identity provider whose JWTs the server accepts.
type OIDCConfig struct {
	// Issuer is the IdP's issuer URL. With JWKSURL empty, its OIDC discovery
	// document gives the JWKS URL. The token's "iss" must equal it.
	Issuer string
	// JWKSURL is the key set URL, used directly (no discovery). With Issuer
	// empty the "iss" claim is not checked.
	JWKSURL string
	// Audience is required in the token's "aud".
	Audience string
	// AdminClaim and AdminValue: a token whose claim AdminClaim equals
	// AdminValue (or, for an array claim, contains it) is an administrator.
	// Empty AdminClaim: nobody is.
	AdminClaim string
	AdminValue string
	// HTTPClient fetches discovery and keys; nil means http.DefaultClient.
	HTTPClient *http.Client
	// CacheTTL: how long a verified token's identity is reused without
	// checking its signature again (never past its exp). Every download of
	// the key set empties the cache, so a rotation that withdraws a key
	// takes effect as soon as the new key is seen. Default 30s; negative
	// disables.
	CacheTTL time.Duration
	// RefetchInterval is the least time between two key set downloads
	// triggered by tokens with a key id the cached set does not hold
	// (DefaultRefetchInterval when zero; negative: no limit). Tokens with
	// an unknown key id arriving in between are refused without a
	// download, so made-up key ids cannot make the store hammer the IdP.
	RefetchInterval time.Duration
}

// DefaultRefetchInterval is the least time between two key set downloads
// that a token with an unknown key id may trigger.
const DefaultRefetchInterval = 30 * time.Second

// OIDCVerifier verifies JWTs against a remote JWKS (claims checked by
// coreos/go-oidc). An unknown key id makes it download the key set again
// (at most once per OIDCConfig.RefetchInterval), so the IdP can rotate keys
// without a restart.
type OIDCVerifier struct {
	v          *oidc.IDTokenVerifier
	keys       *jwks.KeySet
	adminClaim string
	adminValue string
	cache      *tokenCache
}

// NewOIDCVerifier builds the verifier; with only Issuer set it performs OIDC
// discovery now (and fails if the IdP does not answer).
func NewOIDCVerifier(ctx context.Context, c OIDCConfig) (*OIDCVerifier, error) {
	if c.Issuer == "" && c.JWKSURL == "" {
		return nil, errors.New("storeserver: set --issuer (OIDC discovery) or --jwks-url")
	}
	if c.Audience == "" {
		return nil, errors.New("storeserver: set --audience (the aud the identity provider puts in tokens for this store)")
	}
	if (c.AdminClaim == "") != (c.AdminValue == "") {
		return nil, errors.New("storeserver: --admin-claim and --admin-value go together")
	}
	if c.HTTPClient != nil {
		ctx = oidc.ClientContext(ctx, c.HTTPClient)
	}
	// The key set outlives this call: keep the client, drop cancellation.
	keyCtx := context.WithoutCancel(ctx)
	cfg := &oidc.Config{ClientID: c.Audience, SupportedSigningAlgs: AllowedAlgs}
	interval := c.RefetchInterval
	if interval == 0 {
		interval = DefaultRefetchInterval
	}
	jwksURL := c.JWKSURL
	switch {
	case c.JWKSURL != "":
		if c.Issuer == "" {
			cfg.SkipIssuerCheck = true
		}
	default:
		p, err := oidc.NewProvider(ctx, c.Issuer)
		if err != nil {
			return nil, fmt.Errorf("storeserver: OIDC discovery at %s: %w", c.Issuer, err)
		}
		var meta struct {
			JWKSURI string `json:"jwks_uri"`
		}
		if err := p.Claims(&meta); err != nil || meta.JWKSURI == "" {
			return nil, fmt.Errorf("storeserver: OIDC discovery at %s: no jwks_uri", c.Issuer)
		}
		jwksURL = meta.JWKSURI
	}
	o := &OIDCVerifier{adminClaim: c.AdminClaim, adminValue: c.AdminValue}
	switch {
	case c.CacheTTL == 0:
		o.cache = newTokenCache(30 * time.Second)
	case c.CacheTTL > 0:
		o.cache = newTokenCache(c.CacheTTL)
	}
	ko := jwks.Options{URL: jwksURL, HTTPClient: c.HTTPClient, Algorithms: AllowedAlgs,
		MinRefetch: interval, Timeout: 30 * time.Second, Context: keyCtx}
	if o.cache != nil {
		// A new key set may have withdrawn a key: forget what the old one
		// vouched for.
		ko.OnChange = o.cache.clear
	}
	o.keys = jwks.New(ko)
	o.v = oidc.NewVerifier(c.Issuer, o.keys, cfg)
	return o, nil
}

// Verify checks signature (allow-listed algorithms, keys from the JWKS),
// iss, aud, exp and nbf, and reads sub and the administrator claim.
func (o *OIDCVerifier) Verify(ctx context.Context, raw string) (Identity, error) {
	if o.cache == nil {
		id, _, err := o.verify(ctx, raw)
		return id, err
	}
	sum := sha256.Sum256([]byte(raw))
	if id, ok := o.cache.get(sum); ok {
		return id, nil
	}
	gen := o.keys.Generation()
	id, exp, err := o.verify(ctx, raw)
	if err != nil {
		return Identity{}, err
	}
	if o.keys.Generation() == gen {
		// Not cached when the key set changed meanwhile: it may have been
		// verified with a key just withdrawn.
		o.cache.put(sum, id, exp)
	}
	return id, nil
}

func (o *OIDCVerifier) verify(ctx context.Context, raw string) (Identity, time.Time, error) {
	tok, err := o.v.Verify(ctx, raw)
	if err != nil {
		return Identity{}, time.Time{}, err
	}
	if !validUser(tok.Subject) {
		return Identity{}, time.Time{}, errors.New("token has no usable sub")
	}
	id := Identity{Subject: tok.Subject}
	if o.adminClaim != "" {
		var claims map[string]json.RawMessage
		if err := tok.Claims(&claims); err != nil {
			return Identity{}, time.Time{}, err
		}
		id.Admin = claimHas(claims[o.adminClaim], o.adminValue)
	}
	return id, tok.Expiry, nil
}

// tokenCache remembers verified tokens (by SHA-256, never the token) for a
// short time, saving a signature check per request.
type tokenCache struct {
	ttl time.Duration

	mu      sync.Mutex
	entries map[[32]byte]cachedID
}

type cachedID struct {
	id    Identity
	until time.Time
}

const tokenCacheMax = 10000

func newTokenCache(ttl time.Duration) *tokenCache {
	return &tokenCache{ttl: ttl, entries: map[[32]byte]cachedID{}}
}

func (c *tokenCache) get(sum [32]byte) (Identity, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[sum]
	if !ok {
		return Identity{}, false
	}
	if !time.Now().Before(e.until) {
		delete(c.entries, sum)
		return Identity{}, false
	}
	return e.id, true
}

// clear forgets every cached token.
func (c *tokenCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.entries)
}

func (c *tokenCache) put(sum [32]byte, id Identity, exp time.Time) {
	until := time.Now().Add(c.ttl)
	if !exp.IsZero() && exp.Before(until) {
		until = exp
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= tokenCacheMax {
		clear(c.entries)
	}
	c.entries[sum] = cachedID{id: id, until: until}
}

// claimHas reports whether a claim (a string, or an array of strings) carries
// want exactly.
func claimHas(raw json.RawMessage, want string) bool {
	if len(raw) == 0 {
		return false
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s == want
	}
	var arr []any
	if json.Unmarshal(raw, &arr) == nil {
		for _, v := range arr {
			if vs, ok := v.(string); ok && vs == want {
				return true
			}
		}
	}
	var b bool
	if json.Unmarshal(raw, &b) == nil && want == "true" {
		return b
	}
	return false
}
