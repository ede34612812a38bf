package storecontract

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/latchkey/latchkey/vault/envelope"
	"github.com/latchkey/latchkey/vault/store"
)

// Store is what the contract covers of a local store.
type Store interface {
	store.RecordStore
	store.Outbox
	Apply(ctx context.Context, c store.Change) (store.Record, error)
	Enqueue(ctx context.Context, op store.Op, rec store.Record) error
	PutConnection(ctx context.Context, c store.Connection) error
	GetConnection(ctx context.Context, integration string) (store.Connection, error)
	ListConnections(ctx context.Context) ([]store.Connection, error)
	GetMeta(ctx context.Context, key string) (string, error)
	SetMeta(ctx context.Context, key, value string) error
	SetMetaIfAbsent(ctx context.Context, key, value string) (string, error)
	ListMeta(ctx context.Context) (map[string]string, error)
	CompareAndSetMeta(ctx context.Context, key, old, value string) (bool, error)
	DeleteMeta(ctx context.Context, key string) error
}

var (
	testKey = make([]byte, 32)
	k1      = store.Key{User: "alice", Device: "dev1", Integration: "docebo"}
)

const testKeyID = "0123456789abcdef"

// Sealed returns a record under k holding body, sealed with a fixed test key.
func Sealed(t testing.TB, k store.Key, body string) store.Record {
	t.Helper()
	s, err := envelope.Seal(testKey, testKeyID, envelope.Binding{User: k.User, Device: k.Device, Integration: k.Integration}, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return store.Record{Key: k, KeyID: testKeyID, Envelope: s}
}

// Run runs the contract against stores made by open, a fresh empty store
// per subtest; the subtests run in parallel.
func Run(t *testing.T, open func(t *testing.T) Store) {
	t.Run("Versions", func(t *testing.T) {
		t.Parallel()
		versions(t, open(t))
	})
	t.Run("RefusesPlaintext", func(t *testing.T) {
		t.Parallel()
		refusesPlaintext(t, open(t))
	})
	t.Run("ChangeIsAtomic", func(t *testing.T) {
		t.Parallel()
		changeIsAtomic(t, open(t))
	})
	t.Run("ConnectionUpdate", func(t *testing.T) {
		t.Parallel()
		connectionUpdate(t, open(t))
	})
	t.Run("Outbox", func(t *testing.T) {
		t.Parallel()
		outbox(t, open(t))
	})
	t.Run("Meta", func(t *testing.T) {
		t.Parallel()
		meta(t, open(t))
	})
}

func versions(t *testing.T, s Store) {
	ctx := context.Background()
	if _, err := s.GetRecord(ctx, k1); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get missing: %v", err)
	}
	if _, err := s.PutRecord(ctx, Sealed(t, k1, "a"), 3); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("put with a version on a missing record: %v", err)
	}
	r1, err := s.PutRecord(ctx, Sealed(t, k1, "a"), store.CreateOnly)
	if err != nil || r1.Version != 1 || r1.UpdatedAt.IsZero() {
		t.Fatalf("create: %+v %v", r1, err)
	}
	if _, err := s.PutRecord(ctx, Sealed(t, k1, "b"), store.CreateOnly); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("create twice: %v", err)
	}
	if _, err := s.PutRecord(ctx, Sealed(t, k1, "b"), 7); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("wrong version: %v", err)
	}
	r2, err := s.Apply(ctx, store.Change{Put: ptr(Sealed(t, k1, "b")), Expect: 1})
	if err != nil || r2.Version != 2 {
		t.Fatalf("update: %+v %v", r2, err)
	}
	r3, err := s.PutRecord(ctx, Sealed(t, k1, "c"), store.AnyVersion)
	if err != nil || r3.Version != 3 {
		t.Fatalf("any version: %+v %v", r3, err)
	}
	got, err := s.GetRecord(ctx, k1)
	if err != nil || got.Envelope != r3.Envelope || got.Version != 3 || got.KeyID != testKeyID || !got.UpdatedAt.Equal(r3.UpdatedAt) {
		t.Fatalf("get: %+v %v", got, err)
	}
	k2 := store.Key{User: "alice", Device: "dev0", Integration: "zeta"}
	k3 := store.Key{User: "bob", Device: "dev0", Integration: "docebo"}
	for _, k := range []store.Key{k2, k3} {
		if _, err := s.PutRecord(ctx, Sealed(t, k, "x"), store.CreateOnly); err != nil {
			t.Fatal(err)
		}
	}
	list, err := s.ListRecords(ctx, "alice")
	if err != nil || len(list) != 2 || list[0].Key != k2 || list[1].Key != k1 {
		t.Fatalf("list, by device then integration: %+v %v", list, err)
	}
	if err := s.DeleteRecord(ctx, k1); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRecord(ctx, k1); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
	// A record created again starts at version 1.
	if r, err := s.PutRecord(ctx, Sealed(t, k1, "d"), store.CreateOnly); err != nil || r.Version != 1 {
		t.Fatalf("re-create: %+v %v", r, err)
	}
}

