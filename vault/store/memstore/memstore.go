package memstore

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"sync"
	"time"

	"github.com/latchkey/latchkey/vault/store"
)

// maxLastError bounds the error text kept on an outbox item, as the SQLite
// store does.
const maxLastError = 500

// Store is an in-memory local store. The zero value is not usable; call New.
type Store struct {
	// writeMu is the write lock: every write holds it, and Lock holds it
	// for the whole of f, so writers wait for f as they wait for SQLite's
	// write lock. mu guards the maps (taken after writeMu).
	writeMu sync.Mutex
	mu      sync.Mutex

	records map[store.Key]store.Record
	outbox  []store.OutboxItem // oldest first
	nextID  int64
	conns   map[string]store.Connection
	meta    map[string]string
}

// lockWrite takes the write lock and the maps' lock; the returned func
// releases both.
func (s *Store) lockWrite() func() {
	s.writeMu.Lock()
	s.mu.Lock()
	return func() {
		s.mu.Unlock()
		s.writeMu.Unlock()
	}
}

// New returns an empty store.
func New() *Store {
	return &Store{
		records: map[store.Key]store.Record{},
		conns:   map[string]store.Connection{},
		meta:    map[string]string{},
	}
}

// GetRecord returns the record under k, or store.ErrNotFound.
func (s *Store) GetRecord(ctx context.Context, k store.Key) (store.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.records[k]
	if !ok {
		return store.Record{}, store.ErrNotFound
	}
	return rec, nil
}

// ListRecords returns every record of user, ordered by device then
// integration.
func (s *Store) ListRecords(ctx context.Context, user string) ([]store.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.Record
	for k, rec := range s.records {
		if k.User == user {
			out = append(out, rec)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Device != out[j].Device {
			return out[i].Device < out[j].Device
		}
		return out[i].Integration < out[j].Integration
	})
	return out, nil
}

// PutRecord writes rec if the current version equals expectVersion and
// returns it as stored.
func (s *Store) PutRecord(ctx context.Context, rec store.Record, expectVersion int64) (store.Record, error) {
	return s.Apply(ctx, store.Change{Put: &rec, Expect: expectVersion})
}

// DeleteRecord removes the record under k and any pending push of it, or
// returns store.ErrNotFound.
func (s *Store) DeleteRecord(ctx context.Context, k store.Key) error {
	if err := store.CheckKey(k); err != nil {
		return err
	}
	defer s.lockWrite()()
	if _, ok := s.records[k]; !ok {
		return store.ErrNotFound
	}
	delete(s.records, k)
	s.dropPending(k)
	return nil
}

// Apply commits c whole or not at all, as sqlitestore.Store.Apply does.
func (s *Store) Apply(ctx context.Context, c store.Change) (store.Record, error) {
	k, _ := c.Key()
	if err := store.CheckChange(c); err != nil {
		return store.Record{}, err
	}
	if err := ctx.Err(); err != nil {
		return store.Record{}, err
	}
	defer s.lockWrite()()

	// Everything that can fail is decided before anything is written.
	var out store.Record
	if c.Put != nil {
		cur, exists := s.records[k]
		switch {
		case c.Expect == store.AnyVersion:
		case c.Expect == store.CreateOnly && exists:
			return store.Record{}, fmt.Errorf("%w: a record already exists (version %d)", store.ErrConflict, cur.Version)
		case c.Expect > 0 && (!exists || cur.Version != c.Expect):
			return store.Record{}, fmt.Errorf("%w: expected version %d", store.ErrConflict, c.Expect)
		}
		out = *c.Put
		out.Version = cur.Version + 1
		out.UpdatedAt = time.Now().UTC().Truncate(time.Microsecond)
	}
	var conn store.Connection
	if c.Conn != nil {
		name := c.ConnIntegration()
		var ok bool
		if conn, ok = s.conns[name]; !ok {
			conn = store.Connection{Integration: name}
		}
		if err := c.Conn(&conn); err != nil {
			return store.Record{}, err
		}
		if err := store.CheckConnection(conn); err != nil {
			return store.Record{}, err
		}
		if conn.UpdatedAt.IsZero() {
			conn.UpdatedAt = time.Now()
		}
		conn.UpdatedAt = conn.UpdatedAt.UTC().Truncate(time.Microsecond)
		conn.Expiry = truncate(conn.Expiry)
	}

	switch {
	case c.Put != nil:
		s.records[k] = out
		if c.Push {
			s.enqueue(store.OpPut, out)
		}
		if c.Replaces != nil {
			delete(s.records, *c.Replaces)
			s.dropPending(*c.Replaces)
		}
	case c.Delete != nil:
		delete(s.records, k)
		s.dropPending(k)
		if c.Push {
			s.enqueue(store.OpDelete, store.Record{Key: k})
		}
	}
	if c.Conn != nil {
		s.conns[conn.Integration] = conn
	}
	for key, val := range c.Meta {
		if val == "" {
			delete(s.meta, key)
		} else {
			s.meta[key] = val
		}
	}
	return out, nil
}

