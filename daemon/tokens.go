package daemon

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/integrations"
	"github.com/latchkey/latchkey/vault"
	"github.com/latchkey/latchkey/vault/envelope"
	"github.com/latchkey/latchkey/vault/store"
)

// expiryMargin: a token this close to expiry is refreshed before use.
const expiryMargin = 30 * time.Second

// tokenManager is integrations.Tokens for one integration: it opens the
// sealed record at call time (no long-lived plaintext cache) and refreshes
// once for all concurrent callers: lock, reload, re-check, refresh, persist,
// release. The refreshed token, and a rotated refresh token, are sealed and
// stored before any caller sees them.
type tokenManager struct {
	d    *Daemon
	name string
	mu   sync.Mutex // serialises refreshes of this integration

	// A failed refresh is remembered briefly (guarded by mu), so callers
	// queued behind it get its error instead of each asking the provider
	// again: one failing token-endpoint call per burst, not one per caller.
	failedFor string // the access token whose refresh failed
	failedAt  time.Time
	failErr   error
}

// refreshFailureHold is how long a failed refresh answers for its token.
const refreshFailureHold = 2 * time.Second

var (
	_ integrations.Tokens     = (*tokenManager)(nil)
	_ integrations.CallTokens = (*tokenManager)(nil)
)

func (t *tokenManager) Token(ctx context.Context) (*oauth2.Token, error) {
	return t.current(ctx, t.d.vault.LoadToken)
}

// CallToken is Token for one API call: the access token alone is decoded
// (integrations.CallTokens); the refresh token is never copied out of the
// record's wiped plaintext buffer for a proxied request.
func (t *tokenManager) CallToken(ctx context.Context) (*oauth2.Token, error) {
	return t.current(ctx, func(ctx context.Context, name string) (*oauth2.Token, int64, error) {
		tok, err := t.d.vault.LoadAccessToken(ctx, name)
		return tok, 0, err
	})
}

// current opens the token with read and refreshes it first when it is
// expired or about to be.
func (t *tokenManager) current(ctx context.Context, read func(context.Context, string) (*oauth2.Token, int64, error)) (*oauth2.Token, error) {
	tok, err := t.load(ctx, read)
	if err != nil {
		return nil, err
	}
	if fresh(tok) {
		return tok, nil
	}
	return t.Refresh(ctx, tok)
}

// Refresh refreshes the token unless another caller already replaced
// rejected while this one waited for the lock.
func (t *tokenManager) Refresh(ctx context.Context, rejected *oauth2.Token) (*oauth2.Token, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	cur, err := t.load(ctx, t.d.vault.LoadLatestToken)
	if err != nil {
		return nil, err
	}
	if rejected != nil && cur.AccessToken != rejected.AccessToken && fresh(cur) {
		return cur, nil // someone else refreshed while we waited
	}
	if t.failErr != nil && t.failedFor == cur.AccessToken && time.Since(t.failedAt) < refreshFailureHold {
		return nil, t.failErr
	}
	next, err := t.d.obtainNewToken(ctx, t.name, cur)
	if err != nil {
		t.failedFor, t.failedAt, t.failErr = cur.AccessToken, time.Now(), err
		if errors.Is(err, integrations.ErrReconnectNeeded) {
			t.d.markReconnect(ctx, t.name, "the provider refused the refresh token; connect again")
		}
		return nil, err
	}
	t.failErr = nil
	if next.RefreshToken == "" {
		next.RefreshToken = cur.RefreshToken
	}
	if err := t.d.saveToken(ctx, t.name, next, nil); err != nil {
		return nil, fmt.Errorf("store refreshed token: %w", err)
	}
	return next, nil
}

// load opens the token with read: the vault's LoadToken per request, its
// LoadLatestToken before a refresh.
func (t *tokenManager) load(ctx context.Context, read func(context.Context, string) (*oauth2.Token, int64, error)) (*oauth2.Token, error) {
	tok, _, err := read(ctx, t.name)
	switch {
	case err == nil:
		return tok, nil
	case errors.Is(err, vault.ErrNoToken):
		return nil, fmt.Errorf("%w: run `latchkey connect %s`", integrations.ErrNotConnected, t.name)
	case errors.Is(err, envelope.ErrKeyMismatch), errors.Is(err, envelope.ErrAuth):
		const reason = "its sealed token cannot be opened with this machine's key; connect again"
		t.d.markReconnect(ctx, t.name, reason)
		return nil, fmt.Errorf("%w: %s", integrations.ErrReconnectNeeded, reason)
	default:
		return nil, err
	}
}

func fresh(tok *oauth2.Token) bool {
	if tok == nil || tok.AccessToken == "" {
		return false
	}
	return tok.Expiry.IsZero() || time.Until(tok.Expiry) > expiryMargin
}

