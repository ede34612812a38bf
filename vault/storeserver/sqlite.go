package storeserver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/latchkey/latchkey/vault/store"

	_ "modernc.org/sqlite" // driver "sqlite", pure Go
)

// SQLite is the embedded backend: one file in WAL mode. Writes go through a
// single connection (SQLite has one writer anyway; this avoids lock
// contention), reads through a pool.
type SQLite struct {
	w, r *sql.DB
	path string
}

var _ Backend = (*SQLite)(nil)

// OpenSQLite opens (creating if needed) the SQLite store at path and applies
// pending migrations. The directory is created 0700 and the file 0600.
func OpenSQLite(ctx context.Context, path string) (*SQLite, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("storeserver: sqlite directory: %w", err)
		}
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("storeserver: sqlite file: %w", err)
	}
	f.Close()
	if err := os.Chmod(path, 0o600); err != nil {
		return nil, fmt.Errorf("storeserver: sqlite file: %w", err)
	}
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() +
		"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)" +
		"&_pragma=foreign_keys(1)&_txlock=immediate"
	w, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("storeserver: sqlite: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	r, err := sql.Open("sqlite", dsn+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("storeserver: sqlite: %w", err)
	}
	n := max(4, runtime.GOMAXPROCS(0)*2)
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	s := &SQLite{w: w, r: r, path: path}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	for _, side := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(path + side); err == nil {
			os.Chmod(path+side, 0o600)
		}
	}
	return s, nil
}

func (s *SQLite) migrate(ctx context.Context) error {
	ms, err := migrations("sqlite")
	if err != nil {
		return err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("storeserver: migrate: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("storeserver: migrate: %w", err)
	}
	var cur int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&cur); err != nil {
		return fmt.Errorf("storeserver: migrate: %w", err)
	}
	for _, m := range ms {
		if m.version <= cur {
			continue
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("storeserver: migration %s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations(version, name, applied_at) VALUES (?, ?, ?)`, m.version, m.name, time.Now().Unix()); err != nil {
			return fmt.Errorf("storeserver: migration %s: %w", m.name, err)
		}
	}
	return tx.Commit()
}

// Path is the database file.
func (s *SQLite) Path() string { return s.path }

// Close closes both pools.
func (s *SQLite) Close() error {
	return errors.Join(s.r.Close(), s.w.Close())
}

// Ping checks the file answers a query.
func (s *SQLite) Ping(ctx context.Context) error {
	var one int
	if err := s.r.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		return dbErr(err)
	}
	return nil
}

func micros(t time.Time) int64     { return t.UnixMicro() }
func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

// dbErr marks a database failure as store.ErrUnavailable, keeping the cause.
func dbErr(err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
}

