package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/golang-jwt/jwt/v5"

	"github.com/latchkey/latchkey/internal/jwks"
)

// ErrInvalidToken is returned (wrapped, with the reason) for every token that
// is refused. The message never contains the token.
var ErrInvalidToken = errors.New("invalid token")

// Sources of a verified token (Claims.Source).
const (
	SourceLocal = "local"
	SourceIdP   = "idp"
	// SourceClientPrefix prefixes the source of tokens minted for a
	// personal OAuth2 client: "client:<id>" (also their sub).
	SourceClientPrefix = "client:"
	// SourceAppPrefix prefixes the source (and sub) of tokens minted for
	// an app's grant: "app:<grant id>".
	SourceAppPrefix = "app:"
)

// Claims is what a verified token says about its caller.
type Claims struct {
	Subject string
	Scope   []string
	// Source is "local", "idp", "client:<id>" or "app:<grant id>".
	Source string
	Expiry time.Time
	// ClientID is the app a grant's token was minted for (empty for other
	// tokens).
	ClientID string
	// Resource is the path a token is bound to ("/mcp", "/v1"); empty:
	// every route.
	Resource string
}

// Allows reports whether the caller may use integration: its scope holds
// the integration's name or "*".
func (c Claims) Allows(integration string) bool {
	for _, s := range c.Scope {
		if s == "*" || s == integration {
			return true
		}
	}
	return false
}

// IdPConfig configures acceptance of the organisation's identity provider's
// JWTs.
type IdPConfig struct {
	// IssuerURL is the provider's issuer; discovery reads
	// IssuerURL + "/.well-known/openid-configuration".
	IssuerURL string
	// Audience is the aud the tokens must carry: one meant for latchkey's
	// local API.
	Audience string
	// RefuseAudiences: a token whose aud names any of these is refused even
	// when it also names Audience. The daemon lists its own client id
	// there, so the ID token it presents to latchkey-store is never a
	// credential for the local API. Audience may not be one of them.
	RefuseAudiences []string
	// SubjectFunc, when set, is asked on every request (cached tokens too)
	// for the only sub accepted, so a sign-in or sign-out takes effect
	// without rebuilding the verifier; "" accepts no provider token. It
	// must be cheap and safe for concurrent use.
	SubjectFunc func() string
	// Subject, when set, is the only sub accepted (the signed-in user), so
	// that another person of the same organisation cannot use this daemon.
	Subject string
	// Scope is the scope an identity-provider token is given; default "*".
	Scope []string
	// Algorithms allow-lists signature algorithms; default RS256, RS384,
	// RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA. HMAC and "none"
	// are never accepted.
	Algorithms []string
	// MinRefetchInterval bounds how often an unknown kid triggers a JWKS
	// fetch (and how often failed discovery is retried); default 30s.
	MinRefetchInterval time.Duration
	// HTTPClient fetches discovery and JWKS; default a client with a 10s
	// timeout.
	HTTPClient *http.Client
}

// VerifierConfig configures a Verifier.
type VerifierConfig struct {
	// Local accepts tokens minted by this issuer (its key, iss and aud).
	Local *Issuer
	// IdP, when set, also accepts the identity provider's tokens.
	IdP *IdPConfig
	// Leeway for exp and nbf; default 30s.
	Leeway time.Duration
	// CacheSize bounds the verification cache; default 8192 entries.
	CacheSize int
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Verifier verifies caller tokens. It is safe for concurrent use.
type Verifier struct {
	now    func() time.Time
	leeway time.Duration

	local       *Issuer
	localParser *jwt.Parser

	idp *idpVerifier

	cache *cache
}

// NewVerifier returns a verifier for cfg. It does not contact the identity
// provider: discovery happens on the first token that names it.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	if cfg.Local == nil && cfg.IdP == nil {
		return nil, errors.New("auth: verifier needs a local issuer, an identity provider, or both")
	}
	v := &Verifier{now: cfg.Now, leeway: cfg.Leeway, local: cfg.Local}
	if v.now == nil {
		v.now = time.Now
	}
	if v.leeway <= 0 {
		v.leeway = 30 * time.Second
	}
	size := cfg.CacheSize
	if size <= 0 {
		size = 8192
	}
	v.cache = newCache(size)
	if cfg.Local != nil {
		v.localParser = jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
			jwt.WithIssuer(cfg.Local.issuer),
			jwt.WithAudience(cfg.Local.audience),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			// No leeway: local tokens are minted and verified on one
			// clock, so exp means exp (a personal client's token stops
			// with the client).
			jwt.WithTimeFunc(v.now),
			jwt.WithStrictDecoding(),
		)
	}
	if cfg.IdP != nil {
		idp, err := newIdPVerifier(*cfg.IdP, v.now, v.leeway)
		if err != nil {
			return nil, err
		}
		if cfg.Local != nil && idp.cfg.IssuerURL == cfg.Local.issuer {
			return nil, errors.New("auth: the identity provider's issuer equals the local issuer")
		}
		v.idp = idp
	}
	return v, nil
}

