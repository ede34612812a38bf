package storeserver

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/latchkey/latchkey/vault/store"
)

// Postgres is the shared backend: any number of server replicas may use one
// database; every version check is a single statement, so they behave as one.
type Postgres struct {
	pool *pgxpool.Pool
}

var _ Backend = (*Postgres)(nil)

// migrationLock is the pg_advisory_xact_lock key that serialises migrations
// of replicas starting together ("latchkey" in ASCII).
const migrationLock int64 = 0x6c617463686b6579

// OpenPostgres connects a pool to dsn (a postgres:// URL; pgx options such as
// pool_max_conns and search_path may be given in its query) and applies
// pending migrations.
func OpenPostgres(ctx context.Context, dsn string) (*Postgres, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx errors can echo the URL, password included: keep them out.
		return nil, errors.New("storeserver: the postgres URL does not parse")
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("storeserver: postgres: %w", err)
	}
	p := &Postgres{pool: pool}
	if err := p.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return p, nil
}

func (p *Postgres) migrate(ctx context.Context) error {
	ms, err := migrations("postgres")
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
			return fmt.Errorf("storeserver: migrate: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`); err != nil {
			return fmt.Errorf("storeserver: migrate: %w", err)
		}
		var cur int
		if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&cur); err != nil {
			return fmt.Errorf("storeserver: migrate: %w", err)
		}
		for _, m := range ms {
			if m.version <= cur {
				continue
			}
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("storeserver: migration %s: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations(version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
				return fmt.Errorf("storeserver: migration %s: %w", m.name, err)
			}
		}
		return nil
	})
}

// Close closes the pool.
func (p *Postgres) Close() error { p.pool.Close(); return nil }

// Ping checks the database answers.
func (p *Postgres) Ping(ctx context.Context) error { return pgErr(p.pool.Ping(ctx)) }

// pgErr marks connection-level failures as store.ErrUnavailable.
func pgErr(err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code[:min(2, len(pe.Code))] {
		case "08", "53", "57", "58": // connection, resources, operator intervention, system
			return fmt.Errorf("%w: postgres %s: %s", store.ErrUnavailable, pe.Code, pe.Message)
		}
		return fmt.Errorf("storeserver: postgres %s: %s", pe.Code, pe.Message)
	}
	return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
}

type pgQueryer interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func (p *Postgres) missing(ctx context.Context, q pgQueryer, k store.Key) error {
	var one int
	err := q.QueryRow(ctx, `SELECT 1 FROM revocations WHERE user_id = $1 AND device = $2 AND integration = $3`,
		k.User, k.Device, k.Integration).Scan(&one)
	switch {
	case err == nil:
		return errRevoked
	case errors.Is(err, pgx.ErrNoRows):
		return store.ErrNotFound
	default:
		return pgErr(err)
	}
}

// GetRecord returns the record under k; ErrRevoked or ErrNotFound when none.
func (p *Postgres) GetRecord(ctx context.Context, k store.Key) (store.Record, error) {
	rec := store.Record{Key: k}
	err := p.pool.QueryRow(ctx, `SELECT key_id, envelope, version, updated_at FROM records WHERE user_id = $1 AND device = $2 AND integration = $3`,
		k.User, k.Device, k.Integration).Scan(&rec.KeyID, &rec.Envelope, &rec.Version, &rec.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Record{}, p.missing(ctx, p.pool, k)
	}
	if err != nil {
		return store.Record{}, pgErr(err)
	}
	rec.UpdatedAt = rec.UpdatedAt.UTC()
	return rec, nil
}

// PutRecord creates (CreateOnly) or updates (compare-and-set on version).
func (p *Postgres) PutRecord(ctx context.Context, rec store.Record, expect int64) (store.Record, error) {
	if err := checkPut(rec, expect); err != nil {
		return store.Record{}, err
	}
	t := now()
	out := rec
	out.UpdatedAt = t
	if expect == store.CreateOnly {
		// One statement: insert unless present, and drop a revocation
		// marker only when the insert happened.
		err := p.pool.QueryRow(ctx, `
WITH ins AS (
	INSERT INTO records(user_id, device, integration, key_id, envelope, version, updated_at)
	VALUES ($1, $2, $3, $4, $5, 1, $6) ON CONFLICT DO NOTHING RETURNING version
), unrevoke AS (
	DELETE FROM revocations WHERE user_id = $1 AND device = $2 AND integration = $3 AND EXISTS (SELECT 1 FROM ins)
)
SELECT version FROM ins`, rec.User, rec.Device, rec.Integration, rec.KeyID, rec.Envelope, t).Scan(&out.Version)
		if errors.Is(err, pgx.ErrNoRows) {
			return store.Record{}, store.ErrConflict
		}
		if err != nil {
			return store.Record{}, pgErr(err)
		}
		return out, nil
	}
	err := p.pool.QueryRow(ctx, `UPDATE records SET key_id = $4, envelope = $5, version = version + 1, updated_at = $6 WHERE user_id = $1 AND device = $2 AND integration = $3 AND version = $7 RETURNING version`,
		rec.User, rec.Device, rec.Integration, rec.KeyID, rec.Envelope, t, expect).Scan(&out.Version)
	if errors.Is(err, pgx.ErrNoRows) {
		if err := p.missing(ctx, p.pool, rec.Key); errors.Is(err, ErrRevoked) || errors.Is(err, store.ErrUnavailable) {
			return store.Record{}, err
		}
		return store.Record{}, store.ErrConflict
	}
	if err != nil {
		return store.Record{}, pgErr(err)
	}
	return out, nil
}