// GetRecord returns the record under k; ErrRevoked or ErrNotFound when none.
func (s *SQLite) GetRecord(ctx context.Context, k store.Key) (store.Record, error) {
	rec := store.Record{Key: k}
	var at int64
	err := s.r.QueryRowContext(ctx, `SELECT key_id, envelope, version, updated_at FROM records WHERE user_id = ? AND device = ? AND integration = ?`,
		k.User, k.Device, k.Integration).Scan(&rec.KeyID, &rec.Envelope, &rec.Version, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Record{}, s.missing(ctx, s.r, k)
	}
	if err != nil {
		return store.Record{}, dbErr(err)
	}
	rec.UpdatedAt = fromMicros(at)
	return rec, nil
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// missing says why there is no record: revoked, or simply not found.
func (s *SQLite) missing(ctx context.Context, q queryer, k store.Key) error {
	var one int
	err := q.QueryRowContext(ctx, `SELECT 1 FROM revocations WHERE user_id = ? AND device = ? AND integration = ?`,
		k.User, k.Device, k.Integration).Scan(&one)
	switch {
	case err == nil:
		return errRevoked
	case errors.Is(err, sql.ErrNoRows):
		return store.ErrNotFound
	default:
		return dbErr(err)
	}
}

// PutRecord creates (CreateOnly) or updates (compare-and-set on version).
func (s *SQLite) PutRecord(ctx context.Context, rec store.Record, expect int64) (store.Record, error) {
	if err := checkPut(rec, expect); err != nil {
		return store.Record{}, err
	}
	t := now()
	out := rec
	out.UpdatedAt = t
	if expect == store.CreateOnly {
		tx, err := s.w.BeginTx(ctx, nil)
		if err != nil {
			return store.Record{}, dbErr(err)
		}
		defer tx.Rollback()
		res, err := tx.ExecContext(ctx, `INSERT INTO records(user_id, device, integration, key_id, envelope, version, updated_at) VALUES (?, ?, ?, ?, ?, 1, ?) ON CONFLICT DO NOTHING`,
			rec.User, rec.Device, rec.Integration, rec.KeyID, rec.Envelope, micros(t))
		if err != nil {
			return store.Record{}, dbErr(err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.Record{}, store.ErrConflict
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM revocations WHERE user_id = ? AND device = ? AND integration = ?`, rec.User, rec.Device, rec.Integration); err != nil {
			return store.Record{}, dbErr(err)
		}
		if err := tx.Commit(); err != nil {
			return store.Record{}, dbErr(err)
		}
		out.Version = 1
		return out, nil
	}
	err := s.w.QueryRowContext(ctx, `UPDATE records SET key_id = ?, envelope = ?, version = version + 1, updated_at = ? WHERE user_id = ? AND device = ? AND integration = ? AND version = ? RETURNING version`,
		rec.KeyID, rec.Envelope, micros(t), rec.User, rec.Device, rec.Integration, expect).Scan(&out.Version)
	if errors.Is(err, sql.ErrNoRows) {
		if err := s.missing(ctx, s.w, rec.Key); errors.Is(err, ErrRevoked) || errors.Is(err, store.ErrUnavailable) {
			return store.Record{}, err
		}
		return store.Record{}, store.ErrConflict
	}
	if err != nil {
		return store.Record{}, dbErr(err)
	}
	return out, nil
}

// DeleteRecord deletes the record under k whatever its version.
func (s *SQLite) DeleteRecord(ctx context.Context, k store.Key) error {
	return s.DeleteVersion(ctx, k, store.AnyVersion)
}

// DeleteVersion deletes the record under k if its version matches.
func (s *SQLite) DeleteVersion(ctx context.Context, k store.Key, expect int64) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM records WHERE user_id = ? AND device = ? AND integration = ? AND (? < 0 OR version = ?)`,
		k.User, k.Device, k.Integration, expect, expect)
	if err != nil {
		return dbErr(err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		return nil
	}
	var one int
	err = s.w.QueryRowContext(ctx, `SELECT 1 FROM records WHERE user_id = ? AND device = ? AND integration = ?`, k.User, k.Device, k.Integration).Scan(&one)
	if err == nil {
		return store.ErrConflict
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return dbErr(err)
	}
	return s.missing(ctx, s.w, k)
}

// ListRecords returns every record of user.
func (s *SQLite) ListRecords(ctx context.Context, user string) ([]store.Record, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT device, integration, key_id, envelope, version, updated_at FROM records WHERE user_id = ? ORDER BY device, integration`, user)
	if err != nil {
		return nil, dbErr(err)
	}
	defer rows.Close()
	out := []store.Record{}
	for rows.Next() {
		rec := store.Record{Key: store.Key{User: user}}
		var at int64
		if err := rows.Scan(&rec.Device, &rec.Integration, &rec.KeyID, &rec.Envelope, &rec.Version, &at); err != nil {
			return nil, dbErr(err)
		}
		rec.UpdatedAt = fromMicros(at)
		out = append(out, rec)
	}
	return out, dbErr(rows.Err())
}

// AdminList returns metadata and revocation markers, never envelopes.
func (s *SQLite) AdminList(ctx context.Context, user string, limit int) ([]AdminRecord, error) {
	rows, err := s.r.QueryContext(ctx, `
SELECT user_id, device, integration, key_id, version, updated_at, 0, 0, '' FROM records WHERE (? = '' OR user_id = ?)
UNION ALL
SELECT user_id, device, integration, '', last_version, revoked_at, 1, revoked_at, revoked_by FROM revocations WHERE (? = '' OR user_id = ?)
ORDER BY 1, 2, 3 LIMIT ?`, user, user, user, user, limit)
	if err != nil {
		return nil, dbErr(err)
	}
	defer rows.Close()
	out := []AdminRecord{}
	for rows.Next() {
		var a AdminRecord
		var at, rat int64
		var revoked int
		if err := rows.Scan(&a.User, &a.Device, &a.Integration, &a.KeyID, &a.Version, &at, &revoked, &rat, &a.RevokedBy); err != nil {
			return nil, dbErr(err)
		}
		a.UpdatedAt = fromMicros(at)
		if revoked == 1 {
			a.Revoked = true
			a.RevokedAt = fromMicros(rat)
		}
		out = append(out, a)
	}
	return out, dbErr(rows.Err())
}

// Revoke deletes the record under k and leaves a marker.
func (s *SQLite) Revoke(ctx context.Context, k store.Key, by string) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return dbErr(err)
	}
	defer tx.Rollback()
	var version int64
	err = tx.QueryRowContext(ctx, `DELETE FROM records WHERE user_id = ? AND device = ? AND integration = ? RETURNING version`, k.User, k.Device, k.Integration).Scan(&version)
	if errors.Is(err, sql.ErrNoRows) {
		// Already revoked is fine (idempotent); nothing at all is not.
		if err := s.missing(ctx, tx, k); errors.Is(err, ErrRevoked) {
			return nil
		} else {
			return err
		}
	}
	if err != nil {
		return dbErr(err)
	}
	t := now()
	if _, err := tx.ExecContext(ctx, `INSERT INTO revocations(user_id, device, integration, last_version, revoked_at, revoked_by) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (user_id, device, integration) DO UPDATE SET last_version = excluded.last_version, revoked_at = excluded.revoked_at, revoked_by = excluded.revoked_by`,
		k.User, k.Device, k.Integration, version, micros(t), by); err != nil {
		return dbErr(err)
	}
	return dbErr(tx.Commit())
}
