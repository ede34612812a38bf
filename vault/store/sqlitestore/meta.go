package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/latchkey/latchkey/vault/store"
)

// --- connections ---

func putConnection(ctx context.Context, tx *sql.Tx, c store.Connection) error {
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = time.Now()
	}
	_, err := tx.ExecContext(ctx, `
		INSERT INTO connections (integration, state, account_id, username, display_name, email, expiry, reason, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (integration) DO UPDATE SET
			state = excluded.state, account_id = excluded.account_id, username = excluded.username,
			display_name = excluded.display_name, email = excluded.email, expiry = excluded.expiry,
			reason = excluded.reason, updated_at = excluded.updated_at`,
		c.Integration, string(c.State), c.AccountID, c.Username, c.DisplayName, c.Email,
		micros(c.Expiry), c.Reason, micros(c.UpdatedAt))
	return err
}

// updateConnection stores what f makes of the current connection of
// integration (the zero one with its Integration set when there is none).
func updateConnection(ctx context.Context, tx *sql.Tx, integration string, f func(*store.Connection) error) error {
	c, err := scanConnection(tx.QueryRowContext(ctx,
		`SELECT `+connectionCols+` FROM connections WHERE integration = ?`, integration))
	if errors.Is(err, sql.ErrNoRows) {
		c, err = store.Connection{Integration: integration}, nil
	}
	if err != nil {
		return err
	}
	if err := f(&c); err != nil {
		return err
	}
	if err := store.CheckConnection(c); err != nil {
		return err
	}
	return putConnection(ctx, tx, c)
}

// PutConnection inserts or replaces the metadata of c.Integration. A zero
// UpdatedAt is stamped with the current time.
func (s *Store) PutConnection(ctx context.Context, c store.Connection) error {
	if err := store.CheckConnection(c); err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error { return putConnection(ctx, tx, c) })
}

const connectionCols = `integration, state, account_id, username, display_name, email, expiry, reason, updated_at`

func scanConnection(sc interface{ Scan(...any) error }) (store.Connection, error) {
	var c store.Connection
	var state string
	var exp, upd int64
	if err := sc.Scan(&c.Integration, &state, &c.AccountID, &c.Username, &c.DisplayName, &c.Email, &exp, &c.Reason, &upd); err != nil {
		return store.Connection{}, err
	}
	c.State = store.State(state)
	c.Expiry = fromMicros(exp)
	c.UpdatedAt = fromMicros(upd)
	return c, nil
}

// GetConnection returns the metadata of integration, or store.ErrNotFound.
func (s *Store) GetConnection(ctx context.Context, integration string) (store.Connection, error) {
	c, err := scanConnection(s.db.QueryRowContext(ctx,
		`SELECT `+connectionCols+` FROM connections WHERE integration = ?`, integration))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Connection{}, store.ErrNotFound
	}
	return c, wrap(err)
}

// ListConnections returns every connection, ordered by integration.
func (s *Store) ListConnections(ctx context.Context) ([]store.Connection, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+connectionCols+` FROM connections ORDER BY integration`)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	var out []store.Connection
	for rows.Next() {
		c, err := scanConnection(rows)
		if err != nil {
			return nil, wrap(err)
		}
		out = append(out, c)
	}
	return out, wrap(rows.Err())
}

// DeleteConnection removes the metadata of integration (store.ErrNotFound if
// absent).
func (s *Store) DeleteConnection(ctx context.Context, integration string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM connections WHERE integration = ?`, integration)
	if err != nil {
		return wrap(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// --- meta ---

// GetMeta returns the value under key, or store.ErrNotFound.
func (s *Store) GetMeta(ctx context.Context, key string) (string, error) {
	var v string
	err := s.db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", store.ErrNotFound
	}
	return v, wrap(err)
}

// SetMeta stores value under key, replacing any previous value.
func (s *Store) SetMeta(ctx context.Context, key, value string) error {
	_, err := s.db.ExecContext(ctx,
		`INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	return wrap(err)
}

