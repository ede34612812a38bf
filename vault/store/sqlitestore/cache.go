package sqlitestore

import (
	"context"
	"database/sql"
	"sync"
	"time"

	"github.com/latchkey/latchkey/vault/store"
)

// RecordCacheTTL bounds how long GetRecordCached serves a record from
// memory. Writes through the same Store drop the cache at once; this bound
// is for writes by another process sharing the file.
const RecordCacheTTL = time.Second

// recordCache holds sealed records (ciphertext only) read by
// GetRecordCached. Every transaction that writes records (recordTx) clears
// it and bumps gen once it has ended, and a read that raced with one is not
// kept (its gen is stale).
type recordCache struct {
	ttl time.Duration
	now func() time.Time

	mu  sync.RWMutex
	gen uint64
	m   map[store.Key]cachedRecord
}

type cachedRecord struct {
	rec    store.Record
	readAt time.Time // taken before the read
}

func newRecordCache(ttl time.Duration, now func() time.Time) *recordCache {
	return &recordCache{ttl: ttl, now: now, m: make(map[store.Key]cachedRecord)}
}

func (c *recordCache) invalidate() {
	c.mu.Lock()
	c.gen++
	clear(c.m)
	c.mu.Unlock()
}

// GetRecordCached is GetRecord for the per-request path: a record read
// less than RecordCacheTTL ago is returned from memory unless a write went
// through this Store since. A write by another process may thus be seen up
// to RecordCacheTTL late. What it holds is the sealed envelope, never a
// plaintext token.
func (s *Store) GetRecordCached(ctx context.Context, k store.Key) (store.Record, error) {
	c := s.records
	now := c.now()
	c.mu.RLock()
	e, ok := c.m[k]
	gen := c.gen
	c.mu.RUnlock()
	if ok && now.Sub(e.readAt) < c.ttl {
		return e.rec, nil
	}
	rec, err := s.GetRecord(ctx, k)
	if err != nil {
		return rec, err
	}
	c.mu.Lock()
	if c.gen == gen {
		c.m[k] = cachedRecord{rec: rec, readAt: now}
	}
	c.mu.Unlock()
	return rec, nil
}

// recordTx is tx for transactions that write records: whatever their
// outcome, the record cache is dropped once they have ended.
func (s *Store) recordTx(ctx context.Context, f func(*sql.Tx) error) error {
	defer s.records.invalidate()
	return s.tx(ctx, f)
}
