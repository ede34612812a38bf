// Package store defines what latchkey persists and the seam between the vault
// and the places it persists to: the local SQLite file (always) and the remote
// latchkey-store (when configured). Everything here is ciphertext or metadata;
// no type in this package can hold a plaintext token.
package store

import (
	"context"
	"errors"
	"time"
)

// Key names one sealed record: whose it is, on which device, for which
// integration.
type Key struct {
	User        string `json:"user"`
	Device      string `json:"device"`
	Integration string `json:"integration"`
}

// Record is a sealed token as stored. Envelope is the opaque output of
// vault/envelope (it starts with "lk1."); KeyID names the key that sealed it
// (derived from the key, never the key). Version grows by one on every write
// and is the optimistic-concurrency token (ETag) of the remote store.
type Record struct {
	Key
	KeyID     string    `json:"key_id"`
	Envelope  string    `json:"envelope"`
	Version   int64     `json:"version"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Errors every RecordStore implementation returns (wrapped is fine; compare
// with errors.Is).
var (
	// ErrNotFound: no record under that key.
	ErrNotFound = errors.New("store: record not found")
	// ErrConflict: the expected version is not the current one (HTTP 412).
	ErrConflict = errors.New("store: version conflict")
	// ErrUnavailable: the store cannot be reached right now; retry later.
	ErrUnavailable = errors.New("store: unavailable")
)

// CreateOnly, passed as the expected version to PutRecord, means "only if no
// record exists" (If-None-Match: *).
const CreateOnly int64 = 0

// AnyVersion, passed as the expected version, means an unconditional write.
// Only the local store accepts it; the remote store always requires a version.
const AnyVersion int64 = -1

// RecordStore is implemented by the local SQLite store, by the remote store
// client, and by the store server's backends.
type RecordStore interface {
	// GetRecord returns the record under k, or ErrNotFound.
	GetRecord(ctx context.Context, k Key) (Record, error)
	// PutRecord writes rec under rec.Key if the current version equals
	// expectVersion (CreateOnly: must not exist; AnyVersion: unconditional),
	// and returns the stored record with its new Version (old+1, or 1).
	// On mismatch it returns ErrConflict and writes nothing.
	PutRecord(ctx context.Context, rec Record, expectVersion int64) (Record, error)
	// DeleteRecord removes the record under k (ErrNotFound if absent).
	DeleteRecord(ctx context.Context, k Key) error
	// ListRecords returns every record of user, ordered by device then
	// integration.
	ListRecords(ctx context.Context, user string) ([]Record, error)
}

// Op is what an outbox entry asks the remote store to do.
type Op string

const (
	OpPut    Op = "put"
	OpDelete Op = "delete"
)

// OutboxItem is a local write not yet acknowledged by the remote store. The
// local store enqueues it in the same transaction as the local write, so a
// crash never loses it. For OpPut, Record is the sealed record to push
// (Record.Version is the local version; the remote version is tracked apart).
type OutboxItem struct {
	ID          int64
	Op          Op
	Record      Record
	Attempts    int
	NextAttempt time.Time
	LastError   string
	CreatedAt   time.Time
}

// Outbox is the queue of pending remote writes, implemented by the local
// store and drained by the daemon's sync loop.
type Outbox interface {
	// Pending returns up to limit items whose NextAttempt is not after now,
	// oldest first.
	Pending(ctx context.Context, now time.Time, limit int) ([]OutboxItem, error)
	// Ack removes an item once the remote store accepted it.
	Ack(ctx context.Context, id int64) error
	// Retry records a failed attempt and when to try again.
	Retry(ctx context.Context, id int64, lastError string, next time.Time) error
	// Count returns how many items are pending in all.
	Count(ctx context.Context) (int, error)
}

// State is the connection state of one integration on this device.
type State string

const (
	StateConnected       State = "connected"
	StateReconnectNeeded State = "reconnect_needed"
	StateDisconnected    State = "disconnected"
)

// Connection is the non-secret metadata of one integration on this device:
// never a token, a secret or a salt.
type Connection struct {
	Integration string    `json:"integration"`
	State       State     `json:"state"`
	AccountID   string    `json:"account_id,omitempty"`
	Username    string    `json:"username,omitempty"`
	DisplayName string    `json:"display_name,omitempty"`
	Email       string    `json:"email,omitempty"`
	Expiry      time.Time `json:"expiry,omitzero"`
	Reason      string    `json:"reason,omitempty"` // why reconnect is needed, in plain words
	UpdatedAt   time.Time `json:"updated_at"`
}

// Change is one change of local state that commits whole or not at all: a
// sealed record written or deleted, its push queued for the remote store,
// its integration's connection updated and meta entries set, in one
// transaction.
type Change struct {
	// Put, when not nil, is the sealed record to write if the current
	// version equals Expect (CreateOnly, AnyVersion, or a version).
	Put    *Record
	Expect int64
	// Delete, when not nil, names the record to remove with any pending
	// push of it; a record that is not there is not an error (the remote
	// one may still have to go). Put and Delete are not both set.
	Delete *Key
	// Replaces, with Put, names another record that Put takes the place of
	// (the same integration under a new key): it is removed with any
	// pending push of it in the same transaction, if it is there.
	Replaces *Key
	// Push queues the Put or the Delete for the remote store, replacing
	// any older pending item of the same key.
	Push bool
	// Conn, when not nil, is called in the transaction with the current
	// connection of the record's integration, or of Integration when the
	// change has no record (the zero Connection with its Integration set
	// when there is none), and may change it; the result is stored (a zero
	// UpdatedAt is stamped with the current time). An error it returns
	// aborts the whole change and is returned.
	Conn func(*Connection) error
	// Integration names the connection Conn updates when the change puts
	// and deletes no record.
	Integration string
	// Meta entries to set; an empty value deletes the entry.
	Meta map[string]string
}

// Key returns the key of the record c writes or deletes.
func (c Change) Key() (Key, bool) {
	switch {
	case c.Put != nil:
		return c.Put.Key, true
	case c.Delete != nil:
		return *c.Delete, true
	}
	return Key{}, false
}

// ConnIntegration returns the integration whose connection Conn updates.
func (c Change) ConnIntegration() string {
	if k, ok := c.Key(); ok {
		return k.Integration
	}
	return c.Integration
}

// Client is a personal OAuth2 client (client id + secret) a user created to
// reach the injector from scripts and SDKs. Only a hash of the secret is
// kept. A zero ExpiresAt never expires; a non-zero RevokedAt is revoked.
type Client struct {
	ID           string
	Name         string
	SecretHash   []byte
	Integrations []string
	CreatedAt    time.Time
	ExpiresAt    time.Time
	RevokedAt    time.Time
}

// AuditRow is one proxied request as the audit trail keeps it: who called,
// what, and how it went. Never a token, a query string or a body.
type AuditRow struct {
	Time        time.Time
	Caller      string
	Integration string
	Method      string
	Path        string
	Status      int
	Duration    time.Duration
}