// obtainNewToken gets a new access token for name: by its refresh token when
// it has one, else by re-running a grant that needs no user (client
// credentials, JWT bearer).
func (d *Daemon) obtainNewToken(ctx context.Context, name string, cur *oauth2.Token) (*oauth2.Token, error) {
	if name == identityName {
		return d.refreshIdentity(ctx, cur)
	}
	in, ok := d.integration(name)
	if !ok {
		return nil, fmt.Errorf("%s is not configured", name)
	}
	oa, ok := in.(integrations.OAuth)
	if !ok {
		// A static API token cannot be refreshed: the user must supply a new one.
		return nil, fmt.Errorf("%s: the API token was refused: %w", name, integrations.ErrReconnectNeeded)
	}
	if cur.RefreshToken != "" {
		cfg := oa.OAuth2Config(d.redirectURL(name))
		ts := cfg.TokenSource(d.oauthContext(ctx), &oauth2.Token{RefreshToken: cur.RefreshToken})
		tok, err := ts.Token()
		if err != nil {
			return nil, classifyOAuthError(err)
		}
		return tok, nil
	}
	return d.runUnattendedGrant(ctx, name, in)
}

// classifyOAuthError turns an invalid_grant answer into ErrReconnectNeeded
// and keeps only the provider's error code and description (never a body
// that might echo a token).
func classifyOAuthError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		msg := re.ErrorDescription
		if msg == "" {
			msg = re.ErrorCode
		}
		if re.ErrorCode == "invalid_grant" {
			return fmt.Errorf("provider said invalid_grant (%s): %w", msg, integrations.ErrReconnectNeeded)
		}
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		return &integrations.ProviderError{Status: status, Code: re.ErrorCode, Message: msg}
	}
	return err
}

// markReconnect records that name needs the user to connect again and
// deletes its sealed token (useless now), in one transaction.
func (d *Daemon) markReconnect(ctx context.Context, name, reason string) {
	if err := d.vault.MarkReconnect(ctx, name, reason, d.pushEnabled()); err != nil {
		d.log.Error("record reconnect-needed", "integration", name, "err", err)
	}
	d.log.Warn("integration needs reconnecting", "integration", name, "reason", reason)
	d.kickSync()
	d.changed()
}

// saveToken seals tok and stores it (pushing it to the remote store when one
// is configured), updating the connection's expiry; conn, when given,
// replaces the connection metadata.
func (d *Daemon) saveToken(ctx context.Context, name string, tok *oauth2.Token, conn *store.Connection) error {
	if conn == nil {
		c, err := d.store.GetConnection(ctx, name)
		if err != nil {
			c = store.Connection{Integration: name}
		}
		conn = &c
	}
	conn.Integration = name
	conn.State = store.StateConnected
	conn.Reason = ""
	conn.Expiry = tok.Expiry
	conn.UpdatedAt = time.Now()
	if err := d.vault.SaveToken(ctx, name, tok, conn, d.pushEnabled()); err != nil {
		return err
	}
	d.kickSync()
	d.changed()
	return nil
}

// SignInToken mints an access token for one signed-in link (the optional
// SignInTokenSource of integrations that put a token in a URL): a fresh
// JWT-bearer grant with the connection's key, as the configured username
// or else the connected account's. The token is never the vault's and is
// not stored; the vault is left untouched.
func (t *tokenManager) SignInToken(ctx context.Context) (*oauth2.Token, error) {
	in, ok := t.d.integration(t.name)
	if !ok {
		return nil, t.d.notConfigured(t.name)
	}
	hint := fmt.Sprintf("generate a JWT-bearer key (latchkey keys generate %s) and upload its public key (`latchkey configure %s --set signin=token_exchange` is an experimental alternative that a platform may not offer)", t.name, t.name)
	if _, ok := in.(jwtBearerGranter); !ok {
		return nil, fmt.Errorf("%s cannot mint a short-lived sign-in token", t.name)
	}
	if _, err := t.d.loadSigningKey(ctx, t.name); err != nil {
		return nil, fmt.Errorf("a signed-in link needs a freshly minted token: %s", hint)
	}
	t.d.mu.Lock()
	username := t.d.conf().Integrations[t.name].Settings["username"]
	t.d.mu.Unlock()
	if username == "" {
		if c, err := t.d.store.GetConnection(ctx, t.name); err == nil && c.State == store.StateConnected {
			username = c.Username
		}
	}
	if username == "" {
		return nil, fmt.Errorf("a signed-in link needs the %s username to sign in as: connect %s first, or `latchkey configure %s --set username=NAME`", t.name, t.name, t.name)
	}
	tok, err := t.d.grantFor(ctx, t.name, in, integrations.GrantJWTBearer, username)
	if err != nil {
		return nil, fmt.Errorf("mint a sign-in token: %w", classifyOAuthError(err))
	}
	return tok, nil
}