func truncate(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Microsecond)
}

// dropPending removes the outbox items of k; s.mu is held.
func (s *Store) dropPending(k store.Key) {
	s.outbox = slicesDelete(s.outbox, func(it store.OutboxItem) bool { return it.Record.Key == k })
}

func slicesDelete(items []store.OutboxItem, del func(store.OutboxItem) bool) []store.OutboxItem {
	out := items[:0]
	for _, it := range items {
		if !del(it) {
			out = append(out, it)
		}
	}
	return out
}

// enqueue adds an outbox item replacing older ones of the same key; s.mu
// is held.
func (s *Store) enqueue(op store.Op, rec store.Record) {
	s.dropPending(rec.Key)
	s.nextID++
	now := time.Now().UTC().Truncate(time.Microsecond)
	s.outbox = append(s.outbox, store.OutboxItem{ID: s.nextID, Op: op, Record: rec, NextAttempt: now, CreatedAt: now})
}

// Enqueue adds an outbox item on its own.
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
		return fmt.Errorf("memstore: unknown outbox op %q", op)
	}
	defer s.lockWrite()()
	s.enqueue(op, rec)
	return nil
}

// Pending returns up to limit outbox items due at now, oldest first.
func (s *Store) Pending(ctx context.Context, now time.Time, limit int) ([]store.OutboxItem, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.OutboxItem
	for _, it := range s.outbox {
		if len(out) >= limit {
			break
		}
		if !it.NextAttempt.After(now) {
			out = append(out, it)
		}
	}
	return out, nil
}

// Ack removes an outbox item; one that is gone is not an error.
func (s *Store) Ack(ctx context.Context, id int64) error {
	defer s.lockWrite()()
	s.outbox = slicesDelete(s.outbox, func(it store.OutboxItem) bool { return it.ID == id })
	return nil
}

// Retry records a failed attempt of an item and when to try it again.
func (s *Store) Retry(ctx context.Context, id int64, lastError string, next time.Time) error {
	if len(lastError) > maxLastError {
		lastError = lastError[:maxLastError]
	}
	defer s.lockWrite()()
	for i := range s.outbox {
		if s.outbox[i].ID == id {
			s.outbox[i].Attempts++
			s.outbox[i].LastError = lastError
			s.outbox[i].NextAttempt = next.UTC().Truncate(time.Microsecond)
		}
	}
	return nil
}

// Count returns how many outbox items are pending in all.
func (s *Store) Count(ctx context.Context) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.outbox), nil
}

// PutConnection inserts or replaces the metadata of c.Integration.
func (s *Store) PutConnection(ctx context.Context, c store.Connection) error {
	if err := store.CheckConnection(c); err != nil {
		return err
	}
	_, err := s.Apply(ctx, store.Change{Integration: c.Integration, Conn: func(cur *store.Connection) error { *cur = c; return nil }})
	return err
}

// GetConnection returns the metadata of integration, or store.ErrNotFound.
func (s *Store) GetConnection(ctx context.Context, integration string) (store.Connection, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.conns[integration]
	if !ok {
		return store.Connection{}, store.ErrNotFound
	}
	return c, nil
}

// ListConnections returns every connection, ordered by integration.
func (s *Store) ListConnections(ctx context.Context) ([]store.Connection, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]store.Connection, 0, len(s.conns))
	for _, c := range s.conns {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Integration < out[j].Integration })
	return out, nil
}

// GetMeta returns the value under key, or store.ErrNotFound.
func (s *Store) GetMeta(ctx context.Context, key string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.meta[key]
	if !ok {
		return "", store.ErrNotFound
	}
	return v, nil
}

// SetMeta stores value under key.
func (s *Store) SetMeta(ctx context.Context, key, value string) error {
	defer s.lockWrite()()
	s.meta[key] = value
	return nil
}

// SetMetaIfAbsent stores value under key unless a value is there, and
// returns the value stored.
func (s *Store) SetMetaIfAbsent(ctx context.Context, key, value string) (string, error) {
	defer s.lockWrite()()
	if v, ok := s.meta[key]; ok {
		return v, nil
	}
	s.meta[key] = value
	return value, nil
}

// ListMeta returns every meta entry.
func (s *Store) ListMeta(ctx context.Context) (map[string]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.meta), nil
}

// CompareAndSetMeta replaces the value under key only if it is still old.
func (s *Store) CompareAndSetMeta(ctx context.Context, key, old, value string) (bool, error) {
	defer s.lockWrite()()
	if v, ok := s.meta[key]; !ok || v != old {
		return false, nil
	}
	s.meta[key] = value
	return true, nil
}

// DeleteMeta removes key (no error if absent).
func (s *Store) DeleteMeta(ctx context.Context, key string) error {
	defer s.lockWrite()()
	delete(s.meta, key)
	return nil
}

// Lock runs f holding the write lock: other Locks and every write wait for
// it, reads go on. f must not write through s (it would wait for the lock
// it is holding), as with the SQLite store.
func (s *Store) Lock(ctx context.Context, f func() error) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	return f()
}
