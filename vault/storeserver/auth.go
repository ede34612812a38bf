package storeserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/coreos/go-oidc/v3/oidc"
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
}

// OIDCVerifier verifies JWTs against a remote JWKS (coreos/go-oidc). An
// unknown key id makes it refetch the key set, so the IdP can rotate keys
// without a restart.
type OIDCVerifier struct {
	v          *oidc.IDTokenVerifier
	adminClaim string
	adminValue string
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
	var v *oidc.IDTokenVerifier
	switch {
	case c.JWKSURL != "":
		if c.Issuer == "" {
			cfg.SkipIssuerCheck = true
		}
		v = oidc.NewVerifier(c.Issuer, oidc.NewRemoteKeySet(keyCtx, c.JWKSURL), cfg)
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
		v = oidc.NewVerifier(c.Issuer, oidc.NewRemoteKeySet(keyCtx, meta.JWKSURI), cfg)
	}
	return &OIDCVerifier{v: v, adminClaim: c.AdminClaim, adminValue: c.AdminValue}, nil
}

// Verify checks signature (allow-listed algorithms, keys from the JWKS),
// iss, aud, exp and nbf, and reads sub and the administrator claim.
func (o *OIDCVerifier) Verify(ctx context.Context, raw string) (Identity, error) {
	tok, err := o.v.Verify(ctx, raw)
	if err != nil {
		return Identity{}, err
	}
	if tok.Subject == "" || len(tok.Subject) > maxUserLen {
		return Identity{}, errors.New("token has no usable sub")
	}
	id := Identity{Subject: tok.Subject}
	if o.adminClaim != "" {
		var claims map[string]json.RawMessage
		if err := tok.Claims(&claims); err != nil {
			return Identity{}, err
		}
		id.Admin = claimHas(claims[o.adminClaim], o.adminValue)
	}
	return id, nil
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
