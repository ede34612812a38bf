package daemon

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/client/apitype"
	"github.com/latchkey/latchkey/injector"
	"github.com/latchkey/latchkey/integrations"
	"github.com/latchkey/latchkey/vault"
	"github.com/latchkey/latchkey/vault/store"
)

// flowTTL bounds how long a consent page may stay open.
const flowTTL = 10 * time.Minute

// flow is one authorization-code connect in progress.
type flow struct {
	ID          string
	Integration string
	verifier    string
	nonce       string // OpenID Connect logins only
	expires     time.Time
	// complete finishes the flow from the redirect's query: an
	// integration's connect (finishConnect) or the identity's login
	// (finishLogin).
	complete func(ctx context.Context, f *flow, q url.Values) error
	done     chan struct{} // closed when the flow ends
	err      error         // set before done is closed
}

// flowTable holds connect flows by state. A state is single-use: taking it
// removes it. Finished flows stay findable by ID for a while so a CLI that
// waits on one learns how it ended.
type flowTable struct {
	mu      sync.Mutex
	byState map[string]*flow
	byID    map[string]*flow
}

func newFlowTable() *flowTable {
	return &flowTable{byState: map[string]*flow{}, byID: map[string]*flow{}}
}

func (t *flowTable) add(state string, f *flow) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	for s, old := range t.byState { // drop abandoned flows
		if now.After(old.expires) {
			delete(t.byState, s)
			old.finish(errors.New("the consent page was not completed in time"))
		}
	}
	for id, old := range t.byID {
		if now.After(old.expires.Add(flowTTL)) {
			delete(t.byID, id)
		}
	}
	t.byState[state] = f
	t.byID[f.ID] = f
}

// take removes and returns the flow of state (single use).
func (t *flowTable) take(state string) (*flow, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f, ok := t.byState[state]
	if ok {
		delete(t.byState, state)
	}
	return f, ok
}

func (t *flowTable) byFlowID(id string) (*flow, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f, ok := t.byID[id]
	return f, ok
}

func (f *flow) finish(err error) {
	select {
	case <-f.done:
	default:
		f.err = err
		close(f.done)
	}
}

func randomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error()) // never happens on supported systems
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// StartConnect begins an authorization-code flow for name and returns the
// consent URL (injector.Backend).
func (d *Daemon) StartConnect(ctx context.Context, name string) (string, error) {
	u, _, err := d.startConnect(name)
	return u, err
}

func (d *Daemon) startConnect(name string) (consentURL, flowID string, err error) {
	in, ok := d.integration(name)
	if !ok {
		return "", "", d.notConfigured(name)
	}
	oa, ok := in.(integrations.OAuth)
	if !ok {
		return "", "", fmt.Errorf("%s does not use OAuth: configure it with its API token (latchkey configure %s)", name, name)
	}
	state := randomString(32)
	verifier := oauth2.GenerateVerifier()
	f := &flow{ID: randomString(12), Integration: name, verifier: verifier, expires: time.Now().Add(flowTTL), complete: d.finishConnect, done: make(chan struct{})}
	d.flows.add(state, f)
	cfg := oa.OAuth2Config(d.redirectURL(name))
	return cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)), f.ID, nil
}

// FinishConnect completes a flow from the loopback redirect (injector.Backend).
func (d *Daemon) FinishConnect(ctx context.Context, name string, q url.Values) error {
	f, ok := d.flows.take(q.Get("state"))
	if !ok || f.Integration != name {
		return fmt.Errorf("%w: start the connection again", injector.ErrUnknownConnectState)
	}
	err := f.complete(ctx, f, q)
	f.finish(err)
	if err != nil {
		d.log.Warn("connect failed", "integration", name, "err", err)
	} else {
		d.log.Info("connected", "integration", name)
	}
	return err
}

func (d *Daemon) finishConnect(ctx context.Context, f *flow, q url.Values) error {
	code, err := redirectCode(f, q)
	if err != nil {
		return err
	}
	in, ok := d.integration(f.Integration)
	if !ok {
		return d.notConfigured(f.Integration)
	}
	oa := in.(integrations.OAuth)
	cfg := oa.OAuth2Config(d.redirectURL(f.Integration))
	tok, err := cfg.Exchange(d.oauthContext(ctx), code, oauth2.VerifierOption(f.verifier))
	if err != nil {
		return fmt.Errorf("exchange the authorization code: %w", classifyOAuthError(err))
	}
	return d.storeNewConnection(ctx, f.Integration, in, tok)
}

