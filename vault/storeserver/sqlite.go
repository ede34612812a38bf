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
	"sync"
	"time"

	"github.com/latchkey/latchkey/internal/sqlitewal"
	"github.com/latchkey/latchkey/vault/store"

	_ "modernc.org/sqlite" // driver "sqlite", pure Go
)

// SQLite is the embedded backend: one file in WAL mode. Writes go through a
// single connection and one writer goroutine that commits the writes queued
// together in one transaction (group commit; each write is still its own
// compare-and-set); reads go through a pool.
//
// synchronous=NORMAL: a committed write survives a crash of the process but
// the last ones may be lost on a power failure. The daemon's syncer notices
// (its periodic check finds the record missing or older) and pushes again.
type SQLite struct {
	w, r *sql.DB
	path string

	ops        chan writeOp
	quit       chan struct{}
	writerDone chan struct{}
	closeOnce  sync.Once
	// writerStarted is set once, in OpenSQLite, before s is shared.
	writerStarted bool

	// Prepared hot-path statements (parsing dominates otherwise).
	get, missingR, missingW, update, insert, unrevoke *sql.Stmt
}

const (
	sqlGet      = `SELECT key_id, envelope, version, updated_at FROM records WHERE user_id = ? AND device = ? AND integration = ?`
	sqlMissing  = `SELECT 1 FROM revocations WHERE user_id = ? AND device = ? AND integration = ?`
	sqlUpdate   = `UPDATE records SET key_id = ?, envelope = ?, version = version + 1, updated_at = ? WHERE user_id = ? AND device = ? AND integration = ? AND version = ? RETURNING version`
	sqlInsert   = `INSERT INTO records(user_id, device, integration, key_id, envelope, version, updated_at) VALUES (?, ?, ?, ?, ?, 1, ?) ON CONFLICT DO NOTHING`
	sqlUnrevoke = `DELETE FROM revocations WHERE user_id = ? AND device = ? AND integration = ?`
)

func (s *SQLite) prepare(ctx context.Context) error {
	for _, p := range []struct {
		db  *sql.DB
		sql string
		out **sql.Stmt
	}{
		{s.r, sqlGet, &s.get}, {s.r, sqlMissing, &s.missingR}, {s.w, sqlMissing, &s.missingW},
		{s.w, sqlUpdate, &s.update}, {s.w, sqlInsert, &s.insert}, {s.w, sqlUnrevoke, &s.unrevoke},
	} {
		st, err := p.db.PrepareContext(ctx, p.sql)
		if err != nil {
			return fmt.Errorf("storeserver: sqlite prepare: %w", err)
		}
		*p.out = st
	}
	return nil
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
	file := "file:" + (&url.URL{Path: path}).EscapedPath()
	if err := sqlitewal.Enable(file, nil); err != nil {
		return nil, fmt.Errorf("storeserver: switch %s to WAL mode: %w", path, err)
	}
	dsn := file + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)" +
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
	s := &SQLite{w: w, r: r, path: path, ops: make(chan writeOp, maxBatch), quit: make(chan struct{}), writerDone: make(chan struct{})}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.prepare(ctx); err != nil {
		s.Close()
		return nil, err
	}
	s.writerStarted = true
	go s.writer()
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
	s.closeOnce.Do(func() {
		close(s.quit)
		if s.writerStarted {
			<-s.writerDone
		}
	})
	for _, st := range []*sql.Stmt{s.get, s.missingR, s.missingW, s.update, s.insert, s.unrevoke} {
		if st != nil {
			st.Close()
		}
	}
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
	err := s.get.QueryRowContext(ctx, k.User, k.Device, k.Integration).Scan(&rec.KeyID, &rec.Envelope, &rec.Version, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Record{}, s.missing(ctx, s.missingR, k)
	}
	if err != nil {
		return store.Record{}, dbErr(err)
	}
	rec.UpdatedAt = fromMicros(at)
	return rec, nil
}

// missing says why there is no record: revoked, or simply not found. q is
// the prepared sqlMissing (of the pool or the transaction at hand).
func (s *SQLite) missing(ctx context.Context, q *sql.Stmt, k store.Key) error {
	var one int
	err := q.QueryRowContext(ctx, k.User, k.Device, k.Integration).Scan(&one)
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
	out := rec
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		t := now()
		out.UpdatedAt = t
		if expect == store.CreateOnly {
			res, err := tx.StmtContext(ctx, s.insert).ExecContext(ctx, rec.User, rec.Device, rec.Integration, rec.KeyID, rec.Envelope, micros(t))
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return store.ErrConflict
			}
			out.Version = 1
			_, err = tx.StmtContext(ctx, s.unrevoke).ExecContext(ctx, rec.User, rec.Device, rec.Integration)
			return err
		}
		err := tx.StmtContext(ctx, s.update).QueryRowContext(ctx, rec.KeyID, rec.Envelope, micros(t),
			rec.User, rec.Device, rec.Integration, expect).Scan(&out.Version)
		if errors.Is(err, sql.ErrNoRows) {
			if err := s.missing(ctx, tx.StmtContext(ctx, s.missingW), rec.Key); errors.Is(err, ErrRevoked) || errors.Is(err, store.ErrUnavailable) {
				return err
			}
			return store.ErrConflict
		}
		return err
	})
	if err != nil {
		return store.Record{}, err
	}
	return out, nil
}