func refusesPlaintext(t *testing.T, s Store) {
	ctx := context.Background()
	bad := []store.Record{
		{Key: k1, KeyID: testKeyID, Envelope: "my-access-token"},
		{Key: k1, KeyID: "ffffffffffffffff", Envelope: Sealed(t, k1, "x").Envelope},
		{Key: store.Key{User: "alice"}, KeyID: testKeyID, Envelope: Sealed(t, k1, "x").Envelope},
	}
	for i, r := range bad {
		if _, err := s.PutRecord(ctx, r, store.AnyVersion); err == nil {
			t.Errorf("bad record %d accepted", i)
		}
		if err := s.Enqueue(ctx, store.OpPut, r); err == nil {
			t.Errorf("bad record %d queued", i)
		}
	}
	if l, _ := s.ListRecords(ctx, "alice"); len(l) != 0 {
		t.Fatalf("bad records stored: %d", len(l))
	}
	if n, _ := s.Count(ctx); n != 0 {
		t.Fatalf("bad records queued: %d", n)
	}
}

// state is everything a change may touch, to compare before and after.
type state struct {
	rec     store.Record
	recErr  error
	pending int
	conn    store.Connection
	meta    map[string]string
}

func snapshot(t *testing.T, s Store) state {
	t.Helper()
	ctx := context.Background()
	var st state
	st.rec, st.recErr = s.GetRecord(ctx, k1)
	st.pending, _ = s.Count(ctx)
	st.conn, _ = s.GetConnection(ctx, k1.Integration)
	st.meta, _ = s.ListMeta(ctx)
	return st
}

func (a state) equal(b state) bool {
	if a.rec != b.rec || !errors.Is(a.recErr, b.recErr) || a.pending != b.pending || a.conn != b.conn || len(a.meta) != len(b.meta) {
		return false
	}
	for k, v := range a.meta {
		if b.meta[k] != v {
			return false
		}
	}
	return true
}