// Verify checks token and returns its claims, or an error wrapping
// ErrInvalidToken. The returned Scope is shared with the cache: treat it as
// read-only. Verify keeps nothing of token past the call, so token may view
// a buffer the caller reuses (fasthttp's request header).
func (v *Verifier) Verify(ctx context.Context, token string) (Claims, error) {
	if token == "" {
		return Claims{}, fmt.Errorf("%w: no token", ErrInvalidToken)
	}
	if len(token) > 16<<10 {
		return Claims{}, fmt.Errorf("%w: too long", ErrInvalidToken)
	}
	key := sha256.Sum256(unsafe.Slice(unsafe.StringData(token), len(token))) // read only
	now := v.now()
	c, ok := v.cache.get(key, now)
	if !ok {
		var err error
		// The parsers may keep parts of what they parse: give them a copy.
		if c, err = v.verify(ctx, strings.Clone(token)); err != nil {
			return Claims{}, err
		}
		v.cache.put(key, c, now)
	}
	if c.Source == SourceIdP && v.idp != nil && v.idp.cfg.SubjectFunc != nil {
		if sub := v.idp.cfg.SubjectFunc(); sub == "" || sub != c.Subject {
			return Claims{}, fmt.Errorf("%w: token is for another user, or nobody is signed in", ErrInvalidToken)
		}
	}
	return c, nil
}

func (v *Verifier) verify(ctx context.Context, token string) (Claims, error) {
	// Route by the (not yet trusted) iss; the chosen verifier then checks
	// everything, iss included, with the library.
	var peek jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(token, &peek); err != nil {
		return Claims{}, fmt.Errorf("%w: malformed", ErrInvalidToken)
	}
	switch {
	case v.local != nil && peek.Issuer == v.local.issuer:
		return v.verifyLocal(token)
	case v.idp != nil && peek.Issuer == v.idp.cfg.IssuerURL:
		return v.idp.verify(ctx, token)
	default:
		return Claims{}, fmt.Errorf("%w: unknown issuer", ErrInvalidToken)
	}
}

func (v *Verifier) verifyLocal(token string) (Claims, error) {
	var lc localClaims
	_, err := v.localParser.ParseWithClaims(token, &lc, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if kid != v.local.kid {
			return nil, errors.New("unknown key id")
		}
		return v.local.pub, nil
	})
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if lc.Subject == "" {
		return Claims{}, fmt.Errorf("%w: no subject", ErrInvalidToken)
	}
	src := SourceLocal
	if strings.HasPrefix(lc.Subject, SourceClientPrefix) || strings.HasPrefix(lc.Subject, SourceAppPrefix) {
		src = lc.Subject
	}
	if strings.HasPrefix(lc.Subject, SourceAppPrefix) && lc.ClientID == "" {
		return Claims{}, fmt.Errorf("%w: an app token without a client id", ErrInvalidToken)
	}
	return Claims{
		Subject:  lc.Subject,
		Scope:    slices.Clone(lc.Scope),
		Source:   src,
		Expiry:   lc.ExpiresAt.Time,
		ClientID: lc.ClientID,
		Resource: lc.Resource,
	}, nil
}

// idpVerifier verifies the identity provider's tokens with go-oidc, on a
// key set that re-fetches the JWKS on an unknown kid at a bounded rate.
type idpVerifier struct {
	cfg    IdPConfig
	now    func() time.Time
	leeway time.Duration

	mu       sync.Mutex
	verifier *oidc.IDTokenVerifier
	lastTry  time.Time
	lastErr  error
}

var defaultIdPAlgs = []string{
	oidc.RS256, oidc.RS384, oidc.RS512,
	oidc.PS256, oidc.PS384, oidc.PS512,
	oidc.ES256, oidc.ES384, oidc.ES512,
	oidc.EdDSA,
}

