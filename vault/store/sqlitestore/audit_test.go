package sqlitestore

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/latchkey/latchkey/vault/store"
)

// awkward holds what a path or caller may carry that JSON must escape.
var awkward = []string{"", `"quoted" \\ back`, "tab\tnew\nline\r", "\x00\x01\x1f\x7f", "bad \xff\xfe utf-8", "\u2028\u2029", "émoji 🔑", "<script>&"}

// The audit view shows one row per call, in order, with the columns the
// table had, whatever the strings hold: the chunks are valid JSON to SQLite.
func TestAuditViewReadsTheChunks(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	var in []store.AuditRow
	base := time.Now().Add(-time.Hour).Truncate(time.Microsecond)
	for i := range 150 { // three chunks from one append
		in = append(in, store.AuditRow{Time: base.Add(time.Duration(i) * time.Microsecond), Caller: awkward[i%len(awkward)],
			Integration: "docebo", Method: "GET", Path: "/p/" + awkward[(i+3)%len(awkward)], Status: 200 + i, Duration: time.Duration(i) * time.Microsecond})
	}
	if err := s.AppendAudit(ctx, in...); err != nil {
		t.Fatal(err)
	}
	var chunks int
	if err := s.db.QueryRow(`SELECT count(*) FROM audit_chunk`).Scan(&chunks); err != nil || chunks != 3 {
		t.Fatalf("%d chunks (%v), want 3", chunks, err)
	}
	rows, err := s.db.Query(`SELECT seq, time, caller, integration, method, path, status, duration FROM audit ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	i := 0
	for ; rows.Next(); i++ {
		var seq, tm, d int64
		var r store.AuditRow
		if err := rows.Scan(&seq, &tm, &r.Caller, &r.Integration, &r.Method, &r.Path, &r.Status, &d); err != nil {
			t.Fatal(err)
		}
		r.Time, r.Duration = time.UnixMicro(tm), time.Duration(d)
		want := in[i]
		want.Caller, want.Path = jsonRoundTrip(t, want.Caller), jsonRoundTrip(t, want.Path)
		if seq != int64(i+1) || !r.Time.Equal(want.Time) || r.Caller != want.Caller || r.Path != want.Path ||
			r.Status != want.Status || r.Duration != want.Duration || r.Integration != "docebo" {
			t.Fatalf("view row %d (seq %d): %+v, want %+v", i, seq, r, want)
		}
	}
	if i != len(in) {
		t.Fatalf("the view has %d rows, want %d", i, len(in))
	}
	// ListAudit reads the same, newest first.
	list, err := s.ListAudit(ctx, 1000)
	if err != nil || len(list) != len(in) {
		t.Fatalf("ListAudit: %d rows, %v", len(list), err)
	}
	for i, r := range list {
		want := in[len(in)-1-i]
		want.Caller, want.Path = jsonRoundTrip(t, want.Caller), jsonRoundTrip(t, want.Path)
		if !r.Time.Equal(want.Time) || r.Caller != want.Caller || r.Path != want.Path || r.Status != want.Status {
			t.Fatalf("ListAudit row %d: %+v, want %+v", i, r, want)
		}
	}
}

// jsonRoundTrip is s as encoding/json carries it (invalid UTF-8 replaced).
func jsonRoundTrip(t testing.TB, s string) string {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var out string
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// Retention goes by whole chunks of the oldest calls: never more than the
// bound is kept, and the newest calls always are.
func TestAuditRetentionByChunk(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	s.auditMaxRows = 100
	ctx := context.Background()
	batch := make([]store.AuditRow, 150) // chunks of 64, 64 and 22 calls
	for i := range batch {
		batch[i] = store.AuditRow{Caller: "cli", Integration: "docebo", Method: "GET", Path: "/p", Status: i}
	}
	if err := s.AppendAudit(ctx, batch...); err != nil {
		t.Fatal(err)
	}
	rows, err := s.ListAudit(ctx, 1000)
	if err != nil {
		t.Fatal(err)
	}
	// Calls 51..150 are the newest 100; the chunk of calls 1..64 starts
	// before them and goes whole.
	if len(rows) != 86 || rows[0].Status != 149 || rows[85].Status != 64 {
		t.Fatalf("kept %d calls (newest %d, oldest %d), want calls 65..150", len(rows), rows[0].Status, rows[len(rows)-1].Status)
	}
}

// FuzzAuditChunk: any strings survive the chunk encoding as encoding/json
// would carry them.
func FuzzAuditChunk(f *testing.F) {
	for _, a := range awkward {
		f.Add(a, a+"/x")
	}
	f.Fuzz(func(t *testing.T, caller, path string) {
		in := []store.AuditRow{{Time: fromMicros(42), Caller: caller, Integration: "docebo", Method: "GET", Path: path, Status: 200, Duration: 7}}
		out, err := parseAuditChunk(string(appendAuditChunk(nil, in)))
		if err != nil {
			t.Fatalf("%q %q: %v", caller, path, err)
		}
		want := in[0]
		want.Caller, want.Path = jsonRoundTrip(t, caller), jsonRoundTrip(t, path)
		if len(out) != 1 || !reflect.DeepEqual(out[0], want) {
			t.Fatalf("round trip: %+v, want %+v", out, want)
		}
	})
}

// A chunk goes by the age of its oldest call, wherever that call sits in
// the chunk: nothing older than the bound is kept.
func TestAuditAgePruningByOldestCall(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	s.auditMaxAge = time.Hour
	now := time.Now()
	if err := s.AppendAudit(ctx,
		store.AuditRow{Time: now.Add(-time.Minute), Caller: "recent", Method: "GET", Path: "/a", Status: 200},
		store.AuditRow{Time: now.Add(-2 * time.Hour), Caller: "old, started first", Method: "GET", Path: "/b", Status: 200},
	); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendAudit(ctx, store.AuditRow{Caller: "new", Method: "GET", Path: "/c", Status: 200}); err != nil {
		t.Fatal(err)
	}
	rows, err := s.ListAudit(ctx, 10)
	if err != nil || len(rows) != 1 || rows[0].Caller != "new" {
		t.Fatalf("after pruning: %+v (%v), want the new call only", rows, err)
	}
}