// redirectCode reads the authorization code from a loopback redirect, or
// the provider's refusal.
func redirectCode(f *flow, q url.Values) (string, error) {
	if time.Now().After(f.expires) {
		return "", errors.New("the consent page was not completed in time: start again")
	}
	if e := q.Get("error"); e != "" {
		desc := q.Get("error_description")
		if desc == "" {
			desc = e
		}
		return "", fmt.Errorf("%s refused: %s", f.Integration, desc)
	}
	code := q.Get("code")
	if code == "" {
		return "", errors.New("the redirect carried no authorization code")
	}
	return code, nil
}

// storeNewConnection seals a freshly granted token and records the account.
func (d *Daemon) storeNewConnection(ctx context.Context, name string, in integrations.Integration, tok *oauth2.Token) error {
	// Seal first so the account lookup below goes through the vault like
	// any call; the account of an earlier connection is cleared until then.
	if err := d.saveToken(ctx, name, tok, &vault.Account{}); err != nil {
		return fmt.Errorf("store the token: %w", err)
	}
	if al, ok := in.(integrations.AccountLookup); ok {
		acct, err := al.Account(ctx, d.tokens(name))
		if err != nil {
			d.log.Warn("account lookup failed", "integration", name, "err", err)
		} else {
			err := d.vault.SetAccount(ctx, name, vault.Account{ID: acct.ID, Username: acct.Username, DisplayName: acct.Name, Email: acct.Email})
			switch {
			case err == nil:
				d.changed()
			case !errors.Is(err, store.ErrNotFound):
				return err
			}
		}
	}
	return nil
}

// ConnectWithGrant connects name with a grant that needs no browser.
func (d *Daemon) ConnectWithGrant(ctx context.Context, name string, req apitype.GrantRequest) error {
	in, ok := d.integration(name)
	if !ok {
		return d.notConfigured(name)
	}
	var tok *oauth2.Token
	var err error
	switch req.Grant {
	case integrations.GrantPassword:
		g, ok := in.(integrations.PasswordGranter)
		if !ok {
			return fmt.Errorf("%s does not support the password grant", name)
		}
		tok, err = g.PasswordGrant(d.oauthContext(ctx), req.Username, req.Password)
	case integrations.GrantClientCredentials, integrations.GrantJWTBearer:
		tok, err = d.grantFor(ctx, name, in, req.Grant, req.Username)
	case integrations.GrantAPIToken:
		if req.Token == "" {
			return errors.New("no API token given")
		}
		tok = &oauth2.Token{AccessToken: req.Token, TokenType: "Bearer"}
	default:
		return fmt.Errorf("unknown grant %q", req.Grant)
	}
	if err != nil {
		return classifyOAuthError(err)
	}
	if req.Grant == integrations.GrantClientCredentials || req.Grant == integrations.GrantJWTBearer {
		// No refresh token comes with these: remember the grant (and who
		// to sign in as) so the daemon can renew the token unattended.
		if err := d.rememberGrant(name, req.Grant, req.Username); err != nil {
			return err
		}
	}
	return d.storeNewConnection(ctx, name, in, tok)
}

// runUnattendedGrant re-runs the integration's configured grant when it
// needs no user (client credentials, JWT bearer): the way to renew tokens
// that come without a refresh token.
func (d *Daemon) runUnattendedGrant(ctx context.Context, name string, in integrations.Integration) (*oauth2.Token, error) {
	grant := integrations.Grant(d.conf().Integrations[name].Grant)
	switch grant {
	case integrations.GrantClientCredentials, integrations.GrantJWTBearer:
		return d.grantFor(ctx, name, in, grant, d.conf().Integrations[name].Settings["username"])
	}
	return nil, fmt.Errorf("%s: the token expired and there is no refresh token: %w", name, integrations.ErrReconnectNeeded)
}

func (d *Daemon) grantFor(ctx context.Context, name string, in integrations.Integration, grant integrations.Grant, username string) (*oauth2.Token, error) {
	switch grant {
	case integrations.GrantClientCredentials:
		g, ok := in.(integrations.ClientCredentialsGranter)
		if !ok {
			return nil, fmt.Errorf("%s does not support the client-credentials grant", name)
		}
		return g.ClientCredentialsGrant(d.oauthContext(ctx))
	case integrations.GrantJWTBearer:
		g, ok := in.(integrations.JWTBearerGranter)
		if !ok {
			return nil, fmt.Errorf("%s does not support the JWT-bearer grant", name)
		}
		if username == "" {
			return nil, fmt.Errorf("the JWT-bearer grant needs the user name to sign in as (--username)")
		}
		key, err := d.loadSigningKey(ctx, name)
		if err != nil {
			return nil, err
		}
		return g.JWTBearerGrant(d.oauthContext(ctx), key, username)
	}
	return nil, fmt.Errorf("grant %q cannot run unattended", grant)
}