// SetMetaIfAbsent stores value under key unless a value is already there,
// and returns the value that is stored: of two processes racing, both get the
// same answer.
func (s *Store) SetMetaIfAbsent(ctx context.Context, key, value string) (string, error) {
	var stored string
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`, key, value); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&stored)
	})
	return stored, err
}

// ListMeta returns every meta entry.
func (s *Store) ListMeta(ctx context.Context) (map[string]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT key, value FROM meta`)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, wrap(err)
		}
		out[k] = v
	}
	return out, wrap(rows.Err())
}

// CompareAndSetMeta replaces the value under key with value only if it is
// still old, and reports whether it did.
func (s *Store) CompareAndSetMeta(ctx context.Context, key, old, value string) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE meta SET value = ? WHERE key = ? AND value = ?`, value, key, old)
	if err != nil {
		return false, wrap(err)
	}
	n, err := res.RowsAffected()
	return n == 1, wrap(err)
}

// DeleteMeta removes key (no error if absent).
func (s *Store) DeleteMeta(ctx context.Context, key string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM meta WHERE key = ?`, key)
	return wrap(err)
}

// --- personal OAuth2 clients ---

// PutClient inserts or replaces c. A zero CreatedAt is stamped now.
func (s *Store) PutClient(ctx context.Context, c store.Client) error {
	if c.ID == "" {
		return errors.New("sqlitestore: client needs an id")
	}
	if len(c.SecretHash) == 0 {
		return errors.New("sqlitestore: client needs a secret hash")
	}
	if c.CreatedAt.IsZero() {
		c.CreatedAt = time.Now()
	}
	if c.Integrations == nil {
		c.Integrations = []string{}
	}
	ints, err := json.Marshal(c.Integrations)
	if err != nil {
		return fmt.Errorf("sqlitestore: %w", err)
	}
	_, err = s.db.ExecContext(ctx, `
		INSERT INTO clients (id, name, secret_hash, integrations, created_at, expires_at, revoked_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET
			name = excluded.name, secret_hash = excluded.secret_hash, integrations = excluded.integrations,
			created_at = excluded.created_at, expires_at = excluded.expires_at, revoked_at = excluded.revoked_at`,
		c.ID, c.Name, c.SecretHash, string(ints), micros(c.CreatedAt), micros(c.ExpiresAt), micros(c.RevokedAt))
	return wrap(err)
}

const clientCols = `id, name, secret_hash, integrations, created_at, expires_at, revoked_at`

func scanClient(sc interface{ Scan(...any) error }) (store.Client, error) {
	var c store.Client
	var ints string
	var created, expires, revoked int64
	if err := sc.Scan(&c.ID, &c.Name, &c.SecretHash, &ints, &created, &expires, &revoked); err != nil {
		return store.Client{}, err
	}
	if err := json.Unmarshal([]byte(ints), &c.Integrations); err != nil {
		return store.Client{}, fmt.Errorf("client %s: integrations: %w", c.ID, err)
	}
	c.CreatedAt, c.ExpiresAt, c.RevokedAt = fromMicros(created), fromMicros(expires), fromMicros(revoked)
	return c, nil
}

// GetClient returns the client id, or store.ErrNotFound.
func (s *Store) GetClient(ctx context.Context, id string) (store.Client, error) {
	c, err := scanClient(s.db.QueryRowContext(ctx, `SELECT `+clientCols+` FROM clients WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Client{}, store.ErrNotFound
	}
	return c, wrap(err)
}

// ListClients returns every client, oldest first.
func (s *Store) ListClients(ctx context.Context) ([]store.Client, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+clientCols+` FROM clients ORDER BY created_at, id`)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	var out []store.Client
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			return nil, wrap(err)
		}
		out = append(out, c)
	}
	return out, wrap(rows.Err())
}

// RevokeClient marks client id revoked at at (store.ErrNotFound if absent).
// Revoking a revoked client keeps the first revocation time.
func (s *Store) RevokeClient(ctx context.Context, id string, at time.Time) error {
	if at.IsZero() {
		at = time.Now()
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		var revoked int64
		err := tx.QueryRowContext(ctx, `SELECT revoked_at FROM clients WHERE id = ?`, id).Scan(&revoked)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		if revoked != 0 {
			return nil
		}
		_, err = tx.ExecContext(ctx, `UPDATE clients SET revoked_at = ? WHERE id = ?`, micros(at), id)
		return err
	})
}
