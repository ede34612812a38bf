package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/vault/envelope"
	"github.com/latchkey/latchkey/vault/store"
)

var testKey = make([]byte, 32)

const testKeyID = "0123456789abcdef"

func sealed(t testing.TB, k store.Key, body string) store.Record {
	t.Helper()
	s, err := envelope.Seal(testKey, testKeyID, envelope.Binding{User: k.User, Device: k.Device, Integration: k.Integration}, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return store.Record{Key: k, KeyID: testKeyID, Envelope: s}
}

func openTest(t testing.TB) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "state", "latchkey.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// openTwo opens two handles on one database file, as two processes do.
func openTwo(t testing.TB) (a, b *Store) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "latchkey.db")
	a, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	b, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return a, b
}

var k1 = store.Key{User: "alice", Device: "dev1", Integration: "docebo"}

func TestPermissions(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "a", "latchkey")
	path := filepath.Join(dir, "latchkey.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.PutRecord(ctx, sealed(t, k1, "x"), store.AnyVersion); err != nil {
		t.Fatal(err)
	}
	check := func(p string, want os.FileMode) {
		t.Helper()
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %o, want %o", filepath.Base(p), got, want)
		}
	}
	check(dir, 0o700)
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		check(p, 0o600)
	}
	s.Close()

	// An existing database with loose permissions is tightened on open.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check(path, 0o600)
	if _, err := s.GetRecord(ctx, k1); err != nil {
		t.Fatalf("record lost across reopen: %v", err)
	}
}

func TestSchemaVersion(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	v, err := s.SchemaVersion(ctx)
	if err != nil || v < 1 {
		t.Fatalf("schema version %d, %v", v, err)
	}
	if _, err := s.db.Exec(`UPDATE schema_version SET version = 999`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err = Open(path)
	if err == nil || !strings.Contains(err.Error(), "newer than this build") {
		t.Fatalf("opening a newer schema: %v", err)
	}
}

// Versions, conflicts and the refusal of plaintext are the store contract's
// (contract_test.go); what is the SQLite store's own: deleting a record
// drops its pending push.
func TestDeleteDropsPendingPush(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	r, err := s.PutRecord(ctx, sealed(t, k1, "a"), store.CreateOnly)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Enqueue(ctx, store.OpPut, r); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Count(ctx); n != 1 {
		t.Fatalf("pending pushes %d, want 1", n)
	}
	if err := s.DeleteRecord(ctx, k1); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Count(ctx); n != 0 {
		t.Fatalf("pending push of a deleted record kept (%d)", n)
	}
}

func TestPutEnqueueAtomic(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	conn := &store.Connection{Integration: "docebo", State: store.StateConnected, Username: "alice", Expiry: time.Now().Add(time.Hour)}
	rec, err := s.PutRecordEnqueue(ctx, sealed(t, k1, "a"), store.CreateOnly, true, conn)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.GetConnection(ctx, "docebo")
	if err != nil || c.State != store.StateConnected || c.Username != "alice" || !c.Expiry.Equal(conn.Expiry.Truncate(time.Microsecond)) {
		t.Fatalf("connection: %+v %v", c, err)
	}
	items, err := s.Pending(ctx, time.Now(), 10)
	if err != nil || len(items) != 1 || items[0].Op != store.OpPut || items[0].Record.Envelope != rec.Envelope || items[0].Record.Version != 1 {
		t.Fatalf("outbox: %+v %v", items, err)
	}

	// A conflict writes nothing: no record change, no outbox item, no
	// metadata change.
	bad := &store.Connection{Integration: "docebo", State: store.StateDisconnected}
	if _, err := s.PutRecordEnqueue(ctx, sealed(t, k1, "b"), store.CreateOnly, true, bad); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("conflict: %v", err)
	}
	// An invalid connection writes nothing either.
	if _, err := s.PutRecordEnqueue(ctx, sealed(t, k1, "b"), 1, true, &store.Connection{Integration: "docebo", State: "bogus"}); err == nil {
		t.Fatal("bogus state accepted")
	}
	if got, _ := s.GetRecord(ctx, k1); got.Version != 1 || got.Envelope != rec.Envelope {
		t.Fatalf("record changed: %+v", got)
	}
	if n, _ := s.Count(ctx); n != 1 {
		t.Fatalf("outbox count %d after failed writes", n)
	}
	if c, _ := s.GetConnection(ctx, "docebo"); c.State != store.StateConnected {
		t.Fatalf("connection changed: %+v", c)
	}

	// A newer write of the same key replaces its pending item.
	if _, err := s.PutRecordEnqueue(ctx, sealed(t, k1, "b"), 1, true, nil); err != nil {
		t.Fatal(err)
	}
	items, _ = s.Pending(ctx, time.Now(), 10)
	if len(items) != 1 || items[0].Record.Version != 2 {
		t.Fatalf("coalesced outbox: %+v", items)
	}
	// A delete replaces it too, and carries no envelope.
	if err := s.DeleteRecordEnqueue(ctx, k1, true, &store.Connection{Integration: "docebo", State: store.StateDisconnected}); err != nil {
		t.Fatal(err)
	}
	items, _ = s.Pending(ctx, time.Now(), 10)
	if len(items) != 1 || items[0].Op != store.OpDelete || items[0].Record.Envelope != "" || items[0].Record.Key != k1 {
		t.Fatalf("delete outbox: %+v", items)
	}
	if _, err := s.GetRecord(ctx, k1); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("record not deleted: %v", err)
	}
	if c, _ := s.GetConnection(ctx, "docebo"); c.State != store.StateDisconnected {
		t.Fatalf("connection not updated: %+v", c)
	}
	// Deleting what is not there still queues the remote delete.
	if err := s.DeleteRecordEnqueue(ctx, store.Key{User: "alice", Device: "dev1", Integration: "other"}, true, nil); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Count(ctx); n != 2 {
		t.Fatalf("count %d", n)
	}
}

