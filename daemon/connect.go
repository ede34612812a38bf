package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/injector"
	"github.com/latchkey/latchkey/integrations"
	"github.com/latchkey/latchkey/vault"
	"github.com/latchkey/latchkey/vault/store"
)

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
