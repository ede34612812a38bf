package daemon

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/latchkey/latchkey/integrations/docebo/sandbox"
	"github.com/latchkey/latchkey/vault/store"
	"github.com/latchkey/latchkey/vault/store/remotestore"
	"github.com/latchkey/latchkey/vault/storeserver"
	"github.com/latchkey/latchkey/vault/storeserver/storetest"
)

// A real latchkey-store is stopped, the daemon keeps writing (and asks for
// pushes, which fail), and the store is started again on the same port: the
// daemon notices within seconds (probing /healthz), without a kick, and
// flushes its outbox; status shows the store down with the next retry
// meanwhile, and clears once it answers.
func TestStoreRestartedOnSamePort(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, sandbox.Options{RotateRefresh: true})
	be := storetest.OpenSQLite(t)
	idp := storetest.NewIdP(t)
	srv, err := storeserver.New(storeserver.Config{Backend: be, Verifier: storetest.Verifier(t, idp), Logger: storetest.Quiet})
	if err != nil {
		t.Fatal(err)
	}
	serve := func(addr string) (*http.Server, string) {
		t.Helper()
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		hs := &http.Server{Handler: srv}
		go hs.Serve(ln)
		t.Cleanup(func() { hs.Close() })
		return hs, ln.Addr().String()
	}
	hs, addr := serve("127.0.0.1:0")
	h.useStore("http://"+addr, idp)
	const sub = "idp|alice-restart"
	h.signInAs(ctx, idp, sub)
	reader := remotestore.New("http://"+addr, func(context.Context) (string, error) {
		return idp.Token(sub, storetest.Claims{}), nil
	}, nil)
	k := store.Key{User: h.d.vault.User(), Device: h.d.vault.Device(), Integration: "docebo"}
	inStep := func() bool {
		l, err := h.d.store.GetRecord(ctx, k)
		if err != nil {
			return false
		}
		n, err := h.d.store.Count(ctx)
		if err != nil || n != 0 {
			return false
		}
		r, err := reader.GetRecord(ctx, k)
		return err == nil && r.Envelope == l.Envelope
	}
	h.connect()
	waitFor(t, "the docebo record is at the store", inStep)

	// ---- The store stops. ----
	hs.Close()
	h.sb.ExpireAccessTokens()
	if code := h.api("GET", "/v1/proxy/docebo/manage/v1/user/session", nil); code != 200 {
		t.Fatalf("proxy (refresh) with the store stopped: %d", code)
	}
	// Pushes asked for while it is down (each local write kicks the loop).
	for i := 0; i < 10; i++ {
		before := h.d.syncLoop().Status().LastErrorAt
		h.d.kickSync()
		waitFor(t, "the kicked push fails", func() bool { return h.d.syncLoop().Status().LastErrorAt.After(before) })
	}
	st, err := h.d.StatusDoc(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Sync.Down || st.Sync.NextRetry == nil || st.Sync.LastError == "" || st.Sync.Pending == 0 {
		t.Fatalf("status with the store stopped: %+v", st.Sync)
	}
	if wait := time.Until(*st.Sync.NextRetry); wait > 11*time.Second {
		t.Fatalf("the next retry is %s away", wait)
	}

	// ---- It starts again on the same port; nobody kicks the daemon. ----
	serve(addr)
	upAt := time.Now()
	deadline := upAt.Add(15 * time.Second)
	for !inStep() {
		if time.Now().After(deadline) {
			t.Fatalf("the outbox was not flushed within 15 s of the store answering again (status %+v)", h.d.syncLoop().Status())
		}
		time.Sleep(20 * time.Millisecond) // polling an observable condition, bounded
	}
	t.Logf("flushed %s after the store came back", time.Since(upAt).Round(time.Millisecond))
	waitFor(t, "status clears the outage", func() bool {
		st, err := h.d.StatusDoc(ctx)
		return err == nil && !st.Sync.Down && st.Sync.NextRetry == nil && st.Sync.LastError == "" && st.Sync.Pending == 0
	})
}
