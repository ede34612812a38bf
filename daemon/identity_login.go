package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/client/apitype"
	"github.com/latchkey/latchkey/integrations"
	"github.com/latchkey/latchkey/vault"
	"github.com/latchkey/latchkey/vault/store"
)

// identitySecret is the keychain item of the identity provider's client secret.
var identitySecret = secretName(identityName)

// oidcCache holds the discovered provider (discovery happens on first use,
// so a provider that is down at start-up does not stop the daemon).
type oidcCache struct {
	mu       sync.Mutex
	issuer   string
	provider *oidc.Provider
}

func (d *Daemon) oidcProvider(ctx context.Context) (*oidc.Provider, error) {
	iss := d.conf().Identity.Issuer
	if iss == "" {
		return nil, errors.New("no identity provider is configured: latchkey configure identity --issuer URL --client-id ID")
	}
	d.oidc.mu.Lock()
	defer d.oidc.mu.Unlock()
	if d.oidc.provider != nil && d.oidc.issuer == iss {
		return d.oidc.provider, nil
	}
	// go-oidc keeps only the HTTP client of this context for later JWKS
	// fetches, not its deadline.
	dctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, d.http), 15*time.Second)
	defer cancel()
	p, err := oidc.NewProvider(dctx, issuerURL(iss))
	if err != nil {
		return nil, fmt.Errorf("OpenID Connect discovery at %s: %w", iss, err)
	}
	d.oidc.issuer, d.oidc.provider = iss, p
	return p, nil
}

// identityOAuth is the OAuth client of the identity provider.
func (d *Daemon) identityOAuth(p *oidc.Provider) (*oauth2.Config, error) {
	id := d.conf().Identity
	secret, err := d.vault.GetSecret(identitySecret)
	if err != nil {
		secret = "" // a public client
	}
	ep := p.Endpoint()
	switch id.AuthMethod {
	case "", "client_secret_basic":
		ep.AuthStyle = oauth2.AuthStyleInHeader
	case "client_secret_post":
		ep.AuthStyle = oauth2.AuthStyleInParams
	default:
		return nil, fmt.Errorf("identity auth_method %q: use client_secret_basic or client_secret_post", id.AuthMethod)
	}
	scopes := id.Scopes
	if len(scopes) == 0 {
		scopes = []string{oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess}
	}
	return &oauth2.Config{ClientID: id.ClientID, ClientSecret: secret, Endpoint: ep, Scopes: scopes, RedirectURL: d.redirectURL(identityName)}, nil
}

// StartLogin begins an OpenID Connect sign-in: authorization code with PKCE
// S256, a single-use state and a nonce.
func (d *Daemon) StartLogin(ctx context.Context) (consentURL, flowID string, err error) {
	p, err := d.oidcProvider(ctx)
	if err != nil {
		return "", "", err
	}
	cfg, err := d.identityOAuth(p)
	if err != nil {
		return "", "", err
	}
	state, nonce, verifier := randomString(32), randomString(32), oauth2.GenerateVerifier()
	f := &flow{ID: randomString(12), Integration: identityName, verifier: verifier, nonce: nonce, expires: time.Now().Add(flowTTL), complete: d.finishLogin, done: make(chan struct{})}
	d.flows.add(state, f)
	return cfg.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), f.ID, nil
}

// idClaims are the ID-token claims latchkey provisions the identity from.
type idClaims struct {
	Name              string   `json:"name"`
	GivenName         string   `json:"given_name"`
	FamilyName        string   `json:"family_name"`
	Email             string   `json:"email"`
	PreferredUsername string   `json:"preferred_username"`
	Groups            []string `json:"groups"`
}

func (d *Daemon) finishLogin(ctx context.Context, f *flow, q url.Values) error {
	code, err := redirectCode(f, q)
	if err != nil {
		return err
	}
	p, err := d.oidcProvider(ctx)
	if err != nil {
		return err
	}
	cfg, err := d.identityOAuth(p)
	if err != nil {
		return err
	}
	octx := d.oauthContext(ctx)
	tok, err := cfg.Exchange(octx, code, oauth2.VerifierOption(f.verifier))
	if err != nil {
		return fmt.Errorf("exchange the authorization code: %w", classifyOAuthError(err))
	}
	idt, claims, err := d.verifyIDToken(octx, p, tok)
	if err != nil {
		return err
	}
	if idt.Nonce != f.nonce {
		return errors.New("the ID token's nonce does not match this sign-in: refused")
	}
	return d.storeIdentity(ctx, idt, claims, tok)
}

