package auth

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

// DefaultIssuer is the iss of local client tokens.
const DefaultIssuer = "latchkey"

// localClaims is the claim set of a local client token.
type localClaims struct {
	Scope []string `json:"scope"`
	// ClientID and AuthorizedParty name the app a token was minted for
	// (an app's grant; empty otherwise), Resource the resource (RFC 8707)
	// it is bound to, as a path on the listener ("/mcp", "/v1"), or empty
	// for every route.
	ClientID        string `json:"client_id,omitempty"`
	AuthorizedParty string `json:"azp,omitempty"`
	Resource        string `json:"resource,omitempty"`
	jwt.RegisteredClaims
}

// Issuer mints local client JWTs signed with an Ed25519 key.
type Issuer struct {
	priv     ed25519.PrivateKey
	pub      ed25519.PublicKey
	kid      string
	issuer   string
	audience string
	now      func() time.Time
}

// NewIssuer returns an issuer signing with priv. issuer is the iss claim
// (normally [DefaultIssuer]) and audience the aud claim (the injector, e.g.
// "latchkey-injector").
func NewIssuer(priv ed25519.PrivateKey, issuer, audience string) *Issuer {
	pub := priv.Public().(ed25519.PublicKey)
	tp, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
	if err != nil {
		// Thumbprint of a well-formed Ed25519 key cannot fail.
		panic("auth: thumbprint: " + err.Error())
	}
	return &Issuer{
		priv:     priv,
		pub:      pub,
		kid:      base64.RawURLEncoding.EncodeToString(tp),
		issuer:   issuer,
		audience: audience,
		now:      time.Now,
	}
}

// Issuer returns the iss of the tokens it mints.
func (i *Issuer) Issuer() string { return i.issuer }

// Audience returns the aud of the tokens it mints.
func (i *Issuer) Audience() string { return i.audience }

// KeyID returns the kid of its key (the RFC 7638 thumbprint).
func (i *Issuer) KeyID() string { return i.kid }

// PublicKey returns the verification key.
func (i *Issuer) PublicKey() ed25519.PublicKey { return i.pub }

// SetClock replaces the clock used for iat/nbf/exp (tests).
func (i *Issuer) SetClock(now func() time.Time) { i.now = now }

// Mint returns a signed token for sub allowed to use the integrations in
// scope ("*" for all; empty for none) for ttl.
func (i *Issuer) Mint(sub string, scope []string, ttl time.Duration) (string, error) {
	tok, _, err := i.MintBefore(sub, scope, ttl, time.Time{})
	return tok, err
}

// ErrNoLifetimeLeft is returned by MintBefore when notAfter leaves the token
// no whole second of life.
var ErrNoLifetimeLeft = errors.New("auth: mint: no lifetime left before the holder's own expiry")

// MintBefore is Mint with the expiry capped at notAfter (zero: no cap), for
// a holder that itself expires (a personal client): the token's exp, in
// whole seconds, is never after notAfter. It returns the token and its
// expiry, or ErrNoLifetimeLeft when that expiry would not be in the future.
func (i *Issuer) MintBefore(sub string, scope []string, ttl time.Duration, notAfter time.Time) (string, time.Time, error) {
	return i.mint(localClaims{Scope: scope}, sub, ttl, notAfter)
}

// AppToken describes an access token for an app's grant (MintApp).
type AppToken struct {
	// GrantID names the grant; the token's sub is SourceAppPrefix+GrantID.
	GrantID string
	// ClientID is the app's client id (client_id and azp).
	ClientID string
	// Resource is the path the token is bound to ("/mcp", "/v1"), or
	// empty for every route.
	Resource string
	// Scope lists the granted integrations.
	Scope []string
	TTL   time.Duration
}

// MintApp returns an access token for an app's grant and its expiry.
func (i *Issuer) MintApp(t AppToken) (string, time.Time, error) {
	if t.GrantID == "" || t.ClientID == "" {
		return "", time.Time{}, errors.New("auth: mint: an app token needs a grant and a client id")
	}
	return i.mint(localClaims{Scope: t.Scope, ClientID: t.ClientID, AuthorizedParty: t.ClientID, Resource: t.Resource},
		SourceAppPrefix+t.GrantID, t.TTL, time.Time{})
}

func (i *Issuer) mint(c localClaims, sub string, ttl time.Duration, notAfter time.Time) (string, time.Time, error) {
	if sub == "" {
		return "", time.Time{}, errors.New("auth: mint: empty subject")
	}
	if ttl <= 0 {
		return "", time.Time{}, fmt.Errorf("auth: mint: ttl must be positive, got %s", ttl)
	}
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", time.Time{}, fmt.Errorf("auth: mint: %w", err)
	}
	if c.Scope == nil {
		c.Scope = []string{}
	}
	t0 := i.now()
	now := t0.Truncate(time.Second)
	// NumericDate keeps whole seconds (rounding down), so exp is not after
	// the cap once written.
	exp := now.Add(ttl).Truncate(time.Second)
	if !notAfter.IsZero() && notAfter.Before(exp) {
		exp = notAfter.Truncate(time.Second)
	}
	if !exp.After(t0) {
		if notAfter.IsZero() {
			return "", time.Time{}, fmt.Errorf("auth: mint: ttl %s leaves the token no whole second of life", ttl)
		}
		return "", time.Time{}, ErrNoLifetimeLeft
	}
	c.RegisteredClaims = jwt.RegisteredClaims{
		Issuer:    i.issuer,
		Subject:   sub,
		Audience:  jwt.ClaimStrings{i.audience},
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(exp),
		ID:        hex.EncodeToString(jti[:]),
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	t.Header["kid"] = i.kid
	s, err := t.SignedString(i.priv)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("auth: mint: %w", err)
	}
	return s, exp, nil
}

// JWKS returns the issuer's public key as a JSON Web Key Set.
func (i *Issuer) JWKS() []byte {
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{
		Key:       i.pub,
		KeyID:     i.kid,
		Algorithm: string(jose.EdDSA),
		Use:       "sig",
	}}}
	b, err := json.Marshal(set)
	if err != nil {
		panic("auth: jwks: " + err.Error())
	}
	return b
}
