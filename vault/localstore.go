package vault

import (
	"context"
	"fmt"

	"github.com/latchkey/latchkey/vault/store"
	"github.com/latchkey/latchkey/vault/store/sqlitestore"
)

// RecordReader reads sealed records.
type RecordReader interface {
	GetRecord(ctx context.Context, k store.Key) (store.Record, error)
	ListRecords(ctx context.Context, user string) ([]store.Record, error)
}

// CachedRecordReader is optional on a Store: GetRecordCached may serve a
// record read a moment ago (sqlitestore.Store.GetRecordCached). Without it
// the per-request path reads with GetRecord.
type CachedRecordReader interface {
	GetRecordCached(ctx context.Context, k store.Key) (store.Record, error)
}

// ChangeApplier commits a store.Change (a record put or deleted, its push
// queued, its connection updated, meta set) in one transaction, whole or
// not at all; a Put whose expected version is not the current one fails
// with store.ErrConflict.
type ChangeApplier interface {
	Apply(ctx context.Context, c store.Change) (store.Record, error)
}

// ConnectionReader reads the non-secret metadata of a connection
// (store.ErrNotFound when there is none).
type ConnectionReader interface {
	GetConnection(ctx context.Context, integration string) (store.Connection, error)
}

// MetaStore keeps the vault's meta entries (binding user, keychain
// account, sealed meta secrets). GetMeta of an absent key is
// store.ErrNotFound.
type MetaStore interface {
	GetMeta(ctx context.Context, key string) (string, error)
	SetMeta(ctx context.Context, key, value string) error
	// SetMetaIfAbsent stores value unless a value is there and returns the
	// value stored: two processes racing get the same answer.
	SetMetaIfAbsent(ctx context.Context, key, value string) (string, error)
	ListMeta(ctx context.Context) (map[string]string, error)
	// CompareAndSetMeta replaces the value under key only if it is still
	// old, and reports whether it did.
	CompareAndSetMeta(ctx context.Context, key, old, value string) (bool, error)
	DeleteMeta(ctx context.Context, key string) error
}

// Locker runs f holding a lock shared with every process using the same
// store, so that they run f one at a time. f must not write to the store.
type Locker interface {
	Lock(ctx context.Context, f func() error) error
}

// Store is what the vault needs of the local store: sqlitestore.Store in
// the daemon, vault/store/memstore in tests. The vault is the only
// writer of sealed records; it writes them through Apply alone.
type Store interface {
	RecordReader
	ChangeApplier
	ConnectionReader
	MetaStore
	Locker
}

// OpenLocalStore opens (creating it if needed) the local SQLite database
// at path.
func OpenLocalStore(path string) (*sqlitestore.Store, error) {
	st, err := sqlitestore.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open local store %s: %w", path, err)
	}
	return st, nil
}