// jwtKeyMeta names the meta entry holding the sealed JWT-bearer private key.
func jwtKeyMeta(name string) string { return "jwt_bearer_key:" + name }

// StoreSigningKey seals an RSA private key for the JWT-bearer grant of name.
func (d *Daemon) StoreSigningKey(ctx context.Context, name string, key *rsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	return d.vault.SetSealedMeta(ctx, jwtKeyMeta(name), pemKey)
}

// HasSigningKey reports whether name has a sealed JWT-bearer signing key
// (latchkey keys generate refuses to replace one without --force).
func (d *Daemon) HasSigningKey(ctx context.Context, name string) bool {
	_, err := d.loadSigningKey(ctx, name)
	return err == nil
}

func (d *Daemon) loadSigningKey(ctx context.Context, name string) (*rsa.PrivateKey, error) {
	pemKey, err := d.vault.GetSealedMeta(ctx, jwtKeyMeta(name))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("no JWT-bearer key for %s: run `latchkey keys generate %s` and upload the public key", name, name)
	}
	if err != nil {
		return nil, fmt.Errorf("the JWT-bearer key of %s cannot be opened (%v): generate a new one", name, err)
	}
	block, _ := pem.Decode(pemKey)
	if block == nil {
		return nil, errors.New("sealed JWT-bearer key is not PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("sealed JWT-bearer key is not RSA")
	}
	return rk, nil
}

// Disconnect deletes name's sealed token here and in the remote store
// (injector.Backend). Docebo has no revocation endpoint; the token expires
// on its own at the provider.
func (d *Daemon) Disconnect(ctx context.Context, name string) error {
	if in, ok := d.lookupIntegration(name); ok {
		if dc, ok := in.(integrations.Disconnector); ok {
			return dc.Disconnect(ctx)
		}
	}
	if _, ok := d.integration(name); !ok {
		if _, err := d.store.GetConnection(ctx, name); err != nil {
			return d.notConfigured(name)
		}
	}
	if err := d.vault.Disconnect(ctx, name, d.pushEnabled()); err != nil {
		return err
	}
	d.kickSync()
	d.changed()
	d.log.Info("disconnected", "integration", name)
	return nil
}

// oauthContext carries the daemon's HTTP client to golang.org/x/oauth2.
func (d *Daemon) oauthContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, d.http)
}

func newHTTPClient() *http.Client {
	// The integrations' egress policy: no proxy from the environment (a
	// refresh token or client secret goes straight to the provider), and no
	// redirects (following one could carry credentials to another host).
	t := integrations.EgressTransport().Clone()
	t.MaxIdleConnsPerHost = 32
	return &http.Client{Transport: t, Timeout: 60 * time.Second, CheckRedirect: integrations.NoRedirect}
}

// What `latchkey configure` reads from stdin for an integration.
const (
	SecretClient = "client" // the OAuth client secret, kept in the keychain
	SecretToken  = "token"  // a static API token, sealed in the vault
	SecretNone   = "none"
)

// SecretKind resolves the --secret flag: auto means the client secret for
// OAuth integrations and the API token for the others.
func (d *Daemon) SecretKind(name, flag string) (string, error) {
	switch flag {
	case SecretClient, SecretToken, SecretNone:
		return flag, nil
	case "", "auto":
	default:
		return "", fmt.Errorf("--secret %q: use client, token, none or auto", flag)
	}
	in, ok := d.integration(name)
	if !ok {
		return "", d.notConfigured(name)
	}
	if _, ok := in.(integrations.OAuth); ok {
		return SecretClient, nil
	}
	return SecretToken, nil
}

// SetClientSecret keeps name's client secret in the keychain and rebuilds
// the integrations with it.
func (d *Daemon) SetClientSecret(name, secret string) error {
	if err := d.vault.SetSecret(secretName(name), secret); err != nil {
		return fmt.Errorf("store the client secret in the keychain: %w", err)
	}
	d.buildIntegrations()
	return nil
}

// HasClientSecret reports whether the keychain holds name's client secret.
func (d *Daemon) HasClientSecret(name string) bool {
	s, err := d.vault.GetSecret(secretName(name))
	return err == nil && s != ""
}
