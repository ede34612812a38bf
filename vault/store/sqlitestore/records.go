package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/latchkey/latchkey/vault/store"
)

// maxLastError bounds the error text kept on an outbox item.
const maxLastError = 500

// GetRecord returns the record under k, or store.ErrNotFound.
func (s *Store) GetRecord(ctx context.Context, k store.Key) (store.Record, error) {
	rec := store.Record{Key: k}
	var upd int64
	err := s.db.QueryRowContext(ctx,
		`SELECT key_id, envelope, version, updated_at FROM records WHERE user = ? AND device = ? AND integration = ?`,
		k.User, k.Device, k.Integration).Scan(&rec.KeyID, &rec.Envelope, &rec.Version, &upd)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Record{}, store.ErrNotFound
	}
	if err != nil {
		return store.Record{}, wrap(err)
	}
	rec.UpdatedAt = fromMicros(upd)
	return rec, nil
}

// ListRecords returns every record of user, ordered by device then
// integration.
func (s *Store) ListRecords(ctx context.Context, user string) ([]store.Record, error) {
	rows, err := s.db.QueryContext(ctx,
		`SELECT device, integration, key_id, envelope, version, updated_at FROM records WHERE user = ? ORDER BY device, integration`, user)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	var out []store.Record
	for rows.Next() {
		rec := store.Record{Key: store.Key{User: user}}
		var upd int64
		if err := rows.Scan(&rec.Device, &rec.Integration, &rec.KeyID, &rec.Envelope, &rec.Version, &upd); err != nil {
			return nil, wrap(err)
		}
		rec.UpdatedAt = fromMicros(upd)
		out = append(out, rec)
	}
	return out, wrap(rows.Err())
}

// PutRecord writes rec if the current version equals expectVersion
// (store.CreateOnly, store.AnyVersion, or a version) and returns it as stored.
func (s *Store) PutRecord(ctx context.Context, rec store.Record, expectVersion int64) (store.Record, error) {
	return s.PutRecordEnqueue(ctx, rec, expectVersion, false, nil)
}

// DeleteRecord removes the record under k (and any pending push of it), or
// returns store.ErrNotFound.
func (s *Store) DeleteRecord(ctx context.Context, k store.Key) error {
	if err := store.CheckKey(k); err != nil {
		return err
	}
	return s.recordTx(ctx, func(tx *sql.Tx) error {
		n, err := deleteRecord(ctx, tx, k)
		if err != nil {
			return err
		}
		if n == 0 {
			return store.ErrNotFound
		}
		return nil
	})
}

// PutRecordEnqueue writes rec like PutRecord and, in the same transaction,
// queues it for the remote store when enqueue is set (replacing any older
// pending item for the same key) and upserts conn when it is not nil. Either
// all of it is committed or none.
func (s *Store) PutRecordEnqueue(ctx context.Context, rec store.Record, expect int64, enqueue bool, conn *store.Connection) (store.Record, error) {
	if conn != nil {
		if err := store.CheckConnection(*conn); err != nil {
			return store.Record{}, err
		}
	}
	return s.Apply(ctx, store.Change{Put: &rec, Expect: expect, Push: enqueue, Conn: replaceConnection(conn)})
}

// DeleteRecordEnqueue removes the record under k (if any) and any pending
// push of it and, in the same transaction, queues a delete for the remote
// store when enqueue is set and
// upserts conn when it is not nil. Unlike DeleteRecord it succeeds when no
// local record exists: the remote one may still have to go.
func (s *Store) DeleteRecordEnqueue(ctx context.Context, k store.Key, enqueue bool, conn *store.Connection) error {
	return s.DeleteRecordEnqueueMeta(ctx, k, enqueue, conn, nil)
}

