package storeserver

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/latchkey/latchkey/vault/store"
)

// ErrRevoked is returned (wrapped together with store.ErrNotFound, so callers
// that do not know about revocation see "not found") for a key an
// administrator revoked.
var ErrRevoked = errors.New("storeserver: record revoked")

// errRevoked is what backends return for a revoked key.
var errRevoked = fmt.Errorf("%w: %w", ErrRevoked, store.ErrNotFound)

// errUnconditional refuses store.AnyVersion: the server always needs a version.
var errUnconditional = errors.New("storeserver: unconditional writes are not accepted; give a version or CreateOnly")

// AdminRecord is what an administrator sees of a record: its metadata and
// never its envelope. A revoked key shows up with Revoked set.
type AdminRecord struct {
	store.Key
	KeyID     string    `json:"key_id,omitempty"`
	Version   int64     `json:"version"`
	UpdatedAt time.Time `json:"updated_at"`
	Revoked   bool      `json:"revoked,omitempty"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	RevokedBy string    `json:"revoked_by,omitempty"`
}

// Backend is a database holding sealed records. Both backends implement it
// with the same behaviour (one test suite runs against both).
//
// Record versions follow store.RecordStore: PutRecord with CreateOnly creates
// version 1 (and clears a revocation marker), PutRecord with a version n > 0
// writes version n+1 only if the current version is n, in one
// compare-and-set statement; store.AnyVersion is refused.
type Backend interface {
	store.RecordStore
	OrgBackend
	// DeleteVersion deletes the record under k if its version is
	// expectVersion (store.AnyVersion: whatever it is). ErrNotFound when
	// absent, ErrRevoked when revoked, ErrConflict on a version mismatch.
	DeleteVersion(ctx context.Context, k store.Key, expectVersion int64) error
	// AdminList returns the metadata of user's records and revocation
	// markers (every user's when user is ""), at most limit rows, ordered by
	// user, device, integration.
	AdminList(ctx context.Context, user string, limit int) ([]AdminRecord, error)
	// Revoke deletes the record under k and leaves a revocation marker
	// naming by. ErrNotFound when there is neither a record nor a marker.
	Revoke(ctx context.Context, k store.Key, by string) error
	// Ping checks the database answers.
	Ping(ctx context.Context) error
	// Close releases the database.
	Close() error
}

// Open opens the backend named by dsn: "sqlite:///path/to/store.db" (or
// "sqlite:relative.db") or "postgres://…"/"postgresql://…". It creates the
// database file (0600, directory 0700) and applies pending migrations.
func Open(ctx context.Context, dsn string) (Backend, error) {
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		path := strings.TrimPrefix(dsn, "sqlite:")
		path = strings.TrimPrefix(path, "//")
		if path == "" {
			return nil, errors.New("storeserver: sqlite URL has no path (want sqlite:///path/to/store.db)")
		}
		return OpenSQLite(ctx, path)
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return OpenPostgres(ctx, dsn)
	default:
		return nil, errors.New("storeserver: --db must start with sqlite:// or postgres://")
	}
}

func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// checkPut validates what every backend needs before a write.
func checkPut(rec store.Record, expect int64) error {
	if expect < 0 {
		return errUnconditional
	}
	if rec.User == "" || rec.Device == "" || rec.Integration == "" {
		return errors.New("storeserver: record key is incomplete")
	}
	return nil
}
