package daemon

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"golang.org/x/oauth2"

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
	err = SaveFileConfig(h.paths.ConfigFile(), func(c *Config) error {
		c.Store = "http://" + addr
		c.Identity = IdentityConfig{Issuer: idp.Issuer(), ClientID: e2eClientID}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	h.restart()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("daemon log:\n%s", h.logs.String())
		}
	})
	waitFor(t, "the sync loop runs", func() bool { return h.d.syncLoop() != nil })
	const sub = "idp|alice-restart"
	idTok := idp.Token(sub, storetest.Claims{Extra: map[string]any{"aud": []string{e2eClientID, storetest.Audience}}})
	itok := (&oauth2.Token{AccessToken: "idp-at-" + randomHex(16), RefreshToken: "idp-rt-" + randomHex(16), TokenType: "Bearer",
		Expiry: time.Now().Add(time.Hour)}).WithExtra(map[string]any{"id_token": idTok})
	if err := h.d.saveToken(ctx, identityName, itok, &store.Connection{AccountID: sub}); err != nil {
		t.Fatal(err)
	}
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