func changeIsAtomic(t *testing.T, s Store) {
	ctx := context.Background()
	exp := time.Now().Add(time.Hour).Truncate(time.Microsecond)
	rec, err := s.Apply(ctx, store.Change{
		Put: ptr(Sealed(t, k1, "a")), Expect: store.CreateOnly, Push: true,
		Conn: func(c *store.Connection) error {
			c.State, c.Username, c.Expiry = store.StateConnected, "alice", exp
			return nil
		},
		Meta: map[string]string{"groups": "staff"},
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.GetConnection(ctx, "docebo")
	if err != nil || c.State != store.StateConnected || c.Username != "alice" || !c.Expiry.Equal(exp) || c.UpdatedAt.IsZero() {
		t.Fatalf("connection: %+v %v", c, err)
	}
	items, err := s.Pending(ctx, time.Now(), 10)
	if err != nil || len(items) != 1 || items[0].Op != store.OpPut || items[0].Record.Envelope != rec.Envelope || items[0].Record.Version != 1 {
		t.Fatalf("outbox: %+v %v", items, err)
	}
	if g, err := s.GetMeta(ctx, "groups"); g != "staff" || err != nil {
		t.Fatalf("meta: %q %v", g, err)
	}

	before := snapshot(t, s)
	disconnect := func(c *store.Connection) error { c.State = store.StateDisconnected; return nil }
	refused := errors.New("refused by the connection update")
	for name, ch := range map[string]store.Change{
		"a version conflict": {Put: ptr(Sealed(t, k1, "b")), Expect: store.CreateOnly, Push: true, Conn: disconnect, Meta: map[string]string{"groups": ""}},
		"a bogus state":      {Put: ptr(Sealed(t, k1, "b")), Expect: 1, Push: true, Conn: func(c *store.Connection) error { c.State = "bogus"; return nil }, Meta: map[string]string{"groups": ""}},
		"a Conn error":       {Delete: &k1, Push: true, Conn: func(*store.Connection) error { return refused }, Meta: map[string]string{"groups": ""}},
		"put and delete":     {Put: ptr(Sealed(t, k1, "b")), Delete: &k1, Expect: store.AnyVersion},
		"a plaintext":        {Put: &store.Record{Key: k1, KeyID: testKeyID, Envelope: "token"}, Expect: store.AnyVersion, Conn: disconnect},
		"a nameless Conn":    {Conn: disconnect},
	} {
		_, err := s.Apply(ctx, ch)
		if err == nil {
			t.Errorf("a change with %s was accepted", name)
		}
		if name == "a version conflict" && !errors.Is(err, store.ErrConflict) {
			t.Errorf("a version conflict: %v, want store.ErrConflict", err)
		}
		if name == "a Conn error" && !errors.Is(err, refused) {
			t.Errorf("a Conn error: %v, want the error Conn returned", err)
		}
		if after := snapshot(t, s); !after.equal(before) {
			t.Errorf("a change with %s wrote part of itself:\nbefore %+v\nafter  %+v", name, before, after)
		}
	}

	// A put that replaces a record of another key removes it and its
	// pending push, in the same transaction; a failed one keeps both.
	moved := store.Key{User: "sub-1", Device: k1.Device, Integration: k1.Integration}
	if _, err := s.Apply(ctx, store.Change{Put: ptr(Sealed(t, moved, "m")), Expect: store.CreateOnly, Replaces: &k1}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetRecord(ctx, k1); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the replaced record is still there: %v", err)
	}
	if n, _ := s.Count(ctx); n != 0 {
		t.Fatalf("the replaced record's pending push is still queued (%d)", n)
	}
	if _, err := s.Apply(ctx, store.Change{Put: ptr(Sealed(t, k1, "back")), Expect: store.AnyVersion, Push: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(ctx, store.Change{Put: ptr(Sealed(t, moved, "m2")), Expect: store.CreateOnly, Replaces: &k1}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("a conflicting replace: %v", err)
	}
	if _, err := s.GetRecord(ctx, k1); err != nil {
		t.Fatalf("a failed replace removed the record: %v", err)
	}
	if _, err := s.Apply(ctx, store.Change{Delete: &moved, Replaces: &k1}); err == nil {
		t.Fatal("a delete that replaces a record was accepted")
	}
	if n, _ := s.Count(ctx); n != 1 {
		t.Fatalf("count %d after the failed replaces", n)
	}
	if _, err := s.Apply(ctx, store.Change{Delete: &k1, Push: true}); err != nil {
		t.Fatal(err)
	}

	// A delete of a record that is not there still queues the remote delete.
	other := store.Key{User: "alice", Device: "dev1", Integration: "other"}
	if _, err := s.Apply(ctx, store.Change{Delete: &other, Push: true}); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Count(ctx); n != 2 {
		t.Fatalf("count %d after a delete of a missing record", n)
	}
}

func connectionUpdate(t *testing.T, s Store) {
	ctx := context.Background()
	// With no connection stored, Conn starts from the zero one, named.
	var seen store.Connection
	_, err := s.Apply(ctx, store.Change{Integration: "docebo", Conn: func(c *store.Connection) error {
		seen = *c
		c.State, c.AccountID = store.StateConnected, "42"
		return nil
	}})
	if err != nil || seen != (store.Connection{Integration: "docebo"}) {
		t.Fatalf("first update saw %+v (%v)", seen, err)
	}
	// Then from the stored one, which it may change in part.
	_, err = s.Apply(ctx, store.Change{Delete: &k1, Conn: func(c *store.Connection) error {
		seen = *c
		c.State, c.Reason = store.StateReconnectNeeded, "gone"
		return nil
	}})
	if err != nil || seen.AccountID != "42" || seen.State != store.StateConnected {
		t.Fatalf("second update saw %+v (%v)", seen, err)
	}
	c, err := s.GetConnection(ctx, "docebo")
	if err != nil || c.AccountID != "42" || c.State != store.StateReconnectNeeded || c.Reason != "gone" {
		t.Fatalf("stored: %+v %v", c, err)
	}
	if err := s.PutConnection(ctx, store.Connection{Integration: "document360", State: store.StateDisconnected}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutConnection(ctx, store.Connection{State: store.StateConnected}); err == nil {
		t.Fatal("nameless connection accepted")
	}
	list, err := s.ListConnections(ctx)
	if err != nil || len(list) != 2 || list[0].Integration != "docebo" || list[1].Integration != "document360" || list[1].UpdatedAt.IsZero() {
		t.Fatalf("list: %+v %v", list, err)
	}
	if _, err := s.GetConnection(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing connection: %v", err)
	}
}

func outbox(t *testing.T, s Store) {
	ctx := context.Background()
	for _, in := range []string{"a", "b", "c"} {
		k := k1
		k.Integration = in
		if _, err := s.Apply(ctx, store.Change{Put: ptr(Sealed(t, k, in)), Expect: store.AnyVersion, Push: true}); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	items, err := s.Pending(ctx, now, 2)
	if err != nil || len(items) != 2 || items[0].Record.Integration != "a" || items[1].Record.Integration != "b" {
		t.Fatalf("pending, oldest first: %+v %v", items, err)
	}
	if err := s.Retry(ctx, items[0].ID, "unreachable", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.Ack(ctx, items[1].ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Ack(ctx, items[1].ID); err != nil {
		t.Fatalf("ack twice: %v", err)
	}
	if items, _ = s.Pending(ctx, now, 10); len(items) != 1 || items[0].Record.Integration != "c" {
		t.Fatalf("after retry and ack: %+v", items)
	}
	later, _ := s.Pending(ctx, now.Add(2*time.Minute), 10)
	if len(later) != 2 || later[0].Record.Integration != "a" || later[0].Attempts != 1 || later[0].LastError != "unreachable" {
		t.Fatalf("retried item: %+v", later)
	}
	// A newer write of a key replaces its pending item; a delete replaces
	// it too and carries no envelope; a local delete without push drops it.
	kc := k1
	kc.Integration = "c"
	if _, err := s.Apply(ctx, store.Change{Put: ptr(Sealed(t, kc, "c2")), Expect: 1, Push: true}); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Count(ctx); n != 2 {
		t.Fatalf("count %d after a second write of a key", n)
	}
	if _, err := s.Apply(ctx, store.Change{Delete: &kc, Push: true}); err != nil {
		t.Fatal(err)
	}
	items, _ = s.Pending(ctx, now.Add(2*time.Minute), 10)
	if len(items) != 2 || items[1].Op != store.OpDelete || items[1].Record.Envelope != "" || items[1].Record.Key != kc {
		t.Fatalf("after a delete: %+v", items)
	}
	ka := k1
	ka.Integration = "a"
	if _, err := s.Apply(ctx, store.Change{Delete: &ka}); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Count(ctx); n != 1 {
		t.Fatalf("count %d: a deleted record's pending push was kept", n)
	}
}

func meta(t *testing.T, s Store) {
	ctx := context.Background()
	if _, err := s.GetMeta(ctx, "k"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("meta missing: %v", err)
	}
	if err := s.SetMeta(ctx, "k", "1"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetMeta(ctx, "k", "2"); err != nil {
		t.Fatal(err)
	}
	if v, err := s.GetMeta(ctx, "k"); v != "2" || err != nil {
		t.Fatalf("meta: %q %v", v, err)
	}
	if v, err := s.SetMetaIfAbsent(ctx, "k", "3"); v != "2" || err != nil {
		t.Fatalf("if-absent kept: %q %v", v, err)
	}
	if v, err := s.SetMetaIfAbsent(ctx, "j", "3"); v != "3" || err != nil {
		t.Fatalf("if-absent set: %q %v", v, err)
	}
	if ok, err := s.CompareAndSetMeta(ctx, "j", "stale", "4"); ok || err != nil {
		t.Fatalf("CAS with a stale value: %v %v", ok, err)
	}
	if ok, err := s.CompareAndSetMeta(ctx, "absent", "", "4"); ok || err != nil {
		t.Fatalf("CAS of an absent key: %v %v", ok, err)
	}
	if ok, err := s.CompareAndSetMeta(ctx, "j", "3", "4"); !ok || err != nil {
		t.Fatalf("CAS: %v %v", ok, err)
	}
	if _, err := s.Apply(ctx, store.Change{Meta: map[string]string{"k": "", "m": "5"}}); err != nil {
		t.Fatal(err)
	}
	all, err := s.ListMeta(ctx)
	if err != nil || len(all) != 2 || all["j"] != "4" || all["m"] != "5" {
		t.Fatalf("list meta: %v %v", all, err)
	}
	if err := s.DeleteMeta(ctx, "j"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMeta(ctx, "j"); err != nil {
		t.Fatalf("delete an absent key: %v", err)
	}
	if _, err := s.GetMeta(ctx, "j"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted meta: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }
