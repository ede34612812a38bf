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
// GetRecordCached. While a transaction that writes records (recordTx) is
// under way the cache is bypassed, from before it begins until after it has
// ended: so a read right after its commit, even before recordTx returns,
// goes to the database and sees the write. Each begin and end clears the
// cache and bumps gen, and a read that raced with either is not kept.
type recordCache struct {
	ttl time.Duration
	now func() time.Time

	mu      sync.RWMutex
	gen     uint64
	writing int // record-writing transactions under way
	m       map[store.Key]cachedRecord

	afterTx func() // tests: runs after a record transaction, before the cache comes back
}

type cachedRecord struct {
	rec    store.Record
	readAt time.Time // taken before the read
}

func newRecordCache(ttl time.Duration, now func() time.Time) *recordCache {
	return &recordCache{ttl: ttl, now: now, m: make(map[store.Key]cachedRecord)}
}

// beginWrite bypasses the cache until the matching endWrite.
func (c *recordCache) beginWrite() {
	c.mu.Lock()
	c.writing++
	c.gen++
	clear(c.m)
	c.mu.Unlock()
}

// endWrite ends a beginWrite, dropping whatever was read meanwhile.
func (c *recordCache) endWrite() {
	c.mu.Lock()
	c.writing--
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
	gen, writing := c.gen, c.writing
	c.mu.RUnlock()
	if ok && writing == 0 && now.Sub(e.readAt) < c.ttl {
		return e.rec, nil
	}
	rec, err := s.GetRecord(ctx, k)
	if err != nil {
		return rec, err
	}
	c.mu.Lock()
	if c.gen == gen && c.writing == 0 {
		c.m[k] = cachedRecord{rec: rec, readAt: now}
	}
	c.mu.Unlock()
	return rec, nil
}

// recordTx is tx for transactions that write records: the record cache is
// bypassed from before it begins until after it has ended, whatever its
// outcome.
func (s *Store) recordTx(ctx context.Context, f func(*sql.Tx) error) error {
	s.records.beginWrite()
	defer s.records.endWrite()
	err := s.tx(ctx, f)
	if s.records.afterTx != nil {
		s.records.afterTx()
	}
	return err
}
