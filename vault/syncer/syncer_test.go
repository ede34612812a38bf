package syncer_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/vault/envelope"
	"github.com/latchkey/latchkey/vault/store"
	"github.com/latchkey/latchkey/vault/store/remotestore"
	"github.com/latchkey/latchkey/vault/store/sqlitestore"
	"github.com/latchkey/latchkey/vault/storeserver"
	"github.com/latchkey/latchkey/vault/storeserver/storetest"
	"github.com/latchkey/latchkey/vault/syncer"
)

var (
	testKey   = bytes.Repeat([]byte{7}, 32)
	testKeyID = "00112233aabbccdd"
)

const (
	user   = "alice"
	device = "laptop"
)

func key(integration string) store.Key {
	return store.Key{User: user, Device: device, Integration: integration}
}

func seal(t testing.TB, k store.Key, pt string) store.Record {
	t.Helper()
	e, err := envelope.Seal(testKey, testKeyID, envelope.Binding{User: k.User, Device: k.Device, Integration: k.Integration}, []byte(pt))
	if err != nil {
		t.Fatal(err)
	}
	return store.Record{Key: k, KeyID: testKeyID, Envelope: e}
}

// rig is a real local store, a real store server (SQLite) behind a tap
// proxy that can be switched off, and a syncer between them.
type rig struct {
	t        *testing.T
	local    *sqlitestore.Store
	backend  *storeserver.SQLite
	idp      *storetest.IdP
	srv      *storetest.Server
	tap      *storetest.Tap
	remote   *remotestore.Client
	admin    *remotestore.Client
	sync     *syncer.Syncer
	statusF  string
	revoked  chan string
	newer    chan store.Record
	adoptErr atomic.Pointer[error]
}

func newRig(t *testing.T, storeUp bool) *rig {
	t.Helper()
	return newRigWith(t, storeUp, nil)
}

// newRigWith is newRig with adjust applied to the syncer's options.
func newRigWith(t *testing.T, storeUp bool, adjust func(*syncer.Options)) *rig {
	t.Helper()
	local, err := sqlitestore.Open(filepath.Join(t.TempDir(), "state", "local.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { local.Close() })
	r := &rig{t: t, local: local, backend: storetest.OpenSQLite(t), idp: storetest.NewIdP(t),
		revoked: make(chan string, 10), newer: make(chan store.Record, 10)}
	r.srv = storetest.StartServer(t, r.backend, r.idp)
	r.tap = storetest.NewTap(t, r.srv.Listener.Addr().String())
	r.tap.SetUp(storeUp)
	tok := r.idp.Token(user, storetest.Claims{})
	r.remote = remotestore.New(r.tap.URL(), func(context.Context) (string, error) { return tok, nil }, &http.Client{Timeout: 5 * time.Second})
	admTok := r.idp.Token("admin", storetest.Claims{Admin: true})
	r.admin = remotestore.New(r.srv.URL, func(context.Context) (string, error) { return admTok, nil }, nil)
	r.statusF = filepath.Join(t.TempDir(), "run", "sync-status.json")
	o := syncer.Options{
		User: user, Device: device,
		Hooks: syncer.Hooks{
			// As the daemon does: disconnect, drop the local record, queue nothing.
			OnRevoked: func(ctx context.Context, integration string) {
				if err := local.DeleteRecordEnqueue(ctx, key(integration), false, nil); err != nil {
					t.Error(err)
				}
				r.revoked <- integration
			},
			OnRemoteNewer: func(ctx context.Context, rec store.Record) error {
				if p := r.adoptErr.Load(); p != nil {
					return *p
				}
				r.newer <- rec
				_, err := local.PutRecordEnqueue(ctx, rec, store.AnyVersion, false, nil)
				return err
			},
		},
		StatusFile: r.statusF,
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 40 * time.Millisecond,
		Logger: storetest.Quiet,
	}
	if adjust != nil {
		adjust(&o)
	}
	r.sync = syncer.New(local, r.remote, o)
	return r
}

func (r *rig) run() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.sync.Run(ctx) }()
	r.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			r.t.Errorf("Run: %v", err)
		}
	})
}