// DeleteRecord deletes the record under k whatever its version.
func (p *Postgres) DeleteRecord(ctx context.Context, k store.Key) error {
	return p.DeleteVersion(ctx, k, store.AnyVersion)
}

// DeleteVersion deletes the record under k if its version matches.
func (p *Postgres) DeleteVersion(ctx context.Context, k store.Key, expect int64) error {
	tag, err := p.pool.Exec(ctx, `DELETE FROM records WHERE user_id = $1 AND device = $2 AND integration = $3 AND ($4 < 0 OR version = $4)`,
		k.User, k.Device, k.Integration, expect)
	if err != nil {
		return pgErr(err)
	}
	if tag.RowsAffected() > 0 {
		return nil
	}
	var one int
	err = p.pool.QueryRow(ctx, `SELECT 1 FROM records WHERE user_id = $1 AND device = $2 AND integration = $3`, k.User, k.Device, k.Integration).Scan(&one)
	if err == nil {
		return store.ErrConflict
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return pgErr(err)
	}
	return p.missing(ctx, p.pool, k)
}

// ListRecords returns every record of user.
func (p *Postgres) ListRecords(ctx context.Context, user string) ([]store.Record, error) {
	rows, err := p.pool.Query(ctx, `SELECT device, integration, key_id, envelope, version, updated_at FROM records WHERE user_id = $1 ORDER BY device, integration`, user)
	if err != nil {
		return nil, pgErr(err)
	}
	defer rows.Close()
	out := []store.Record{}
	for rows.Next() {
		rec := store.Record{Key: store.Key{User: user}}
		if err := rows.Scan(&rec.Device, &rec.Integration, &rec.KeyID, &rec.Envelope, &rec.Version, &rec.UpdatedAt); err != nil {
			return nil, pgErr(err)
		}
		rec.UpdatedAt = rec.UpdatedAt.UTC()
		out = append(out, rec)
	}
	return out, pgErr(rows.Err())
}

// AdminList returns metadata and revocation markers, never envelopes.
func (p *Postgres) AdminList(ctx context.Context, user string, limit int) ([]AdminRecord, error) {
	rows, err := p.pool.Query(ctx, `
SELECT user_id, device, integration, key_id, version, updated_at, false, NULL::timestamptz, '' FROM records WHERE ($1 = '' OR user_id = $1)
UNION ALL
SELECT user_id, device, integration, '', last_version, revoked_at, true, revoked_at, revoked_by FROM revocations WHERE ($1 = '' OR user_id = $1)
ORDER BY 1, 2, 3 LIMIT $2`, user, limit)
	if err != nil {
		return nil, pgErr(err)
	}
	defer rows.Close()
	out := []AdminRecord{}
	for rows.Next() {
		var a AdminRecord
		var rat *time.Time
		if err := rows.Scan(&a.User, &a.Device, &a.Integration, &a.KeyID, &a.Version, &a.UpdatedAt, &a.Revoked, &rat, &a.RevokedBy); err != nil {
			return nil, pgErr(err)
		}
		a.UpdatedAt = a.UpdatedAt.UTC()
		if rat != nil {
			a.RevokedAt = rat.UTC()
		}
		out = append(out, a)
	}
	return out, pgErr(rows.Err())
}

// Revoke deletes the record under k and leaves a marker, in one transaction.
func (p *Postgres) Revoke(ctx context.Context, k store.Key, by string) error {
	return pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		var version int64
		err := tx.QueryRow(ctx, `DELETE FROM records WHERE user_id = $1 AND device = $2 AND integration = $3 RETURNING version`, k.User, k.Device, k.Integration).Scan(&version)
		if errors.Is(err, pgx.ErrNoRows) {
			if err := p.missing(ctx, tx, k); !errors.Is(err, ErrRevoked) {
				return err
			}
			return nil
		}
		if err != nil {
			return pgErr(err)
		}
		_, err = tx.Exec(ctx, `INSERT INTO revocations(user_id, device, integration, last_version, revoked_at, revoked_by) VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (user_id, device, integration) DO UPDATE SET last_version = excluded.last_version, revoked_at = excluded.revoked_at, revoked_by = excluded.revoked_by`,
			k.User, k.Device, k.Integration, version, now(), by)
		return pgErr(err)
	})
}