func TestOutbox(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	for _, in := range []string{"a", "b", "c"} {
		k := k1
		k.Integration = in
		if _, err := s.PutRecordEnqueue(ctx, sealed(t, k, in), store.AnyVersion, true, nil); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	items, err := s.Pending(ctx, now, 2)
	if err != nil || len(items) != 2 || items[0].Record.Integration != "a" || items[1].Record.Integration != "b" {
		t.Fatalf("pending oldest first: %+v %v", items, err)
	}
	if err := s.Retry(ctx, items[0].ID, strings.Repeat("e", 2000), now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.Ack(ctx, items[1].ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Ack(ctx, items[1].ID); err != nil {
		t.Fatalf("ack twice: %v", err)
	}
	items, _ = s.Pending(ctx, now, 10)
	if len(items) != 1 || items[0].Record.Integration != "c" {
		t.Fatalf("after retry/ack: %+v", items)
	}
	later, _ := s.Pending(ctx, now.Add(2*time.Minute), 10)
	if len(later) != 2 || later[0].Record.Integration != "a" || later[0].Attempts != 1 || len(later[0].LastError) != maxLastError {
		t.Fatalf("retried item: %+v", later)
	}
	if n, _ := s.Count(ctx); n != 2 {
		t.Fatalf("count %d", n)
	}
	if err := s.Enqueue(ctx, store.OpPut, store.Record{Key: k1, KeyID: testKeyID, Envelope: "plaintext"}); err == nil {
		t.Fatal("enqueue of plaintext accepted")
	}
}

// Meta is the store contract's (contract_test.go).
func TestConnections(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	if _, err := s.GetConnection(ctx, "docebo"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
	for _, c := range []store.Connection{
		{Integration: "docebo", State: store.StateConnected, AccountID: "42", DisplayName: "Alice", Email: "a@example.com"},
		{Integration: "document360", State: store.StateReconnectNeeded, Reason: "token revoked"},
	} {
		if err := s.PutConnection(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutConnection(ctx, store.Connection{State: store.StateConnected}); err == nil {
		t.Fatal("nameless connection accepted")
	}
	list, err := s.ListConnections(ctx)
	if err != nil || len(list) != 2 || list[0].Integration != "docebo" || list[0].AccountID != "42" || list[1].Reason != "token revoked" || list[0].UpdatedAt.IsZero() {
		t.Fatalf("list: %+v %v", list, err)
	}
	if err := s.DeleteConnection(ctx, "docebo"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteConnection(ctx, "docebo"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
}

func TestAuditRetention(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	s.auditMaxRows = 5
	ctx := context.Background()
	old := store.AuditRow{Time: time.Now().Add(-AuditMaxAge - time.Hour), Caller: "old", Method: "GET", Path: "/x", Status: 200}
	if err := s.AppendAudit(ctx, old); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 8; i++ {
		r := store.AuditRow{Caller: "cli", Integration: "docebo", Method: "GET", Path: "/learn/v1/courses", Status: 200 + i, Duration: time.Duration(i) * time.Millisecond}
		if err := s.AppendAudit(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := s.ListAudit(ctx, 100)
	if err != nil || len(rows) != 5 {
		t.Fatalf("retained %d rows, %v", len(rows), err)
	}
	if rows[0].Status != 207 || rows[4].Status != 203 || rows[0].Duration != 7*time.Millisecond || rows[0].Time.IsZero() {
		t.Fatalf("newest first: %+v", rows)
	}
	for _, r := range rows {
		if r.Caller == "old" {
			t.Fatal("row older than the retention kept")
		}
	}
	if rows, _ := s.ListAudit(ctx, 2); len(rows) != 2 {
		t.Fatalf("limit: %d", len(rows))
	}
}

// The rows of one AppendAudit call are all written, in order, in one
// transaction; none with a zero time.
func TestAuditBatch(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	batch := make([]store.AuditRow, 1000) // more than auditBatch
	for i := range batch {
		batch[i] = store.AuditRow{Caller: "cli", Integration: "docebo", Method: "GET", Path: "/p", Status: i}
	}
	if err := s.AppendAudit(ctx, batch...); err != nil {
		t.Fatal(err)
	}
	if !batch[0].Time.IsZero() {
		t.Fatal("AppendAudit changed the caller's rows")
	}
	rows, err := s.ListAudit(ctx, 2000)
	if err != nil || len(rows) != len(batch) {
		t.Fatalf("%d rows, %v", len(rows), err)
	}
	for i, r := range rows {
		if r.Status != len(batch)-1-i || r.Time.IsZero() {
			t.Fatalf("row %d: %+v", i, r)
		}
	}
	if err := s.AppendAudit(ctx); err != nil {
		t.Fatalf("an empty append: %v", err)
	}
}

func TestClients(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	c := store.Client{ID: "lkc_1", Name: "script", SecretHash: []byte{1, 2, 3}, Integrations: []string{"docebo"}, CreatedAt: t0, ExpiresAt: t0.AddDate(1, 0, 0)}
	if err := s.PutClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := s.PutClient(ctx, store.Client{ID: "lkc_0", SecretHash: []byte{9}, CreatedAt: t0.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutClient(ctx, store.Client{ID: "x"}); err == nil {
		t.Fatal("client without secret hash accepted")
	}
	got, err := s.GetClient(ctx, "lkc_1")
	if err != nil || got.Name != "script" || string(got.SecretHash) != "\x01\x02\x03" || len(got.Integrations) != 1 || !got.CreatedAt.Equal(t0) || !got.ExpiresAt.Equal(c.ExpiresAt) || !got.RevokedAt.IsZero() {
		t.Fatalf("get: %+v %v", got, err)
	}
	if _, err := s.GetClient(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
	list, err := s.ListClients(ctx)
	if err != nil || len(list) != 2 || list[0].ID != "lkc_0" || list[0].Integrations == nil {
		t.Fatalf("list: %+v %v", list, err)
	}
	at := t0.Add(time.Hour)
	if err := s.RevokeClient(ctx, "lkc_1", at); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeClient(ctx, "lkc_1", at.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetClient(ctx, "lkc_1"); !got.RevokedAt.Equal(at) {
		t.Fatalf("revoked at %v, want %v", got.RevokedAt, at)
	}
	if err := s.RevokeClient(ctx, "nope", at); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("revoke missing: %v", err)
	}
}

func TestConcurrentWriters(t *testing.T) {
	t.Parallel()
	a, b := openTwo(t)
	ctx := context.Background()
	errs := make(chan error, 2)
	for _, s := range []*Store{a, b} {
		go func() {
			for i := 0; i < 25; i++ {
				_, err := s.PutRecord(ctx, sealed(t, k1, "x"), store.AnyVersion)
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if r, _ := a.GetRecord(ctx, k1); r.Version != 50 {
		t.Fatalf("version %d after 50 writes from two handles", r.Version)
	}
}

// Concurrent appends are all committed (sharing transactions), and Close
// refuses later ones cleanly.
func TestAuditConcurrentAndClose(t *testing.T) {
	t.Parallel()
	s, err := Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const writers, each = 8, 25
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		go func() {
			for i := 0; i < each; i++ {
				if err := s.AppendAudit(ctx, store.AuditRow{Caller: "c", Method: "GET", Path: "/", Status: 200}); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for w := 0; w < writers; w++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	rows, err := s.ListAudit(ctx, 1000)
	if err != nil || len(rows) != writers*each {
		t.Fatalf("%d rows, %v", len(rows), err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendAudit(ctx, store.AuditRow{}); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("append after close: %v", err)
	}
}

// A database at schema version 1 (audit with AUTOINCREMENT and a time
// index) is migrated with its audit rows, which keep their order, and rows
// added after sort after them.
func TestMigrateAuditFromVersion1(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "latchkey.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	v1, err := migrationFS.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{string(v1),
		`CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (1)`,
		`INSERT INTO audit (time, caller, integration, method, path, status, duration) VALUES (1, 'a', 'docebo', 'GET', '/one', 200, 5)`,
		`INSERT INTO audit (time, caller, integration, method, path, status, duration) VALUES (2, 'a', 'docebo', 'GET', '/two', 200, 5)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if v, err := s.SchemaVersion(ctx); err != nil || v < 2 {
		t.Fatalf("schema version %d, %v", v, err)
	}
	s.auditMaxAge = 100 * 365 * 24 * time.Hour // keep the rows dated 1970
	if err := s.AppendAudit(ctx, store.AuditRow{Caller: "b", Integration: "docebo", Method: "GET", Path: "/three", Status: 200}); err != nil {
		t.Fatal(err)
	}
	rows, err := s.ListAudit(ctx, 10)
	if err != nil || len(rows) != 3 {
		t.Fatalf("%d rows, %v", len(rows), err)
	}
	if rows[0].Path != "/three" || rows[1].Path != "/two" || rows[2].Path != "/one" {
		t.Fatalf("order after migration: %+v", rows)
	}
	if rows[2].Caller != "a" || rows[2].Status != 200 || rows[2].Duration != 5 || rows[2].Time.UnixMicro() != 1 {
		t.Fatalf("a migrated row: %+v", rows[2])
	}
}

// Rows older than the retention age go, however many there are, and the
// others stay.
func TestAuditAgePruning(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	old := make([]store.AuditRow, 3*auditAgeProbe+7)
	for i := range old {
		old[i] = store.AuditRow{Time: time.Now().Add(-AuditMaxAge - time.Hour), Caller: "old", Method: "GET", Path: "/x", Status: 200}
	}
	s.auditMaxAge = 100 * 365 * 24 * time.Hour
	if err := s.AppendAudit(ctx, old...); err != nil {
		t.Fatal(err)
	}
	s.auditMaxAge = AuditMaxAge
	if err := s.AppendAudit(ctx, store.AuditRow{Caller: "new", Method: "GET", Path: "/y", Status: 200}); err != nil {
		t.Fatal(err)
	}
	rows, err := s.ListAudit(ctx, 10000)
	if err != nil || len(rows) != 1 || rows[0].Caller != "new" {
		t.Fatalf("after pruning: %d rows (%v), want the new one only", len(rows), err)
	}
}