// write seals pt locally and queues it, as the daemon does.
func (r *rig) write(integration, pt string) store.Record {
	r.t.Helper()
	rec, err := r.local.PutRecordEnqueue(r.t.Context(), seal(r.t, key(integration), pt), store.AnyVersion, true, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	r.sync.Kick()
	return rec
}

// eventually polls cond until it holds or 10 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (r *rig) pending() int {
	n, err := r.local.Count(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	return n
}

func openRec(t *testing.T, rec store.Record) string {
	t.Helper()
	pt, err := envelope.Open(testKey, testKeyID, envelope.Binding{User: rec.User, Device: rec.Device, Integration: rec.Integration}, rec.Envelope)
	if err != nil {
		t.Fatal(err)
	}
	return string(pt)
}

// TestStoreDownThenBack: the store is down for the whole first half; the
// daemon's local store keeps working, the outbox retries with backoff, and
// once the store is back every queued record arrives exactly once, even
// when the answer to a push is lost on the way back.
func TestStoreDownThenBack(t *testing.T) {
	t.Parallel()
	r := newRig(t, false)
	var puts atomic.Int64
	var dropFirst atomic.Bool
	dropFirst.Store(true)
	r.srv.SetWrap(func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if req.Method == http.MethodPut {
				puts.Add(1)
				if dropFirst.CompareAndSwap(true, false) {
					// The store commits the write, then the connection dies
					// before the answer reaches the daemon.
					h.ServeHTTP(httptest.NewRecorder(), req)
					panic(http.ErrAbortHandler)
				}
			}
			h.ServeHTTP(w, req)
		})
	})
	r.run()
	const n = 12
	want := map[string]string{}
	for i := 0; i < n; i++ {
		in := fmt.Sprintf("integration-%02d", i)
		want[in] = "token-v1-" + in
		r.write(in, want[in])
	}
	// Overwrites while down: only the latest of a key needs to arrive.
	for i := 0; i < n; i += 3 {
		in := fmt.Sprintf("integration-%02d", i)
		want[in] = "token-v2-" + in
		r.write(in, want[in])
	}
	eventually(t, "a few failed attempts while down", func() bool {
		st := r.sync.Status()
		return st.Down && st.LastError != "" && !st.LastErrorAt.IsZero()
	})
	if got := r.pending(); got != n {
		t.Fatalf("pending while down: %d, want %d", got, n)
	}
	// The daemon keeps working on its local store meanwhile.
	if rec, err := r.local.GetRecord(t.Context(), key("integration-03")); err != nil || openRec(t, rec) != want["integration-03"] {
		t.Fatalf("local read while down: %v", err)
	}
	// What `latchkey status` reads while the daemon is down.
	eventually(t, "the status file to show the queue and the error", func() bool {
		st, err := syncer.ReadStatus(r.statusF)
		return err == nil && st.Pending == n && st.LastError != "" && st.Down
	})
	if fi, err := os.Stat(r.statusF); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("status file mode: %v %v", err, fi.Mode())
	}
	if puts.Load() != 0 {
		t.Fatal("a request reached the store while it was down")
	}

	r.tap.SetUp(true)
	eventually(t, "the outbox to drain after the store came back", func() bool { return r.pending() == 0 })
	remote, err := r.backend.ListRecords(t.Context(), user)
	if err != nil {
		t.Fatal(err)
	}
	if len(remote) != n {
		t.Fatalf("remote has %d records, want %d", len(remote), n)
	}
	for _, rec := range remote {
		if rec.Version != 1 {
			t.Errorf("%s arrived %d times (version %d), want exactly once", rec.Integration, rec.Version, rec.Version)
		}
		if got := openRec(t, rec); got != want[rec.Integration] {
			t.Errorf("%s: remote holds %q, want %q", rec.Integration, got, want[rec.Integration])
		}
	}
	if dropFirst.Load() {
		t.Fatal("the lost-answer fault never fired")
	}
	// Ciphertext only: the daemon→store traffic holds envelopes, never a
	// token or the key.
	sent := r.tap.Sent()
	if !bytes.Contains(sent, []byte("lk1."+testKeyID)) {
		t.Fatal("the tap did not capture the pushes")
	}
	for _, needle := range [][]byte{[]byte("token-v1-"), []byte("token-v2-"), testKey} {
		if bytes.Contains(sent, needle) {
			t.Fatalf("plaintext %q on the wire to the store", needle)
		}
	}
	st := r.sync.Status()
	if st.Down || st.Pending != 0 || st.LastSuccess.IsZero() || st.LastSuccess.Before(st.LastErrorAt) {
		t.Fatalf("status after recovery: %+v", st)
	}
	// A later write goes straight through as version 2.
	r.write("integration-00", "token-v3")
	eventually(t, "the next write to arrive", func() bool {
		rec, err := r.backend.GetRecord(t.Context(), key("integration-00"))
		return err == nil && rec.Version == 2 && openRec(t, rec) == "token-v3"
	})
}

