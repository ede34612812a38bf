package docebo

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/integrations"
)

// AssertionLifetime is the validity of a JWT-bearer assertion this package
// signs. A public client uses two days; the maximum Docebo accepts is
// unconfirmed, and an assertion is used at once, so it is kept short.
const AssertionLifetime = 5 * time.Minute

// KeyBits is the RSA modulus size GenerateKeyPair uses.
const KeyBits = 2048

// PasswordGrant runs the resource-owner password grant for username. The
// password is sent once to the token endpoint and not kept.
func (d *Docebo) PasswordGrant(ctx context.Context, username, password string) (*oauth2.Token, error) {
	if username == "" || password == "" {
		return nil, errors.New("docebo: password grant needs a username and a password")
	}
	return d.postToken(ctx, url.Values{
		"grant_type": {string(integrations.GrantPassword)},
		"username":   {username},
		"password":   {password},
	})
}

// ClientCredentialsGrant runs the client-credentials grant (a token of the
// OAuth2 app itself, with no user: Docebo's newer APIs refuse it for
// learner data).
func (d *Docebo) ClientCredentialsGrant(ctx context.Context) (*oauth2.Token, error) {
	return d.postToken(ctx, url.Values{"grant_type": {string(integrations.GrantClientCredentials)}})
}

// RefreshGrant exchanges refreshToken for a new token. When the answer
// carries no refresh_token (the platform does not rotate), the returned
// token keeps refreshToken, so the caller can always store what it gets.
func (d *Docebo) RefreshGrant(ctx context.Context, refreshToken string) (*oauth2.Token, error) {
	if refreshToken == "" {
		return nil, fmt.Errorf("docebo: no refresh token: %w", integrations.ErrReconnectNeeded)
	}
	tok, err := d.postToken(ctx, url.Values{
		"grant_type":    {string(integrations.GrantRefreshToken)},
		"refresh_token": {refreshToken},
	})
	if err != nil {
		return nil, err
	}
	if tok.RefreshToken == "" {
		tok.RefreshToken = refreshToken
	}
	return tok, nil
}

// JWTBearerGrant signs an RS256 assertion for username with key (iss = the
// client id, sub = username, aud = Audience, iat and exp in seconds) and
// exchanges it at the token endpoint. client_id and client_secret are posted
// too (unconfirmed whether Docebo needs them; harmless).
func (d *Docebo) JWTBearerGrant(ctx context.Context, key *rsa.PrivateKey, username string) (*oauth2.Token, error) {
	if key == nil {
		return nil, errors.New("docebo: JWT bearer grant needs a private key (latchkey keys generate docebo)")
	}
	if username == "" {
		return nil, errors.New("docebo: JWT bearer grant needs the Docebo username to sign in as")
	}
	assertion, err := d.Assertion(key, username)
	if err != nil {
		return nil, err
	}
	return d.postToken(ctx, url.Values{
		"grant_type": {string(integrations.GrantJWTBearer)},
		"assertion":  {assertion},
	})
}

// Assertion returns the signed JWT-bearer assertion JWTBearerGrant posts.
func (d *Docebo) Assertion(key *rsa.PrivateKey, username string) (string, error) {
	now := d.now()
	claims := jwt.MapClaims{
		"iss": d.clientID,
		"sub": username,
		"aud": d.Audience(),
		"iat": now.Unix(),
		"exp": now.Add(AssertionLifetime).Unix(),
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(key)
	if err != nil {
		return "", fmt.Errorf("docebo: sign assertion: %w", err)
	}
	return s, nil
}

// Audience is the "aud" of JWT-bearer assertions: the "jwt_audience"
// setting when set (a platform on a custom domain may expect its
// <name>.docebosaas.com host), else the configured platform host without
// scheme (with the port when the base URL has one, as a loopback sandbox
// does).
func (d *Docebo) Audience() string {
	if d.jwtAudience != "" {
		return d.jwtAudience
	}
	return d.base.Host
}

// GenerateKeyPair makes an RSA key pair for the JWT-bearer grant and returns
// the private key and the public key as PEM ("-----BEGIN PUBLIC KEY-----",
// PKIX), the form Docebo's API and SSO app accepts.
func GenerateKeyPair() (priv *rsa.PrivateKey, publicPEM []byte, err error) {
	priv, err = rsa.GenerateKey(rand.Reader, KeyBits)
	if err != nil {
		return nil, nil, fmt.Errorf("docebo: generate key: %w", err)
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return nil, nil, fmt.Errorf("docebo: encode public key: %w", err)
	}
	return priv, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// tokenResponse is the token endpoint's JSON. expires_in is read as a number
// or a string.
type tokenResponse struct {
	AccessToken  string     `json:"access_token"`
	TokenType    string     `json:"token_type"`
	RefreshToken string     `json:"refresh_token"`
	ExpiresIn    flexInt    `json:"expires_in"`
	Scope        flexString `json:"scope"`
}

// postToken posts form (plus scope, client_id and client_secret in the body)
// to the token endpoint, form-urlencoded, retrying 429/503 like API calls.
func (d *Docebo) postToken(ctx context.Context, form url.Values) (*oauth2.Token, error) {
	form.Set("scope", Scope)
	form.Set("client_id", d.clientID)
	if d.secret != "" {
		form.Set("client_secret", d.secret)
	}
	enc := form.Encode()
	grant := form.Get("grant_type")
	var waited time.Duration
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.url(TokenPath), strings.NewReader(enc))
		if err != nil {
			return nil, fmt.Errorf("docebo: token request: %w", err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		resp, err := d.hc.Do(req)
		if err != nil {
			return nil, fmt.Errorf("docebo: %s grant: %w", grantLabel(grant), scrubURLError(err))
		}
		body, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if rerr != nil {
			return nil, fmt.Errorf("docebo: %s grant: read response: %w", grantLabel(grant), rerr)
		}
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
			wait := d.retryWait(resp.Header.Get("Retry-After"), attempt)
			if err := d.sleepForRetry(ctx, attempt, &waited, wait); err != nil {
				return nil, &integrations.RateLimitError{Status: resp.StatusCode, RetryAfter: wait}
			}
			continue
		}
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return nil, tokenError(parseError(resp.StatusCode, body))
		}
		var tr tokenResponse
		if err := json.Unmarshal(body, &tr); err != nil {
			return nil, fmt.Errorf("docebo: %s grant: token response is not JSON: %s", grantLabel(grant), snippet(body))
		}
		if tr.AccessToken == "" {
			// Some servers answer 200 with an OAuth error body.
			return nil, tokenError(parseError(resp.StatusCode, body))
		}
		tok := &oauth2.Token{
			AccessToken:  tr.AccessToken,
			TokenType:    tr.TokenType,
			RefreshToken: tr.RefreshToken,
		}
		if tok.TokenType == "" {
			tok.TokenType = "Bearer"
		}
		if tr.ExpiresIn > 0 {
			tok.Expiry = d.now().Add(time.Duration(tr.ExpiresIn) * time.Second)
			tok.ExpiresIn = int64(tr.ExpiresIn)
		}
		if tr.Scope != "" {
			tok = tok.WithExtra(map[string]any{"scope": string(tr.Scope)})
		}
		return tok, nil
	}
}

func grantLabel(g string) string {
	if g == string(integrations.GrantJWTBearer) {
		return "jwt-bearer"
	}
	return g
}