func newIdPVerifier(cfg IdPConfig, now func() time.Time, leeway time.Duration) (*idpVerifier, error) {
	if cfg.IssuerURL == "" || cfg.Audience == "" {
		return nil, errors.New("auth: identity provider needs an issuer URL and an audience")
	}
	cfg.IssuerURL = strings.TrimSuffix(cfg.IssuerURL, "/")
	if slices.Contains(cfg.RefuseAudiences, cfg.Audience) {
		return nil, errors.New("auth: the identity provider's accepted audience is also a refused one")
	}
	if len(cfg.Algorithms) == 0 {
		cfg.Algorithms = defaultIdPAlgs
	}
	for _, a := range cfg.Algorithms {
		if !slices.Contains(defaultIdPAlgs, a) {
			return nil, fmt.Errorf("auth: algorithm %q is not allowed for identity-provider tokens", a)
		}
	}
	if len(cfg.Scope) == 0 {
		cfg.Scope = []string{"*"}
	}
	if cfg.MinRefetchInterval <= 0 {
		cfg.MinRefetchInterval = 30 * time.Second
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	return &idpVerifier{cfg: cfg, now: now, leeway: leeway}, nil
}

// get returns the go-oidc verifier, running discovery first if needed (at
// most once per MinRefetchInterval while it fails).
func (p *idpVerifier) get(ctx context.Context) (*oidc.IDTokenVerifier, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.verifier != nil {
		return p.verifier, nil
	}
	now := p.now()
	if !p.lastTry.IsZero() && now.Sub(p.lastTry) < p.cfg.MinRefetchInterval {
		return nil, fmt.Errorf("identity provider discovery failed recently: %v", p.lastErr)
	}
	p.lastTry = now
	// Not the caller's cancellation: a caller giving up must not count as a
	// failed discovery (which would block retries for MinRefetchInterval).
	dctx, cancel := context.WithTimeout(oidc.ClientContext(context.WithoutCancel(ctx), p.cfg.HTTPClient), 10*time.Second)
	defer cancel()
	prov, err := oidc.NewProvider(dctx, p.cfg.IssuerURL)
	if err != nil {
		p.lastErr = err
		return nil, fmt.Errorf("identity provider discovery: %w", err)
	}
	var meta struct {
		JWKSURI string   `json:"jwks_uri"`
		Algs    []string `json:"id_token_signing_alg_values_supported"`
	}
	if err := prov.Claims(&meta); err != nil || meta.JWKSURI == "" {
		p.lastErr = errors.New("no jwks_uri in discovery document")
		return nil, p.lastErr
	}
	algs := p.cfg.Algorithms
	if len(meta.Algs) > 0 {
		algs = nil
		for _, a := range p.cfg.Algorithms {
			if slices.Contains(meta.Algs, a) {
				algs = append(algs, a)
			}
		}
		if len(algs) == 0 {
			p.lastErr = errors.New("the provider supports none of the allowed algorithms")
			return nil, p.lastErr
		}
	}
	ks := jwks.New(jwks.Options{
		URL:        meta.JWKSURI,
		HTTPClient: p.cfg.HTTPClient,
		Algorithms: algs,
		MinRefetch: p.cfg.MinRefetchInterval,
		Timeout:    10 * time.Second,
		Now:        p.now,
	})
	p.verifier = oidc.NewVerifier(p.cfg.IssuerURL, ks, &oidc.Config{
		ClientID:             p.cfg.Audience,
		SupportedSigningAlgs: algs,
		// go-oidc checks exp strictly against Now; moving Now back by
		// the leeway gives exp the same leeway as local tokens.
		Now: func() time.Time { return p.now().Add(-p.leeway) },
	})
	return p.verifier, nil
}

func (p *idpVerifier) verify(ctx context.Context, token string) (Claims, error) {
	ver, err := p.get(ctx)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	idt, err := ver.Verify(ctx, token)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if idt.Subject == "" {
		return Claims{}, fmt.Errorf("%w: no subject", ErrInvalidToken)
	}
	for _, a := range idt.Audience {
		if slices.Contains(p.cfg.RefuseAudiences, a) {
			return Claims{}, fmt.Errorf("%w: the token is also for audience %q, not only for the local API", ErrInvalidToken, a)
		}
	}
	if p.cfg.Subject != "" && idt.Subject != p.cfg.Subject {
		return Claims{}, fmt.Errorf("%w: token is for another user", ErrInvalidToken)
	}
	return Claims{
		Subject: idt.Subject,
		Scope:   slices.Clone(p.cfg.Scope),
		Source:  SourceIdP,
		Expiry:  idt.Expiry,
	}, nil
}