// verifyIDToken checks the token response's ID token: signature against the
// provider's JWKS (re-fetched on an unknown key id, so key rotation needs no
// restart), iss, aud = our client id, exp.
func (d *Daemon) verifyIDToken(ctx context.Context, p *oidc.Provider, tok *oauth2.Token) (*oidc.IDToken, idClaims, error) {
	var c idClaims
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, c, errors.New("the identity provider returned no ID token (is the openid scope allowed?)")
	}
	idt, err := p.VerifierContext(ctx, &oidc.Config{ClientID: d.conf().Identity.ClientID}).Verify(ctx, raw)
	if err != nil {
		return nil, c, fmt.Errorf("the ID token is not valid: %w", err)
	}
	if err := idt.Claims(&c); err != nil {
		return nil, c, fmt.Errorf("ID token claims: %w", err)
	}
	return idt, c, nil
}

func (d *Daemon) storeIdentity(ctx context.Context, idt *oidc.IDToken, c idClaims, tok *oauth2.Token) error {
	name := c.Name
	if name == "" {
		name = strings.TrimSpace(c.GivenName + " " + c.FamilyName)
	}
	acct := &vault.Account{ID: idt.Subject, Username: c.PreferredUsername, DisplayName: name, Email: c.Email}
	// The groups are stored with the token, in one transaction.
	if err := d.saveTokenMeta(ctx, identityName, tok, acct, map[string]string{"identity_groups": strings.Join(c.Groups, "\n")}); err != nil {
		return err
	}
	d.signedInSub.Store(idt.Subject)
	if err := d.rebind(ctx, idt.Subject); err != nil {
		return err
	}
	d.kickOrgPull() // the organisation's integrations, now that the store knows who this is
	return nil
}

// refreshIdentity refreshes the identity tokens; the new ID token, when the
// provider sends one, is verified like the first.
func (d *Daemon) refreshIdentity(ctx context.Context, cur *oauth2.Token) (*oauth2.Token, error) {
	if cur.RefreshToken == "" {
		return nil, fmt.Errorf("the identity session expired: %w (latchkey login)", integrations.ErrReconnectNeeded)
	}
	p, err := d.oidcProvider(ctx)
	if err != nil {
		return nil, err
	}
	cfg, err := d.identityOAuth(p)
	if err != nil {
		return nil, err
	}
	octx := d.oauthContext(ctx)
	tok, err := cfg.TokenSource(octx, &oauth2.Token{RefreshToken: cur.RefreshToken}).Token()
	if err != nil {
		return nil, classifyOAuthError(err)
	}
	if raw, _ := tok.Extra("id_token").(string); raw != "" {
		idt, _, err := d.verifyIDToken(octx, p, tok)
		if err != nil {
			return nil, err
		}
		// OpenID Connect Core §12.2: a refreshed ID token is for the same person.
		if sub := d.identitySubject(ctx); sub != "" && idt.Subject != sub {
			return nil, fmt.Errorf("the refreshed ID token is for another subject: %w (latchkey login)", integrations.ErrReconnectNeeded)
		}
	} else if old, _ := cur.Extra("id_token").(string); old != "" {
		tok = tok.WithExtra(map[string]any{"id_token": old})
	}
	return tok, nil
}

