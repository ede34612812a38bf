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

// expiryMargin is how long before its expiry a token is refreshed, at
// most: a short-lived token's margin is a quarter of its lifetime (see
// margin), so a 5 s token is not stale the moment it is issued.
const expiryMargin = 30 * time.Second

// refreshTimeout bounds one refresh: the token-endpoint call and the first
// write of its answer. It runs detached from the caller that started it.
const refreshTimeout = time.Minute

// saveRetryMax is the longest wait between two attempts to store a
// refreshed token whose first write failed.
const saveRetryMax = 10 * time.Second

// tokenManager is integrations.Tokens for one integration: it opens the
// sealed record at call time (no long-lived plaintext cache) and refreshes
// once for all concurrent callers. A refresh runs in its own goroutine
// under its own deadline, whatever happens to the callers waiting for it:
// it takes the cross-process refresh lock (lockRefresh), re-reads the
// record, asks the provider, and writes the answer before anyone sees it.
// When that write fails, the new token is kept sealed in memory (pending),
// served, and written again until it is durable.
type tokenManager struct {
	d    *Daemon
	name string

	// saveMu is held by a refresh from start to end and by each attempt
	// to store the pending token, so the two never write over each other.
	saveMu sync.Mutex

	mu     sync.Mutex     // guards everything below
	flight *refreshFlight // the refresh under way, nil when none

	// A failed refresh is remembered briefly, so callers that come right
	// after it get its error instead of each asking the provider again:
	// one failing token-endpoint call per burst, not one per caller.
	failedFor string // the access token whose refresh failed
	failedAt  time.Time
	failErr   error

	// refused is the access token the upstream refused right after a
	// refresh handed it out (Refused): a 401 on it goes back to the caller
	// without another refresh, since refreshing did not help.
	refused string

	// pending is a refreshed token whose write failed, sealed, with the
	// lock that keeps other processes from refreshing meanwhile.
	pending *pendingToken
}

// refreshFlight is one refresh; done is closed once tok or err is set.
type refreshFlight struct {
	done chan struct{}
	tok  *oauth2.Token
	err  error
}

// pendingToken is a refreshed token not yet stored.
type pendingToken struct {
	rec    store.Record
	expiry time.Time // the token's, recorded on its connection when stored
	unlock func()    // releases the refresh lock once the record is stored
	err    error     // the last write error
}

// refreshFailureHold is how long a failed refresh answers for its token.
const refreshFailureHold = 2 * time.Second

var (
	_ integrations.Tokens        = (*tokenManager)(nil)
	_ integrations.CallTokens    = (*tokenManager)(nil)
	_ integrations.RefusedTokens = (*tokenManager)(nil)
)

func (t *tokenManager) Token(ctx context.Context) (*oauth2.Token, error) {
	return t.current(ctx, false)
}

// CallToken is Token for one API call: the access token alone is decoded
// (integrations.CallTokens); the refresh token is never copied out of the
// record's wiped plaintext buffer for a proxied request.
func (t *tokenManager) CallToken(ctx context.Context) (*oauth2.Token, error) {
	return t.current(ctx, true)
}

// current opens the token (the access token alone when access is set)
// and refreshes it first when it is expired or about to be.
func (t *tokenManager) current(ctx context.Context, access bool) (*oauth2.Token, error) {
	tok, err := t.open(ctx, access)
	if err != nil {
		return nil, err
	}
	if fresh(tok) {
		return tok, nil
	}
	return t.Refresh(ctx, tok)
}

// open opens the pending token when there is one, else the stored one.
func (t *tokenManager) open(ctx context.Context, access bool) (*oauth2.Token, error) {
	t.mu.Lock()
	p := t.pending
	t.mu.Unlock()
	if p != nil {
		if access {
			return t.d.vault.OpenAccessRecord(p.rec)
		}
		return t.d.vault.OpenRecord(p.rec)
	}
	if access {
		return t.load(ctx, func(ctx context.Context, name string) (*oauth2.Token, int64, error) {
			tok, err := t.d.vault.LoadAccessToken(ctx, name)
			return tok, 0, err
		})
	}
	return t.load(ctx, t.d.vault.LoadToken)
}

