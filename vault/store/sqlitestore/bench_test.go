package sqlitestore

import (
	"context"
	"testing"
	"time"

	"github.com/latchkey/latchkey/vault/store"
)

// BenchmarkAppendAudit: one audit row per proxied request, from many
// request goroutines at once.
func BenchmarkAppendAudit(b *testing.B) {
	s := openTest(b)
	ctx := context.Background()
	row := store.AuditRow{Caller: "cli", Integration: "docebo", Method: "GET", Path: "/learn/v1/courses", Status: 200, Duration: 12 * time.Millisecond}
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.AppendAudit(ctx, row); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkGetRecord: a read of one record from SQLite.
func BenchmarkGetRecord(b *testing.B) { benchGet(b, (*Store).GetRecord) }

// BenchmarkGetRecordCached: the injector's per-request read, as the vault
// does it.
func BenchmarkGetRecordCached(b *testing.B) { benchGet(b, (*Store).GetRecordCached) }

func benchGet(b *testing.B, get func(*Store, context.Context, store.Key) (store.Record, error)) {
	s := openTest(b)
	ctx := context.Background()
	if _, err := s.PutRecord(ctx, sealed(b, k1, "token"), store.AnyVersion); err != nil {
		b.Fatal(err)
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := get(s, ctx, k1); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkAppendAuditBatch: the daemon's audit path, the injector's queued
// entries appended in one call (ns/op is per row).
func BenchmarkAppendAuditBatch(b *testing.B) {
	s := openTest(b)
	ctx := context.Background()
	batch := make([]store.AuditRow, 500)
	for i := range batch {
		batch[i] = store.AuditRow{Caller: "cli", Integration: "docebo", Method: "GET", Path: "/learn/v1/courses", Status: 200, Duration: 12 * time.Millisecond}
	}
	for b.Loop() {
		if err := s.AppendAudit(ctx, batch...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/row")
}