// DeleteRecord deletes the record under k whatever its version.
func (s *SQLite) DeleteRecord(ctx context.Context, k store.Key) error {
	return s.DeleteVersion(ctx, k, store.AnyVersion)
}

// DeleteVersion deletes the record under k if its version matches.
func (s *SQLite) DeleteVersion(ctx context.Context, k store.Key, expect int64) error {
	return s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM records WHERE user_id = ? AND device = ? AND integration = ? AND (? < 0 OR version = ?)`,
			k.User, k.Device, k.Integration, expect, expect)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n > 0 {
			return nil
		}
		var one int
		err = tx.QueryRowContext(ctx, `SELECT 1 FROM records WHERE user_id = ? AND device = ? AND integration = ?`, k.User, k.Device, k.Integration).Scan(&one)
		if err == nil {
			return store.ErrConflict
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		return s.missing(ctx, tx.StmtContext(ctx, s.missingW), k)
	})
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
	return s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var version int64
		err := tx.QueryRowContext(ctx, `DELETE FROM records WHERE user_id = ? AND device = ? AND integration = ? RETURNING version`, k.User, k.Device, k.Integration).Scan(&version)
		if errors.Is(err, sql.ErrNoRows) {
			// Already revoked is fine (idempotent); nothing at all is not.
			if err := s.missing(ctx, tx.StmtContext(ctx, s.missingW), k); !errors.Is(err, ErrRevoked) {
				return err
			}
			return nil
		}
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO revocations(user_id, device, integration, last_version, revoked_at, revoked_by) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (user_id, device, integration) DO UPDATE SET last_version = excluded.last_version, revoked_at = excluded.revoked_at, revoked_by = excluded.revoked_by`,
			k.User, k.Device, k.Integration, version, micros(now()), by)
		return err
	})
}

// writeOp is one write waiting for the writer goroutine. fn runs inside the
// batch's transaction; it returns nil, a logical error after writing nothing
// (ErrConflict, ErrNotFound, ErrRevoked), or a database error.
type writeOp struct {
	ctx  context.Context
	fn   func(ctx context.Context, tx *sql.Tx) error
	done chan error
}

// maxBatch bounds how many writes share one transaction (group commit).
const maxBatch = 256

// write hands fn to the writer goroutine and waits for its outcome. Writes
// queued together commit together: one WAL commit for many writes.
func (s *SQLite) write(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	op := writeOp{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case s.ops <- op:
	case <-s.quit:
		return fmt.Errorf("%w: the store is closed", store.ErrUnavailable)
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once queued, wait for the outcome even if ctx ends: the write may
	// already be committed, and the answer must say so.
	select {
	case err := <-op.done:
		return err
	case <-s.writerDone:
		select {
		case err := <-op.done:
			return err
		default:
			return fmt.Errorf("%w: the store is closed", store.ErrUnavailable)
		}
	}
}

// writer runs batches until Close.
func (s *SQLite) writer() {
	defer close(s.writerDone)
	for {
		var first writeOp
		select {
		case first = <-s.ops:
		case <-s.quit:
			return
		}
		batch := []writeOp{first}
	drain:
		for len(batch) < maxBatch {
			select {
			case op := <-s.ops:
				batch = append(batch, op)
			default:
				break drain
			}
		}
		if !s.runBatch(batch) && len(batch) > 1 {
			// A database error in one write: run each on its own so the
			// others are not failed with it.
			for _, op := range batch {
				s.runBatch([]writeOp{op})
			}
		}
	}
}

func logical(err error) bool {
	return err == nil || errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// runBatch runs ops in one transaction and delivers their outcomes. It
// returns false, delivering nothing, when a multi-op batch hit a database
// error (the caller retries the ops one by one).
func (s *SQLite) runBatch(ops []writeOp) bool {
	ctx := context.Background()
	fail := func(err error) bool {
		for _, op := range ops {
			op.done <- dbErr(err)
		}
		return true
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fail(err)
	}
	errs := make([]error, len(ops))
	for i, op := range ops {
		if err := op.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		errs[i] = op.fn(context.WithoutCancel(op.ctx), tx)
		if !logical(errs[i]) {
			tx.Rollback()
			if len(ops) > 1 {
				return false
			}
			return fail(errs[i])
		}
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	for i, op := range ops {
		op.done <- errs[i]
	}
	return true
}