// Refresh refreshes the token unless another caller or process already
// replaced rejected, or there is nothing to refresh (see
// integrations.Tokens). Callers that come while a refresh runs wait for
// it and get its answer; a caller whose ctx ends stops waiting, the
// refresh does not stop.
func (t *tokenManager) Refresh(ctx context.Context, rejected *oauth2.Token) (*oauth2.Token, error) {
	t.mu.Lock()
	f := t.flight
	if f == nil {
		f = &refreshFlight{done: make(chan struct{})}
		t.flight = f
		go t.fly(context.WithoutCancel(ctx), f, rejected)
	}
	t.mu.Unlock()
	select {
	case <-f.done:
		return f.tok, f.err
	case <-ctx.Done():
		return nil, fmt.Errorf("%s: stopped waiting for the token refresh (it goes on): %w", t.name, ctx.Err())
	}
}

// fly runs one refresh under its own deadline and hands its answer to
// everyone waiting for f.
func (t *tokenManager) fly(ctx context.Context, f *refreshFlight, rejected *oauth2.Token) {
	ctx, cancel := context.WithTimeout(ctx, refreshTimeout)
	defer cancel()
	tok, err := t.refresh(ctx, rejected)
	t.mu.Lock()
	f.tok, f.err = tok, err
	t.flight = nil
	t.mu.Unlock()
	close(f.done)
}

// refresh is one refresh, run by fly: exclusive across processes, it
// re-reads the record (another process may have refreshed), asks the
// provider only when that is still needed, and stores the answer at once.
func (t *tokenManager) refresh(ctx context.Context, rejected *oauth2.Token) (*oauth2.Token, error) {
	t.saveMu.Lock()
	defer t.saveMu.Unlock()
	t.mu.Lock()
	p := t.pending
	t.mu.Unlock()
	var cur *oauth2.Token
	unlock := func() {}
	if p != nil {
		// This process holds the refresh lock until p is stored, and p is
		// newer than the record.
		tok, err := t.d.vault.OpenRecord(p.rec)
		if err != nil {
			return nil, err
		}
		cur = tok
	} else {
		var err error
		if unlock, err = t.d.lockRefresh(ctx, t.name); err != nil {
			return nil, err
		}
		if cur, err = t.load(ctx, t.d.vault.LoadLatestToken); err != nil {
			unlock()
			return nil, err
		}
	}
	next, err := t.exchange(ctx, cur, rejected)
	if err != nil || next == cur {
		unlock()
		return next, err
	}
	if p != nil {
		unlock = p.unlock
	}
	rec, err := t.d.vault.Seal(t.name, next)
	if err != nil {
		unlock()
		return nil, fmt.Errorf("seal the refreshed token: %w", err)
	}
	// Nothing but this write stands between the provider's answer and the
	// disk: the connection is marked connected in the same transaction.
	if err := t.d.vault.SaveRefreshed(ctx, rec, next.Expiry, t.d.pushEnabled()); err != nil {
		// The provider may have rotated the refresh token: the old one is
		// dead, so the new one is kept, served, and written again.
		t.keepPending(rec, next.Expiry, unlock, err)
		t.d.log.Error("the refreshed token could not be stored; it is kept in memory and stored as soon as the database takes it",
			"integration", t.name, "err", err)
		t.d.changed()
		return next, nil
	}
	t.mu.Lock()
	t.pending = nil
	t.mu.Unlock()
	unlock()
	t.d.kickSync()
	t.d.changed()
	return next, nil
}