// revokeRefresh revokes refresh at the provider's revocation endpoint, if
// it has one, authenticating like the token endpoint.
func (d *Daemon) revokeRefresh(ctx context.Context, p *oidc.Provider, refresh string) bool {
	var meta struct {
		Revocation string `json:"revocation_endpoint"`
	}
	if refresh == "" || p.Claims(&meta) != nil || meta.Revocation == "" {
		return false
	}
	cfg, err := d.identityOAuth(p)
	if err != nil {
		return false
	}
	form := url.Values{"token": {refresh}, "token_type_hint": {"refresh_token"}}
	basic := cfg.Endpoint.AuthStyle != oauth2.AuthStyleInParams && cfg.ClientSecret != ""
	if !basic {
		form.Set("client_id", cfg.ClientID)
		if cfg.ClientSecret != "" {
			form.Set("client_secret", cfg.ClientSecret)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, meta.Revocation, strings.NewReader(form.Encode()))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic {
		req.SetBasicAuth(url.QueryEscape(cfg.ClientID), url.QueryEscape(cfg.ClientSecret))
	}
	resp, err := d.http.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Logout signs the identity out on this device, then ends the session at
// the provider (RP-initiated logout, POST with id_token_hint, so the ID
// token never rides in a URL) and revokes the refresh token there.
//
// Locally it is ordered so that a crash at any point leaves the device
// either still signed in (nothing written yet) or signed out: the identity's
// token, its connection, its groups and the re-binding target change in
// one transaction (vault.SignOut), and the records are re-bound to the OS
// user after it (finished at the next start if cut short). The provider is
// called last, with the tokens read before: a provider that is slow or
// down does not keep the device signed in.
func (d *Daemon) Logout(ctx context.Context) (apitype.LogoutResult, error) {
	var res apitype.LogoutResult
	d.signedInSub.Store("") // provider tokens stop working at once
	tok, _, err := d.vault.LoadLatestToken(ctx, identityName)
	if err != nil && !isNotFound(err) {
		d.log.Warn("identity token unreadable at logout", "err", err)
	}
	conn := store.Connection{Integration: identityName, State: store.StateDisconnected, UpdatedAt: time.Now()}
	if err := d.vault.SignOut(ctx, identityName, conn, map[string]string{"identity_groups": ""}, d.pushEnabled()); err != nil {
		return res, fmt.Errorf("sign out: %w", err)
	}
	if err := d.logoutStep("signed-out"); err != nil {
		return res, err
	}
	if err := d.rebind(ctx, ""); err != nil { // back to the OS user
		return res, err
	}
	d.changed()
	if err := d.logoutStep("rebound"); err != nil {
		return res, err
	}
	hint := ""
	if tok != nil {
		hint, _ = tok.Extra("id_token").(string)
	}
	res.Note = "the provider has no end-session endpoint"
	if p, perr := d.oidcProvider(ctx); perr == nil && tok != nil {
		res.RefreshRevoked = d.revokeRefresh(ctx, p, tok.RefreshToken)
	}
	if p, perr := d.oidcProvider(ctx); perr == nil && hint != "" {
		var meta struct {
			EndSession string `json:"end_session_endpoint"`
		}
		if p.Claims(&meta) == nil && meta.EndSession != "" {
			form := url.Values{"id_token_hint": {hint}, "client_id": {d.conf().Identity.ClientID}}
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, meta.EndSession, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := d.http.Do(req)
			if err != nil {
				res.Note = "the provider could not be reached: " + err.Error()
			} else {
				resp.Body.Close()
				if resp.StatusCode < 400 {
					res.ProviderSession, res.Note = true, ""
				} else {
					res.Note = fmt.Sprintf("the provider's end-session endpoint answered HTTP %d", resp.StatusCode)
				}
			}
		}
	} else if hint == "" {
		res.Note = "there was no ID token to end the provider session with"
	}
	return res, nil
}

// logoutStep lets a test stop Logout after a step, as a crash there would.
func (d *Daemon) logoutStep(step string) error {
	if d.testLogoutStep != nil {
		return d.testLogoutStep(step)
	}
	return nil
}

// storeBearer is the bearer the daemon presents to latchkey-store: the
// organisation identity's ID token.
func (d *Daemon) storeBearer(ctx context.Context) (string, error) {
	tok, err := d.tokens(identityName).Token(ctx)
	if err != nil {
		return "", fmt.Errorf("the remote store needs you signed in to your organisation (latchkey login): %w", err)
	}
	if raw, _ := tok.Extra("id_token").(string); raw != "" {
		return raw, nil
	}
	return tok.AccessToken, nil
}