// DeleteRecordEnqueueMeta is DeleteRecordEnqueue that also sets the meta
// entries in meta (an empty value deletes the entry), all in one
// transaction: a crash leaves either all of it or none.
func (s *Store) DeleteRecordEnqueueMeta(ctx context.Context, k store.Key, enqueue bool, conn *store.Connection, meta map[string]string) error {
	if conn != nil {
		if err := store.CheckConnection(*conn); err != nil {
			return err
		}
	}
	_, err := s.Apply(ctx, store.Change{Delete: &k, Push: enqueue, Conn: replaceConnection(conn), Meta: meta})
	return err
}

// replaceConnection is the Change.Conn that stores conn as it is (nil: the
// connection is left alone).
func replaceConnection(conn *store.Connection) func(*store.Connection) error {
	if conn == nil {
		return nil
	}
	c := *conn
	return func(cur *store.Connection) error { *cur = c; return nil }
}

// Apply commits c in one transaction: the record put (if its version is the
// expected one) or deleted, its push queued, its connection updated, the
// meta entries set. It returns the record as stored when c puts one. On any
// error nothing is written.
func (s *Store) Apply(ctx context.Context, c store.Change) (store.Record, error) {
	k, hasKey := c.Key()
	if err := store.CheckChange(c); err != nil {
		return store.Record{}, err
	}
	var out store.Record
	run := s.tx
	if hasKey {
		run = s.recordTx
	}
	err := run(ctx, func(tx *sql.Tx) error {
		switch {
		case c.Put != nil:
			var err error
			if out, err = putRecordTx(ctx, tx, *c.Put, c.Expect); err != nil {
				return err
			}
			if c.Push {
				if err := enqueueTx(ctx, tx, store.OpPut, out); err != nil {
					return err
				}
			}
			if c.Replaces != nil {
				if _, err := deleteRecord(ctx, tx, *c.Replaces); err != nil {
					return err
				}
			}
		case c.Delete != nil:
			if _, err := deleteRecord(ctx, tx, k); err != nil {
				return err
			}
			if c.Push {
				if err := enqueueTx(ctx, tx, store.OpDelete, store.Record{Key: k}); err != nil {
					return err
				}
			}
		}
		if c.Conn != nil {
			if err := updateConnection(ctx, tx, c.ConnIntegration(), c.Conn); err != nil {
				return err
			}
		}
		for key, val := range c.Meta {
			var err error
			if val == "" {
				_, err = tx.ExecContext(ctx, `DELETE FROM meta WHERE key = ?`, key)
			} else {
				_, err = tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, val)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return store.Record{}, err
	}
	return out, nil
}

// putRecordTx writes rec if the current version is expect and returns it
// with its new version and time.
func putRecordTx(ctx context.Context, tx *sql.Tx, rec store.Record, expect int64) (store.Record, error) {
	var cur int64
	err := tx.QueryRowContext(ctx,
		`SELECT version FROM records WHERE user = ? AND device = ? AND integration = ?`,
		rec.User, rec.Device, rec.Integration).Scan(&cur)
	exists := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return store.Record{}, err
	}
	switch {
	case expect == store.AnyVersion:
	case expect == store.CreateOnly && exists:
		return store.Record{}, fmt.Errorf("%w: a record already exists (version %d)", store.ErrConflict, cur)
	case expect > 0 && (!exists || cur != expect):
		return store.Record{}, fmt.Errorf("%w: expected version %d", store.ErrConflict, expect)
	}
	out := rec
	out.Version = cur + 1
	out.UpdatedAt = time.Now().UTC().Truncate(time.Microsecond)
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO records (user, device, integration, key_id, envelope, version, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (user, device, integration) DO UPDATE SET
			key_id = excluded.key_id, envelope = excluded.envelope,
			version = excluded.version, updated_at = excluded.updated_at`,
		out.User, out.Device, out.Integration, out.KeyID, out.Envelope, out.Version, micros(out.UpdatedAt)); err != nil {
		return store.Record{}, err
	}
	return out, nil
}

// deleteRecord removes the record under k and any outbox item still waiting
// to push it: pushing a deleted token would bring it back remotely.
func deleteRecord(ctx context.Context, tx *sql.Tx, k store.Key) (int64, error) {
	res, err := tx.ExecContext(ctx, `DELETE FROM records WHERE user = ? AND device = ? AND integration = ?`,
		k.User, k.Device, k.Integration)
	if err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE user = ? AND device = ? AND integration = ?`,
		k.User, k.Device, k.Integration); err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// enqueueTx adds an outbox item, replacing older pending items for the same
// key: only the latest write of a key matters to the remote store. An item
// the sync loop is pushing while it is replaced is acked harmlessly.
func enqueueTx(ctx context.Context, tx *sql.Tx, op store.Op, rec store.Record) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE user = ? AND device = ? AND integration = ?`,
		rec.User, rec.Device, rec.Integration); err != nil {
		return err
	}
	now := micros(time.Now())
	_, err := tx.ExecContext(ctx, `
		INSERT INTO outbox (op, user, device, integration, key_id, envelope, version, updated_at, next_attempt, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		string(op), rec.User, rec.Device, rec.Integration, rec.KeyID, rec.Envelope, rec.Version, micros(rec.UpdatedAt), now, now)
	return err
}

// Enqueue adds an outbox item on its own (for example to push a delete of a
// record that only the remote store has).
func (s *Store) Enqueue(ctx context.Context, op store.Op, rec store.Record) error {
	switch op {
	case store.OpPut:
		if err := store.CheckRecord(rec); err != nil {
			return err
		}
	case store.OpDelete:
		if err := store.CheckKey(rec.Key); err != nil {
			return err
		}
		rec = store.Record{Key: rec.Key}
	default:
		return fmt.Errorf("sqlitestore: unknown outbox op %q", op)
	}
	return s.tx(ctx, func(tx *sql.Tx) error { return enqueueTx(ctx, tx, op, rec) })
}

// Pending returns up to limit outbox items due at now, oldest first.
func (s *Store) Pending(ctx context.Context, now time.Time, limit int) ([]store.OutboxItem, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.db.QueryContext(ctx, `
		SELECT id, op, user, device, integration, key_id, envelope, version, updated_at,
		       attempts, next_attempt, last_error, created_at
		FROM outbox WHERE next_attempt <= ? ORDER BY id LIMIT ?`, micros(now), limit)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	var out []store.OutboxItem
	for rows.Next() {
		var it store.OutboxItem
		var op string
		var upd, next, created int64
		if err := rows.Scan(&it.ID, &op, &it.Record.User, &it.Record.Device, &it.Record.Integration,
			&it.Record.KeyID, &it.Record.Envelope, &it.Record.Version, &upd,
			&it.Attempts, &next, &it.LastError, &created); err != nil {
			return nil, wrap(err)
		}
		it.Op = store.Op(op)
		it.Record.UpdatedAt = fromMicros(upd)
		it.NextAttempt = fromMicros(next)
		it.CreatedAt = fromMicros(created)
		out = append(out, it)
	}
	return out, wrap(rows.Err())
}

// Ack removes an outbox item. Acking an item that is gone (already acked, or
// replaced by a newer write of the same key) is not an error.
func (s *Store) Ack(ctx context.Context, id int64) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM outbox WHERE id = ?`, id)
	return wrap(err)
}

// Retry records a failed attempt of an item and when to try it again. An
// item that is gone is left gone.
func (s *Store) Retry(ctx context.Context, id int64, lastError string, next time.Time) error {
	if len(lastError) > maxLastError {
		lastError = lastError[:maxLastError]
	}
	_, err := s.db.ExecContext(ctx,
		`UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt = ? WHERE id = ?`,
		lastError, micros(next), id)
	return wrap(err)
}

// Count returns how many outbox items are pending in all.
func (s *Store) Count(ctx context.Context) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM outbox`).Scan(&n)
	return n, wrap(err)
}