// exchange asks the provider for a new token unless cur already replaced
// rejected, or there is nothing to refresh; it returns cur itself then.
func (t *tokenManager) exchange(ctx context.Context, cur, rejected *oauth2.Token) (*oauth2.Token, error) {
	if rejected != nil && cur.AccessToken != rejected.AccessToken && !expired(cur) {
		return cur, nil // refreshed while we waited (here or in another process)
	}
	if fresh(cur) {
		// An upstream 401 on a token that is not stale: refresh once, unless
		// the upstream refused it right after a refresh produced it, or it
		// cannot be refreshed; then the 401 goes back to the caller and
		// nothing is marked.
		t.mu.Lock()
		again := cur.AccessToken == t.refused
		t.mu.Unlock()
		if again || !t.d.canRefresh(t.name, cur) {
			return cur, nil
		}
	}
	t.mu.Lock()
	if t.failErr != nil && t.failedFor == cur.AccessToken && time.Since(t.failedAt) < refreshFailureHold {
		err := t.failErr
		t.mu.Unlock()
		return nil, err
	}
	t.mu.Unlock()
	next, err := t.d.obtainNewToken(ctx, t.name, cur)
	if err != nil {
		t.mu.Lock()
		t.failedFor, t.failedAt, t.failErr = cur.AccessToken, time.Now(), err
		t.mu.Unlock()
		if errors.Is(err, integrations.ErrReconnectNeeded) {
			t.d.markReconnect(ctx, t.name, "the provider refused the refresh token; connect again")
		}
		return nil, err
	}
	if next.RefreshToken == "" {
		next.RefreshToken = cur.RefreshToken
	}
	t.mu.Lock()
	t.failErr = nil
	t.mu.Unlock()
	return next, nil
}

// Refused notes that the upstream refused tok right after Refresh handed
// it out (integrations.RefusedTokens).
func (t *tokenManager) Refused(tok *oauth2.Token) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.refused = tok.AccessToken
}

// keepPending keeps rec, whose write failed with err, as the token to
// serve, and starts writing it again (once per pending token).
func (t *tokenManager) keepPending(rec store.Record, expiry time.Time, unlock func(), err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	start := t.pending == nil
	t.pending = &pendingToken{rec: rec, expiry: expiry, unlock: unlock, err: err}
	if start {
		go t.persistPending()
	}
}

// persistPending writes the pending token with growing waits until it is
// stored (or the daemon closes), then releases the refresh lock.
func (t *tokenManager) persistPending() {
	wait := 100 * time.Millisecond
	for {
		timer := time.NewTimer(wait)
		select {
		case <-t.d.closing:
			timer.Stop()
			t.mu.Lock()
			p := t.pending
			t.mu.Unlock()
			if p != nil {
				t.d.log.Error("the daemon stops with a refreshed token it could not store: connect again if the next refresh is refused",
					"integration", t.name, "err", p.err)
			}
			return
		case <-timer.C:
		}
		wait = min(2*wait, saveRetryMax)
		if t.savePending() {
			return
		}
	}
}

// savePending tries once to store the pending token and reports whether
// none is left.
func (t *tokenManager) savePending() bool {
	t.saveMu.Lock()
	defer t.saveMu.Unlock()
	t.mu.Lock()
	p := t.pending
	t.mu.Unlock()
	if p == nil {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), refreshTimeout)
	err := t.d.vault.SaveRefreshed(ctx, p.rec, p.expiry, t.d.pushEnabled())
	cancel()
	t.mu.Lock()
	if err != nil {
		p.err = err
		t.mu.Unlock()
		return false
	}
	t.pending = nil
	t.mu.Unlock()
	p.unlock()
	t.d.log.Info("the refreshed token is stored", "integration", t.name)
	t.d.kickSync()
	t.d.changed()
	return true
}

// abandonPending drops the pending token and releases the refresh lock it
// held (the daemon is closing and could not store it).
func (t *tokenManager) abandonPending() {
	t.saveMu.Lock()
	defer t.saveMu.Unlock()
	t.mu.Lock()
	p := t.pending
	t.pending = nil
	t.mu.Unlock()
	if p != nil {
		p.unlock()
	}
}

// unsaved says why a refreshed token is not stored yet, or "".
func (t *tokenManager) unsaved() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pending == nil {
		return ""
	}
	return "refreshed token not yet saved (kept in memory, retrying): " + t.pending.err.Error()
}

