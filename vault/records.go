package vault

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/vault/envelope"
	"github.com/latchkey/latchkey/vault/store"
)

// ErrNoToken: no sealed token is stored for that integration on this device.
var ErrNoToken = errors.New("vault: no token stored")

// SaveToken seals tok and writes it to the local store; in the same
// transaction it queues it for the remote store when push is set and upserts
// conn (its Integration is set to integration) when not nil.
func (v *Vault) SaveToken(ctx context.Context, integration string, tok *oauth2.Token, conn *store.Connection, push bool) error {
	if conn != nil {
		c := *conn
		c.Integration = integration
		conn = &c
	}
	if tok == nil {
		return errNothingToSeal
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	rec, err := v.sealWith(v.cur, integration, tokenOf(tok))
	if err != nil {
		return err
	}
	_, err = v.st.Apply(ctx, store.Change{Put: &rec, Expect: store.AnyVersion, Push: push, Conn: replace(conn)})
	return err
}

// SaveSealed writes rec, a record Seal made, the way SaveToken writes a
// token (queued for the remote store when push is set, conn upserted when
// not nil, in one transaction). A record sealed under a key or for a binding
// user that changed since is opened and sealed again first, under the lock
// SaveToken holds, so it never lands under a key a rotation dropped.
func (v *Vault) SaveSealed(ctx context.Context, rec store.Record, conn *store.Connection, push bool) error {
	if conn != nil {
		c := *conn
		c.Integration = rec.Integration
		conn = &c
	}
	return v.saveSealed(ctx, rec, replace(conn), push)
}

// SaveRefreshed writes rec, a refreshed token Seal made, as SaveSealed
// does, and in the same transaction marks its integration connected with
// the token's expiry, keeping the account metadata stored.
func (v *Vault) SaveRefreshed(ctx context.Context, rec store.Record, expiry time.Time, push bool) error {
	return v.saveSealed(ctx, rec, connected(expiry, nil), push)
}

// saveSealed is SaveSealed with the connection change conn.
func (v *Vault) saveSealed(ctx context.Context, rec store.Record, conn func(*store.Connection) error, push bool) error {
	name := rec.Integration
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.cur == nil {
		return errors.New("vault: opened read-only without a salt: nothing can be stored")
	}
	if rec.KeyID != v.cur.id || rec.User != v.BindingUser() {
		k := v.keys[rec.KeyID]
		if k == nil {
			return fmt.Errorf("%w: %s is sealed under key %s", envelope.ErrKeyMismatch, name, rec.KeyID)
		}
		e, err := envelope.Parse(rec.Envelope)
		if err != nil {
			return err
		}
		tok, err := v.openWith(k, rec, e, decodeToken)
		if err != nil {
			return err
		}
		if rec, err = v.sealWith(v.cur, name, tok); err != nil {
			return err
		}
	}
	_, err := v.st.Apply(ctx, store.Change{Put: &rec, Expect: store.AnyVersion, Push: push, Conn: conn})
	return err
}

// LoadToken opens the token stored for integration and returns it with the
// record's version: the per-request read. The sealed record may come from
// the store's short-lived record cache (sqlitestore.GetRecordCached): a
// write by this process is seen at once, one by another process within
// sqlitestore.RecordCacheTTL. No record: ErrNoToken. A record under a key
// this process does not hold (another process may have rotated the key)
// makes it re-read the keychain once before failing with
// envelope.ErrKeyMismatch.
func (v *Vault) LoadToken(ctx context.Context, integration string) (*oauth2.Token, int64, error) {
	return v.loadToken(ctx, integration, v.cached, decodeToken)
}

// LoadAccessToken is LoadToken for one call to the integration's API: the
// token it returns holds the access token, its type and expiry, nothing
// more. The refresh token and the provider's extras, decrypted with the
// rest of the record, are skipped rather than decoded: they are never
// copied out of the plaintext buffer, which is wiped at once.
func (v *Vault) LoadAccessToken(ctx context.Context, integration string) (*oauth2.Token, error) {
	tok, _, err := v.loadToken(ctx, integration, v.cached, decodeAccessToken)
	return tok, err
}

// LoadLatestToken is LoadToken reading the database itself, for decisions
// that must see every process's last write (a refresh).
func (v *Vault) LoadLatestToken(ctx context.Context, integration string) (*oauth2.Token, int64, error) {
	return v.loadToken(ctx, integration, v.st.GetRecord, decodeToken)
}

func (v *Vault) loadToken(ctx context.Context, integration string, get func(context.Context, store.Key) (store.Record, error), decode func([]byte) (token, error)) (*oauth2.Token, int64, error) {
	rec, err := get(ctx, v.storeKey(integration))
	if errors.Is(err, store.ErrNotFound) {
		return nil, 0, fmt.Errorf("%w for %s", ErrNoToken, integration)
	}
	if err != nil {
		return nil, 0, err
	}
	tok, err := v.openRecord(rec, decode)
	if errors.Is(err, envelope.ErrKeyMismatch) {
		if rerr := v.reload(ctx); rerr == nil {
			tok, err = v.openRecord(rec, decode)
		}
	}
	if err != nil {
		return nil, 0, err
	}
	return tok.oauth2(), rec.Version, nil
}

// DeleteToken removes the token of integration locally (queuing the delete
// for the remote store when push is set). It leaves the connection metadata
// alone: the caller says what the integration's state is now (MarkReconnect
// does both in one transaction). Deleting a token that is not there is not
// an error.
func (v *Vault) DeleteToken(ctx context.Context, integration string, push bool) error {
	if integration == "" {
		return errors.New("vault: delete needs an integration name")
	}
	k := v.storeKey(integration)
	_, err := v.st.Apply(ctx, store.Change{Delete: &k, Push: push})
	return err
}

// MarkReconnect removes the token of integration (queuing the delete when
// push is set) and marks it reconnect-needed with reason, in one
// transaction. Account metadata is kept so the user sees which account to
// reconnect.
func (v *Vault) MarkReconnect(ctx context.Context, integration, reason string, push bool) error {
	k := v.storeKey(integration)
	_, err := v.st.Apply(ctx, store.Change{Delete: &k, Push: push, Conn: reconnectNeeded(reason)})
	return err
}

// SignOut ends the organisation identity on this device in one
// transaction: it removes integration's record (queuing the remote delete
// when push is set), stores conn (the identity's connection, signed out),
// sets the meta entries in meta ("" deletes) and records the OS user as the
// binding target. Re-binding the records (Rebind with to = "") follows; if
// the process dies first, Open finishes it. So a crash at any point leaves
// the identity either wholly signed in or signed out, never a mix.
func (v *Vault) SignOut(ctx context.Context, integration string, conn store.Connection, meta map[string]string, push bool) error {
	if integration == "" {
		return errors.New("vault: sign-out needs an integration name")
	}
	all := map[string]string{metaBindNext: v.user}
	for k, val := range meta {
		if k == metaBind || k == metaBindNext {
			return fmt.Errorf("vault: sign-out may not set %s", k)
		}
		all[k] = val
	}
	v.rotateMu.Lock()
	defer v.rotateMu.Unlock()
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.BindingUser() == v.user {
		delete(all, metaBindNext) // nothing to re-bind
	}
	k := v.storeKey(integration)
	_, err := v.st.Apply(ctx, store.Change{Delete: &k, Push: push, Conn: replace(&conn), Meta: all})
	return err
}