// TestRemoteNewerIsAdopted: the store holds a newer record (another copy of
// this device wrote it): the 412 is resolved by re-reading, and the remote
// record goes to OnRemoteNewer instead of being overwritten.
func TestRemoteNewerIsAdopted(t *testing.T) {
	t.Parallel()
	r := newRig(t, true)
	ctx := t.Context()
	k := key("docebo")
	rec, err := r.remote.PutRecord(ctx, seal(t, k, "remote-1"), store.CreateOnly)
	if err != nil {
		t.Fatal(err)
	}
	for i := 2; i <= 3; i++ {
		if rec, err = r.remote.PutRecord(ctx, seal(t, k, fmt.Sprintf("remote-%d", i)), rec.Version); err != nil {
			t.Fatal(err)
		}
	}
	r.write("docebo", "local-1") // local version 1 < remote version 3
	r.run()
	select {
	case got := <-r.newer:
		if got.Version != 3 || openRec(t, got) != "remote-3" {
			t.Fatalf("adopted %+v", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("OnRemoteNewer not called")
	}
	eventually(t, "the item to leave the outbox", func() bool { return r.pending() == 0 })
	cur, _ := r.backend.GetRecord(ctx, k)
	if cur.Version != 3 || openRec(t, cur) != "remote-3" {
		t.Fatalf("the newer remote record was overwritten: %+v", cur)
	}
	if l, _ := r.local.GetRecord(ctx, k); openRec(t, l) != "remote-3" {
		t.Fatal("the daemon's hook did not store it locally")
	}
	// The syncer remembers the remote version: the next local write lands
	// on top of it without a conflict.
	r.write("docebo", "local-2")
	eventually(t, "the next write to land as version 4", func() bool {
		cur, err := r.backend.GetRecord(ctx, k)
		return err == nil && cur.Version == 4 && openRec(t, cur) == "local-2"
	})
}

// TestLocalNewerWins: the store lags behind (older version): the local
// record is written over it with the version just read.
func TestLocalNewerWins(t *testing.T) {
	t.Parallel()
	r := newRig(t, true)
	ctx := t.Context()
	k := key("docebo")
	if _, err := r.remote.PutRecord(ctx, seal(t, k, "remote-old"), store.CreateOnly); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5; i++ { // coalesced in the outbox: one item, local version 5
		r.write("docebo", fmt.Sprintf("local-%d", i))
	}
	r.run()
	eventually(t, "the outbox to drain", func() bool { return r.pending() == 0 })
	cur, err := r.backend.GetRecord(ctx, k)
	if err != nil || cur.Version != 2 || openRec(t, cur) != "local-5" {
		t.Fatalf("remote after resolving: %v %+v", err, cur)
	}
	select {
	case got := <-r.newer:
		t.Fatalf("an older remote record was adopted: %+v", got)
	default:
	}
}

// TestRevocation: an administrator's revoke reaches the device on the next
// sync (check), and a push to a revoked record is dropped with OnRevoked.
func TestRevocation(t *testing.T) {
	t.Parallel()
	r := newRig(t, true)
	ctx := t.Context()
	r.run()
	r.write("docebo", "t1")
	r.write("document360", "t2")
	eventually(t, "both records pushed", func() bool {
		l, _ := r.backend.ListRecords(ctx, user)
		return r.pending() == 0 && len(l) == 2
	})
	if err := r.admin.AdminRevoke(ctx, key("docebo")); err != nil {
		t.Fatal(err)
	}
	r.sync.Kick()
	select {
	case in := <-r.revoked:
		if in != "docebo" {
			t.Fatalf("revoked %q", in)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("OnRevoked not called after a central revoke")
	}
	// A write queued (store unreachable) for a record revoked meanwhile:
	// dropped and reported once the store answers.
	r.tap.SetUp(false)
	r.write("document360", "t2-refreshed")
	if err := r.admin.AdminRevoke(ctx, key("document360")); err != nil {
		t.Fatal(err)
	}
	r.tap.SetUp(true)
	select {
	case in := <-r.revoked:
		if in != "document360" {
			t.Fatalf("revoked %q", in)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("OnRevoked not called for a push to a revoked record")
	}
	eventually(t, "the revoked item to leave the outbox", func() bool { return r.pending() == 0 })
	if _, err := r.backend.GetRecord(ctx, key("document360")); !errors.Is(err, storeserver.ErrRevoked) {
		t.Fatalf("the revoked record came back: %v", err)
	}
}

// TestDeleteAndRepush: a queued delete removes the remote record; a record
// missing remotely (lost by the store) is pushed again by the check.
func TestDeleteAndRepush(t *testing.T) {
	t.Parallel()
	r := newRig(t, true)
	ctx := t.Context()
	r.run()
	r.write("docebo", "a")
	r.write("other", "b")
	eventually(t, "pushed", func() bool { l, _ := r.backend.ListRecords(ctx, user); return len(l) == 2 })
	if err := r.local.DeleteRecordEnqueue(ctx, key("other"), true, nil); err != nil {
		t.Fatal(err)
	}
	r.sync.Kick()
	eventually(t, "the remote delete", func() bool {
		_, err := r.backend.GetRecord(ctx, key("other"))
		return errors.Is(err, store.ErrNotFound) && r.pending() == 0
	})
	// The store loses docebo (say, restored from an old backup).
	if err := r.backend.DeleteRecord(ctx, key("docebo")); err != nil {
		t.Fatal(err)
	}
	r.sync.Kick()
	eventually(t, "the check to push docebo again", func() bool {
		rec, err := r.backend.GetRecord(ctx, key("docebo"))
		return err == nil && rec.Version == 1
	})
}

// TestAdoptFailureKeepsItem: when the daemon cannot store the newer remote
// record, the outbox item stays for a retry.
func TestAdoptFailureKeepsItem(t *testing.T) {
	t.Parallel()
	r := newRig(t, true)
	ctx := t.Context()
	e := errors.New("local disk full")
	r.adoptErr.Store(&e)
	k := key("docebo")
	rec, _ := r.remote.PutRecord(ctx, seal(t, k, "r1"), store.CreateOnly)
	r.remote.PutRecord(ctx, seal(t, k, "r2"), rec.Version)
	r.write("docebo", "l1")
	r.run()
	eventually(t, "the failure to show in the status", func() bool {
		st := r.sync.Status()
		return st.LastError != "" && bytes.Contains([]byte(st.LastError), []byte("local disk full"))
	})
	if r.pending() != 1 {
		t.Fatal("the item left the outbox although it was not stored")
	}
	r.adoptErr.Store(nil)
	r.sync.Kick()
	eventually(t, "the retry to adopt", func() bool { return r.pending() == 0 })
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	minD, maxD := 100*time.Millisecond, 2*time.Second
	for n := 1; n <= 50; n++ {
		want := maxD
		if n <= 5 {
			want = minD << (n - 1)
		}
		seen := map[time.Duration]bool{}
		for i := 0; i < 50; i++ {
			d := syncer.Backoff(n, minD, maxD)
			if d < want/2 || d > want {
				t.Fatalf("Backoff(%d) = %v, want within [%v, %v]", n, d, want/2, want)
			}
			seen[d] = true
		}
		if len(seen) < 2 {
			t.Fatalf("Backoff(%d) has no jitter", n)
		}
	}
}

// TestRecoversSoonAfterKicksWhileDown: while the store is down, attempts
// that were asked for (Kick: every local write, "retry now") do not push the
// next retry further away; the syncer probes the store's /healthz on a short
// bounded schedule and flushes within moments of it answering again, and
// the status says down with the next retry, then clears.
func TestRecoversSoonAfterKicksWhileDown(t *testing.T) {
	t.Parallel()
	r := newRigWith(t, false, func(o *syncer.Options) {
		// A real-sized item backoff: only the probe may bring recovery soon.
		o.MinBackoff, o.MaxBackoff, o.MaxProbe = 50*time.Millisecond, 5*time.Minute, 400*time.Millisecond
		o.PollInterval = time.Hour
	})
	var probes atomic.Int64
	r.srv.SetWrap(func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if req.URL.Path == "/healthz" {
				probes.Add(1)
			}
			h.ServeHTTP(w, req)
		})
	})
	r.run()
	r.write("docebo", "token-1")
	eventually(t, "the syncer to see the store down", func() bool { return r.sync.Status().Down })
	// Twelve asked-for attempts, each failing (50 ms · 2^12 would be minutes).
	for i := 0; i < 12; i++ {
		before := r.sync.Status().LastErrorAt
		r.sync.Kick()
		eventually(t, "the kicked attempt to fail", func() bool { return r.sync.Status().LastErrorAt.After(before) })
	}
	st := r.sync.Status()
	if !st.Down || st.NextRetry.IsZero() || st.LastError == "" {
		t.Fatalf("status while down: %+v", st)
	}
	if wait := time.Until(st.NextRetry); wait > time.Second {
		t.Fatalf("the next retry is %s away after the kicks, want at most the probe cap", wait)
	}
	if fst, err := syncer.ReadStatus(r.statusF); err != nil || !fst.Down || fst.NextRetry.IsZero() {
		t.Fatalf("the status file while down: %+v %v", fst, err)
	}
	upAt := time.Now()
	r.tap.SetUp(true) // no Kick: the probe must notice
	deadline := upAt.Add(5 * time.Second)
	for r.pending() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the outbox was not flushed within 5 s of the store answering (status %+v)", r.sync.Status())
		}
		time.Sleep(5 * time.Millisecond) // polling an observable condition, bounded
	}
	if probes.Load() == 0 {
		t.Fatal("recovered without probing /healthz")
	}
	eventually(t, "the status to clear", func() bool {
		st := r.sync.Status()
		return !st.Down && st.NextRetry.IsZero() && st.LastError == "" && st.LastSuccess.After(upAt)
	})
}