// unsaved is name's tokenManager.unsaved, "" when it has none.
func (d *Daemon) unsaved(name string) string {
	d.mu.Lock()
	t := d.tok[name]
	d.mu.Unlock()
	if t == nil {
		return ""
	}
	return t.unsaved()
}

// load opens the token with read: the vault's LoadToken per request, its
// LoadLatestToken before a refresh.
func (t *tokenManager) load(ctx context.Context, read func(context.Context, string) (*oauth2.Token, int64, error)) (*oauth2.Token, error) {
	tok, _, err := read(ctx, t.name)
	switch {
	case err == nil:
		return tok, nil
	case errors.Is(err, vault.ErrNoToken):
		return nil, fmt.Errorf("%w: %s", integrations.ErrNotConnected, connectAdvice(t.name))
	case errors.Is(err, envelope.ErrKeyMismatch), errors.Is(err, envelope.ErrAuth):
		const reason = "its sealed token cannot be opened with this machine's key; connect again"
		t.d.markReconnect(ctx, t.name, reason)
		return nil, fmt.Errorf("%w: %s", integrations.ErrReconnectNeeded, reason)
	default:
		return nil, err
	}
}

// margin is how long before its expiry tok counts as stale: expiryMargin,
// or a quarter of the token's lifetime when that is shorter (but at least
// a second, or half the lifetime of a token shorter than two seconds).
func margin(tok *oauth2.Token) time.Duration {
	if tok.ExpiresIn <= 0 {
		return expiryMargin
	}
	life := time.Duration(tok.ExpiresIn) * time.Second
	return max(min(expiryMargin, life/4), min(time.Second, life/2))
}

// fresh reports whether tok can be used without refreshing it first.
func fresh(tok *oauth2.Token) bool {
	if tok == nil || tok.AccessToken == "" {
		return false
	}
	return tok.Expiry.IsZero() || time.Until(tok.Expiry) > margin(tok)
}

// expired reports whether tok is past its expiry (or empty).
func expired(tok *oauth2.Token) bool {
	return tok == nil || tok.AccessToken == "" || (!tok.Expiry.IsZero() && !time.Now().Before(tok.Expiry))
}

// canRefresh reports whether name has a way to a new token without the
// user: a refresh token, or a grant that needs no user.
func (d *Daemon) canRefresh(name string, cur *oauth2.Token) bool {
	if cur.RefreshToken != "" {
		return true
	}
	in, ok := d.lookupIntegration(name)
	if !ok {
		return false
	}
	if _, ok := in.(integrations.OAuth); !ok {
		return false
	}
	switch integrations.Grant(d.conf().Integrations[name].Grant) {
	case integrations.GrantClientCredentials, integrations.GrantJWTBearer:
		return true
	}
	return false
}

// obtainNewToken gets a new access token for name: by its refresh token when
// it has one, else by re-running a grant that needs no user (client
// credentials, JWT bearer).
func (d *Daemon) obtainNewToken(ctx context.Context, name string, cur *oauth2.Token) (*oauth2.Token, error) {
	in, ok := d.lookupIntegration(name)
	if !ok {
		return nil, fmt.Errorf("%s is not configured", name)
	}
	if r, ok := in.(integrations.TokenRenewer); ok {
		return r.RenewToken(ctx, cur)
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
func (d *Daemon) saveToken(ctx context.Context, name string, tok *oauth2.Token, acct *vault.Account) error {
	return d.saveTokenMeta(ctx, name, tok, acct, nil)
}

// saveTokenMeta is saveToken that also sets the meta entries in meta ("" deletes), in the same transaction.
func (d *Daemon) saveTokenMeta(ctx context.Context, name string, tok *oauth2.Token, acct *vault.Account, meta map[string]string) error {
	if err := d.vault.SaveConnected(ctx, name, tok, acct, meta, d.pushEnabled()); err != nil {
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
	if _, ok := in.(integrations.JWTBearerGranter); !ok {
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
