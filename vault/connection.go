package vault

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/vault/store"
)

// Account is who a connection's token belongs to, as the integration
// reports it: non-secret metadata shown in status.
type Account struct {
	ID          string
	Username    string
	DisplayName string
	Email       string
}

// replace is the store.Change.Conn that stores conn as it is (nil: the
// connection is left alone).
func replace(conn *store.Connection) func(*store.Connection) error {
	if conn == nil {
		return nil
	}
	c := *conn
	return func(cur *store.Connection) error { *cur = c; return nil }
}

// reconnectNeeded is the store.Change.Conn that marks a connection
// reconnect-needed with reason, keeping its account metadata so the user
// sees which account to reconnect.
func reconnectNeeded(reason string) func(*store.Connection) error {
	now := time.Now()
	return func(c *store.Connection) error {
		c.State, c.Reason, c.Expiry, c.UpdatedAt = store.StateReconnectNeeded, reason, time.Time{}, now
		return nil
	}
}

// connected is the store.Change.Conn that marks a connection connected
// with a token expiring at expiry; acct, when not nil, replaces its account
// metadata (else the stored one is kept).
func connected(expiry time.Time, acct *Account) func(*store.Connection) error {
	now := time.Now()
	return func(c *store.Connection) error {
		if acct != nil {
			c.AccountID, c.Username, c.DisplayName, c.Email = acct.ID, acct.Username, acct.DisplayName, acct.Email
		}
		c.State, c.Reason, c.Expiry, c.UpdatedAt = store.StateConnected, "", expiry, now
		return nil
	}
}

// SaveConnected seals tok and, in one transaction, writes it (queued for
// the remote store when push is set), marks integration connected with
// tok's expiry, replaces its account metadata with acct when acct is not
// nil (else keeps what is stored) and sets the meta entries in meta ("" deletes).
func (v *Vault) SaveConnected(ctx context.Context, integration string, tok *oauth2.Token, acct *Account, meta map[string]string, push bool) error {
	for k := range meta {
		if k == metaBind || k == metaBindNext || k == metaKeychainAccount || k == metaDeviceID {
			return fmt.Errorf("vault: a save may not set %s", k)
		}
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
	_, err = v.st.Apply(ctx, store.Change{Put: &rec, Expect: store.AnyVersion, Push: push, Conn: connected(tok.Expiry, acct), Meta: meta})
	return err
}

// SetAccount records acct as the account of integration's connection, in
// one transaction that leaves its state alone (a reconnect-needed marked
// meanwhile stays). With no connection stored it returns store.ErrNotFound
// and writes nothing.
func (v *Vault) SetAccount(ctx context.Context, integration string, acct Account) error {
	if integration == "" {
		return errors.New("vault: an account needs an integration name")
	}
	now := time.Now()
	_, err := v.st.Apply(ctx, store.Change{Integration: integration, Conn: func(c *store.Connection) error {
		if c.State == "" {
			return fmt.Errorf("%w: no connection of %s", store.ErrNotFound, integration)
		}
		c.AccountID, c.Username, c.DisplayName, c.Email = acct.ID, acct.Username, acct.DisplayName, acct.Email
		c.UpdatedAt = now
		return nil
	}})
	return err
}

// Disconnect removes the token of integration (queuing the delete for the
// remote store when push is set) and marks it disconnected, in one
// transaction; its account metadata is kept. Disconnecting an integration
// that holds no token is not an error.
func (v *Vault) Disconnect(ctx context.Context, integration string, push bool) error {
	if integration == "" {
		return errors.New("vault: disconnect needs an integration name")
	}
	k := v.storeKey(integration)
	now := time.Now()
	_, err := v.st.Apply(ctx, store.Change{Delete: &k, Push: push, Conn: func(c *store.Connection) error {
		c.State, c.Reason, c.Expiry, c.UpdatedAt = store.StateDisconnected, "", time.Time{}, now
		return nil
	}})
	return err
}
