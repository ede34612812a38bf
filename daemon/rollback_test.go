package daemon

import (
	"context"
	"database/sql"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/latchkey/latchkey/integrations/docebo/sandbox"
	"github.com/latchkey/latchkey/vault/store"
	"github.com/latchkey/latchkey/vault/store/remotestore"
	"github.com/latchkey/latchkey/vault/storeserver/storetest"
)

// A compromised or restored latchkey-store serves an older sealed record of
// this device under a higher version: the device keeps the newer record it
// holds (the sequence sealed inside both says which is newer, and the store
// cannot change it), pushes it back over the old one, and says so in status.
func TestStoreRollbackRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t, sandbox.Options{RotateRefresh: true})
	be := storetest.OpenSQLite(t)
	idp := storetest.NewIdP(t)
	srv := storetest.StartServer(t, be, idp)
	h.useStore(srv.URL, idp)
	const sub = "idp|alice-rollback"
	h.signInAs(ctx, idp, sub)
	reader := remotestore.New(srv.URL, func(context.Context) (string, error) {
		return idp.Token(sub, storetest.Claims{}), nil
	}, srv.Client())
	k := store.Key{User: h.d.vault.User(), Device: h.d.vault.Device(), Integration: "docebo"}
	// atStore waits until the store holds the local docebo record as it is
	// locally, and returns it.
	atStore := func(what string) store.Record {
		t.Helper()
		var l store.Record
		waitFor(t, what, func() bool {
			var err error
			if l, err = h.d.store.GetRecord(ctx, k); err != nil {
				return false
			}
			r, err := reader.GetRecord(ctx, k)
			n, cerr := h.d.store.Count(ctx)
			return err == nil && cerr == nil && n == 0 && r.Envelope == l.Envelope
		})
		r, err := reader.GetRecord(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	h.connect()
	v1 := atStore("the first docebo record is at the store")
	h.sb.ExpireAccessTokens()
	if code := h.api("GET", "/v1/proxy/docebo/manage/v1/user/session", nil); code != 200 {
		t.Fatalf("proxy (refresh): %d", code)
	}
	v2 := atStore("the refreshed docebo record is at the store")
	if v2.Envelope == v1.Envelope || v2.Version <= v1.Version {
		t.Fatalf("the refresh did not reach the store: v1 %d, v2 %d", v1.Version, v2.Version)
	}
	newTok, _, err := h.d.vault.LoadToken(ctx, "docebo")
	if err != nil {
		t.Fatal(err)
	}

	// The store's database is rewritten to serve v1 again, under a higher
	// version than the device knows (as a restored backup edited by an
	// attacker, or a compromised server, would).
	db, err := sql.Open("sqlite", be.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := db.ExecContext(ctx, "UPDATE records SET envelope = ?, key_id = ?, version = ? WHERE device = ? AND integration = 'docebo'",
		v1.Envelope, v1.KeyID, v2.Version+5, k.Device)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("rewrote %d store rows", n)
	}
	if r, err := reader.GetRecord(ctx, k); err != nil || r.Envelope != v1.Envelope {
		t.Fatalf("the store does not serve the old record: %v", err)
	}

	h.d.kickSync()
	waitFor(t, "the device either adopts the old record or pushes its own back", func() bool {
		l, err := h.d.store.GetRecord(ctx, k)
		if err != nil || l.Envelope != v2.Envelope {
			return true
		}
		r, err := reader.GetRecord(ctx, k)
		return err == nil && r.Envelope == v2.Envelope
	})
	l, err := h.d.store.GetRecord(ctx, k)
	if err != nil || l.Envelope != v2.Envelope {
		t.Fatalf("the device was rolled back to the store's older record (%v)", err)
	}
	got, _, err := h.d.vault.LoadToken(ctx, "docebo")
	if err != nil || got.AccessToken != newTok.AccessToken || got.RefreshToken != newTok.RefreshToken {
		t.Fatalf("the device's docebo token changed: %v", err)
	}
	if r, err := reader.GetRecord(ctx, k); err != nil || r.Version <= v2.Version+5 {
		t.Fatalf("the store's record after the repush: %v %+v", err, r)
	}
	st, err := h.d.StatusDoc(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Sync.Refused == "" || st.Sync.RefusedAt == nil {
		t.Fatalf("status does not say a rollback was refused: %+v", st.Sync)
	}
	if code := h.api("GET", "/v1/proxy/docebo/manage/v1/user/session", nil); code != 200 {
		t.Fatalf("proxy with the kept token: %d", code)
	}
}
