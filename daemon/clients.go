package daemon

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/latchkey/latchkey/client/apitype"
	"github.com/latchkey/latchkey/injector"
	"github.com/latchkey/latchkey/injector/auth"
	"github.com/latchkey/latchkey/integrations"
	"github.com/latchkey/latchkey/vault/store"
)

// Personal OAuth2 clients (client id + secret with an expiry, revocable): a script exchanges a client id and
// secret at the injector's POST /oauth2/token for a short-lived local JWT
// scoped to the client's integrations. The secret is shown once; only its
// SHA-256 is kept (it is 256 random bits, so a slow hash adds nothing).

var _ injector.ClientAuthenticator = (*Daemon)(nil)

// errInvalidClient is deliberately vague: a caller learns nothing about
// which part was wrong.
var errInvalidClient = errors.New("invalid_client: unknown, expired or revoked client, or wrong secret")

// CreateClient makes a personal client and returns its secret once.
func (d *Daemon) CreateClient(ctx context.Context, req apitype.CreateClientRequest) (apitype.CreatedClient, error) {
	if strings.TrimSpace(req.Name) == "" {
		return apitype.CreatedClient{}, errors.New("a client needs a name")
	}
	for _, n := range req.Integrations {
		if !d.registry.Has(n) {
			return apitype.CreatedClient{}, fmt.Errorf("unknown integration %q (known: %s)", n, strings.Join(d.registry.Names(), ", "))
		}
	}
	if req.Expires < 0 {
		return apitype.CreatedClient{}, errors.New("--expires must be positive")
	}
	now := time.Now().UTC()
	c := store.Client{ID: "lkc_" + randomString(12), Name: req.Name, Integrations: req.Integrations, CreatedAt: now}
	if req.Expires > 0 {
		c.ExpiresAt = now.Add(req.Expires)
	}
	secret := "lks_" + randomString(32)
	h := sha256.Sum256([]byte(secret))
	c.SecretHash = h[:]
	if err := d.store.PutClient(ctx, c); err != nil {
		return apitype.CreatedClient{}, err
	}
	return apitype.CreatedClient{ClientInfo: clientInfo(c, now), Secret: secret}, nil
}

// ListClients lists personal clients.
func (d *Daemon) ListClients(ctx context.Context) ([]apitype.ClientInfo, error) {
	cs, err := d.store.ListClients(ctx)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	out := make([]apitype.ClientInfo, 0, len(cs))
	for _, c := range cs {
		out = append(out, clientInfo(c, now))
	}
	return out, nil
}

// RevokeClient revokes a personal client at once.
func (d *Daemon) RevokeClient(ctx context.Context, id string) error {
	if _, err := d.store.GetClient(ctx, id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no personal client %q (see latchkey clients list)", id)
		}
		return err
	}
	if err := d.store.RevokeClient(ctx, id, time.Now().UTC()); err != nil {
		return err
	}
	// JWTs the client already holds stop working now, not at their expiry.
	if d.inj != nil {
		d.inj.RevokeSubjects(clientSubject(id))
	}
	return nil
}

// clientSubject is the sub of the JWTs minted for personal client id.
func clientSubject(id string) string { return auth.SourceClientPrefix + id }

// revokeClientTokens tells the injector every revoked client, so JWTs
// minted before a restart stay refused after it.
func (d *Daemon) revokeClientTokens(ctx context.Context) error {
	cs, err := d.store.ListClients(ctx)
	if err != nil {
		return err
	}
	var subs []string
	for _, c := range cs {
		if !c.RevokedAt.IsZero() {
			subs = append(subs, clientSubject(c.ID))
		}
	}
	if len(subs) > 0 {
		d.inj.RevokeSubjects(subs...)
	}
	return nil
}

// AuthenticateClient checks a personal client's credentials and returns the
// integrations it may use and its expiry, which caps the lifetime of the
// JWT minted for it (injector.ClientAuthenticator).
func (d *Daemon) AuthenticateClient(ctx context.Context, id, secret string) ([]string, time.Time, error) {
	c, err := d.store.GetClient(ctx, id)
	if err != nil {
		// Still hash, so timing does not tell unknown ids from wrong secrets.
		h := sha256.Sum256([]byte(secret))
		subtle.ConstantTimeCompare(h[:], h[:])
		return nil, time.Time{}, errInvalidClient
	}
	h := sha256.Sum256([]byte(secret))
	ok := subtle.ConstantTimeCompare(h[:], c.SecretHash) == 1
	if !ok || clientInfo(c, time.Now()).State != "active" {
		return nil, time.Time{}, errInvalidClient
	}
	if len(c.Integrations) == 0 {
		return allIntegrations, c.ExpiresAt, nil
	}
	return c.Integrations, c.ExpiresAt, nil
}

func clientInfo(c store.Client, now time.Time) apitype.ClientInfo {
	ci := apitype.ClientInfo{ID: c.ID, Name: c.Name, Integrations: c.Integrations, CreatedAt: c.CreatedAt, State: "active"}
	if ci.Integrations == nil {
		ci.Integrations = []string{}
	}
	if !c.ExpiresAt.IsZero() {
		e := c.ExpiresAt
		ci.ExpiresAt = &e
		if now.After(e) {
			ci.State = "expired"
		}
	}
	if !c.RevokedAt.IsZero() {
		r := c.RevokedAt
		ci.RevokedAt = &r
		ci.State = "revoked"
	}
	return ci
}

// SignInURL returns a URL that opens target (a course id or path) in name's
// web app already signed in, with a freshly obtained short-lived credential.
func (d *Daemon) SignInURL(ctx context.Context, name, target string) (string, error) {
	in, ok := d.integration(name)
	if !ok {
		return "", d.notConfigured(name)
	}
	si, ok := in.(integrations.SignIn)
	if !ok {
		return "", fmt.Errorf("%s cannot open pages signed in", name)
	}
	return si.SignInURL(ctx, d.tokens(name), target)
}
