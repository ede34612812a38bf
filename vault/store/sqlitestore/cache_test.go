package sqlitestore

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/vault/store"
)

// A write through the Store is seen by the next cached read at once.
func TestRecordCacheSeesOwnWrites(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	if _, err := s.GetRecordCached(ctx, k1); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("empty store: %v", err)
	}
	for i := 1; i <= 3; i++ {
		put, err := s.PutRecord(ctx, sealed(t, k1, "token"), store.AnyVersion)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.GetRecordCached(ctx, k1)
		if err != nil || got.Version != put.Version || got.Envelope != put.Envelope {
			t.Fatalf("after write %d: version %d, %v (want %d)", i, got.Version, err, put.Version)
		}
	}
	if err := s.DeleteRecord(ctx, k1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetRecordCached(ctx, k1); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	if _, err := s.PutRecordEnqueue(ctx, sealed(t, k1, "token"), store.AnyVersion, true, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetRecordCached(ctx, k1); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRecordEnqueue(ctx, k1, true, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetRecordCached(ctx, k1); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after an enqueued delete: %v", err)
	}
}

// A read between a write's commit and the end of the call that made it
// (another goroutine that saw the commit, e.g. in the connection's state) is
// not served the record the write replaced or deleted.
func TestRecordCacheSeesACommitAtOnce(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	if _, err := s.PutRecord(ctx, sealed(t, k1, "old"), store.AnyVersion); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetRecordCached(ctx, k1); err != nil { // cached
		t.Fatal(err)
	}
	var afterDelete error
	s.records.afterTx = func() { _, afterDelete = s.GetRecordCached(ctx, k1) }
	if err := s.DeleteRecordEnqueue(ctx, k1, false, nil); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(afterDelete, store.ErrNotFound) {
		t.Fatalf("a read right after the delete's commit: %v, want ErrNotFound", afterDelete)
	}
	s.records.afterTx = nil
	if _, err := s.GetRecordCached(ctx, k1); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after the delete: %v", err)
	}
}

// A write by another process (another Store on the same file) is seen once
// the cached entry is RecordCacheTTL old; GetRecord sees it at once.
func TestRecordCacheTTLForOtherWriters(t *testing.T) {
	t.Parallel()
	a, b := openTwo(t)
	var clock atomic.Int64 // nanoseconds past base
	base := time.Now()
	a.records.now = func() time.Time { return base.Add(time.Duration(clock.Load())) }
	ctx := context.Background()

	v1, err := a.PutRecord(ctx, sealed(t, k1, "one"), store.AnyVersion)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := a.GetRecordCached(ctx, k1); got.Version != v1.Version {
		t.Fatalf("cached read: version %d", got.Version)
	}
	v2, err := b.PutRecord(ctx, sealed(t, k1, "two"), store.AnyVersion)
	if err != nil {
		t.Fatal(err)
	}
	clock.Store(int64(RecordCacheTTL - time.Millisecond))
	if got, _ := a.GetRecordCached(ctx, k1); got.Version != v1.Version {
		t.Fatalf("within the TTL the cached version %d should still be served, got %d", v1.Version, got.Version)
	}
	if got, _ := a.GetRecord(ctx, k1); got.Version != v2.Version {
		t.Fatalf("GetRecord is not cached: version %d, want %d", got.Version, v2.Version)
	}
	clock.Store(int64(RecordCacheTTL))
	if got, _ := a.GetRecordCached(ctx, k1); got.Version != v2.Version {
		t.Fatalf("after the TTL: version %d, want %d", got.Version, v2.Version)
	}
}

// Readers racing with writers never bring back a version older than one
// whose write has returned: a read that overlapped a write is not cached.
func TestRecordCacheRacingWriters(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	rec := sealed(t, k1, "token")
	if _, err := s.PutRecord(ctx, rec, store.AnyVersion); err != nil {
		t.Fatal(err)
	}
	var done atomic.Bool
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for !done.Load() {
				if _, err := s.GetRecordCached(ctx, k1); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for range 200 {
		put, err := s.PutRecord(ctx, rec, store.AnyVersion)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.GetRecordCached(ctx, k1)
		if err != nil {
			t.Fatal(err)
		}
		if got.Version < put.Version {
			t.Fatalf("version %d written, cached read gave %d", put.Version, got.Version)
		}
	}
	done.Store(true)
	wg.Wait()
}
