package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/client/apitype"
	oidcsandbox "github.com/latchkey/latchkey/integrations/oidc/sandbox"
	"github.com/latchkey/latchkey/vault/store"
)

// signedFor is a provider JWT for sub with the given aud (a string or a
// list), valid for five minutes.
func (h *idHarness) signedFor(sub string, aud any) string {
	h.t.Helper()
	now := time.Now()
	raw, err := h.idp.Sign(map[string]any{"iss": h.idp.Issuer(), "aud": aud, "sub": sub,
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()})
	if err != nil {
		h.t.Fatal(err)
	}
	return raw
}

// bearerBody calls the injector with a caller token and returns the body.
func (h *harness) bearerBody(tok, method, path string) (int, string) {
	h.t.Helper()
	req, _ := http.NewRequest(method, "http://"+h.d.listenAddr+path, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Issue 13 item 5: the bearer the daemon presents to latchkey-store (as
// seen on the wire by a recording store) does not open the injector; a
// provider JWT for the local API's own audience does, and one that names
// the client id too does not.
func TestStoreBearerRefusedAtTheInjector(t *testing.T) {
	t.Parallel()
	h := newIdentityHarness(t, "")
	bearers := make(chan string, 1)
	rec := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && a != "" {
			select {
			case bearers <- a:
			default:
			}
		}
		http.Error(w, "down for the test", http.StatusServiceUnavailable)
	}))
	t.Cleanup(rec.Close)
	if err := SaveFileConfig(h.paths.ConfigFile(), func(c *Config) error { c.Store = rec.URL; return nil }); err != nil {
		t.Fatal(err)
	}
	h.restart()
	h.registerRedirect("")
	h.loginHTTP("alice", "alice-password")
	h.connect() // a write to push: the sync loop calls the store
	var sent string
	select {
	case sent = <-bearers:
	case <-time.After(30 * time.Second):
		t.Fatal("the daemon never called the store")
	}
	if code := h.bearerGet(sent, "/v1/status"); code != 401 {
		t.Fatalf("the store's bearer at the injector's /v1/status: %d", code)
	}
	if code := h.bearerGet(sent, "/v1/proxy/docebo/manage/v1/user/session"); code != 401 {
		t.Fatalf("the store's bearer at the injector's proxy: %d", code)
	}
	if code := h.bearerGet(h.signedFor(aliceSub, []string{localAud, oidcsandbox.DefaultClientID}), "/v1/status"); code != 401 {
		t.Fatalf("a JWT for the local API and the client id: %d", code)
	}
	if code := h.bearerGet(h.signedFor(aliceSub, localAud), "/v1/proxy/docebo/manage/v1/user/session"); code != 200 {
		t.Fatalf("a JWT for the local API: %d", code)
	}
}

// The local audience may not be the client id: such a config is refused
// with one line saying why.
func TestLocalAudienceMustDifferFromTheClientID(t *testing.T) {
	t.Parallel()
	h := newIdentityHarness(t, "")
	err := SaveFileConfig(h.paths.ConfigFile(), func(c *Config) error {
		c.Identity.LocalAudience = c.Identity.ClientID
		return nil
	})
	if err == nil {
		_, err = LoadConfig(h.paths.ConfigFile(), func(string) string { return "" })
	}
	if err == nil || !strings.Contains(err.Error(), "local_audience must differ from identity.client_id") {
		t.Fatalf("local_audience = client_id: %v", err)
	}
}

// Issue 13 item 6: a docebo-only caller sees docebo's state and no other
// integration, and of the identity only that someone is signed in.
func TestStatusIsCutToTheCallersScope(t *testing.T) {
	t.Parallel()
	h := newIdentityHarness(t, "")
	h.loginHTTP("alice", "alice-password")
	h.connect()
	scoped, err := h.d.MintToken(apitype.TokenRequest{Integrations: []string{"docebo"}})
	if err != nil {
		t.Fatal(err)
	}
	code, body := h.bearerBody(scoped, "GET", "/v1/status")
	if code != 200 {
		t.Fatalf("status with a docebo-only token: %d %s", code, body)
	}
	var st apitype.Status
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, in := range st.Integrations {
		names = append(names, in.Name)
	}
	if !slices.Equal(names, []string{"docebo"}) || st.Integrations[0].State != "connected" {
		t.Fatalf("a docebo-only caller sees integrations %v (%+v)", names, st.Integrations)
	}
	if st.Identity == nil || !st.Identity.SignedIn || st.Identity.Subject != "" || st.Identity.Email != "" ||
		st.Identity.Name != "" || st.Identity.Groups != nil || st.BoundTo != "" {
		t.Fatalf("a docebo-only caller sees identity %+v, bound_to %q", st.Identity, st.BoundTo)
	}
	for _, s := range []string{aliceSub, "alice@example.test", "Alice Liddell", "staff", "learners", "document360"} {
		if strings.Contains(body, s) {
			t.Errorf("a docebo-only caller's status holds %q: %s", s, body)
		}
	}
	// A full-scope caller still sees everything.
	full, err := h.d.MintToken(apitype.TokenRequest{})
	if err != nil {
		t.Fatal(err)
	}
	_, body = h.bearerBody(full, "GET", "/v1/status")
	for _, s := range []string{aliceSub, "alice@example.test", "staff", "document360"} {
		if !strings.Contains(body, s) {
			t.Errorf("a full-scope caller's status lacks %q: %s", s, body)
		}
	}
	// A caller scoped to document360 alone sees no docebo account.
	d360only, err := h.d.MintToken(apitype.TokenRequest{Integrations: []string{"document360"}})
	if err != nil {
		t.Fatal(err)
	}
	_, body = h.bearerBody(d360only, "GET", "/v1/status")
	if strings.Contains(body, `"docebo"`) || strings.Contains(body, h.sbURL) {
		t.Errorf("a document360-only caller sees docebo: %s", body)
	}
}

// Issue 13 item 9: DELETE /v1/integrations/identity signs out as logout
// does: provider JWTs are refused at once and the records are bound to the
// OS user again (and keep working).
func TestDisconnectingTheIdentitySignsOut(t *testing.T) {
	t.Parallel()
	h := newIdentityHarness(t, "")
	h.loginHTTP("alice", "alice-password")
	h.connect()
	jwt := h.signedFor(aliceSub, localAud)
	if code := h.bearerGet(jwt, "/v1/status"); code != 200 {
		t.Fatalf("provider JWT while signed in: %d", code)
	}
	if got := h.d.vault.BindingUser(); got != aliceSub {
		t.Fatalf("binding while signed in %q", got)
	}
	if code := h.api("DELETE", "/v1/integrations/identity", nil); code >= 300 {
		t.Fatalf("DELETE /v1/integrations/identity: %d", code)
	}
	if code := h.bearerGet(jwt, "/v1/status"); code != 401 {
		t.Fatalf("provider JWT after the identity was disconnected: %d", code)
	}
	if code := h.bearerGet(h.signedFor(aliceSub, localAud), "/v1/status"); code != 401 {
		t.Fatalf("a fresh provider JWT after the identity was disconnected: %d", code)
	}
	if got := h.d.vault.BindingUser(); got != "alice" {
		t.Fatalf("records still bound to %q after the identity was disconnected", got)
	}
	if h.identity().SignedIn {
		t.Fatal("still signed in")
	}
	if _, err := h.d.store.GetRecord(context.Background(), store.Key{User: "alice", Device: h.d.vault.Device(), Integration: "docebo"}); err != nil {
		t.Fatalf("docebo is not bound to the OS user: %v", err)
	}
	if code := h.api("GET", "/v1/proxy/docebo/manage/v1/user/session", nil); code != 200 {
		t.Fatalf("docebo after the identity was disconnected: %d", code)
	}
}

var errSimulatedCrash = errors.New("simulated crash")

// Issue 13 item 16: logout cut short after any of its steps (as by kill -9
// there) leaves the device signed out once the daemon starts again:
// nobody signed in, records bound to the OS user and opening, no identity
// token, and a provider JWT for that user refused by the injector.
func TestInterruptedLogoutLeavesItSignedOut(t *testing.T) {
	t.Parallel()
	for _, step := range []string{"signed-out", "rebound"} {
		t.Run(step, func(t *testing.T) {
			h := newIdentityHarness(t, "")
			h.loginHTTP("alice", "alice-password")
			h.connect()
			ctx := context.Background()
			h.d.testLogoutStep = func(s string) error {
				if s == step {
					return errSimulatedCrash
				}
				return nil
			}
			if _, err := h.d.Logout(ctx); !errors.Is(err, errSimulatedCrash) {
				t.Fatalf("logout stopped at %s: %v", step, err)
			}
			h.restart()
			if id := h.identity(); id.SignedIn || id.Subject != "" {
				t.Fatalf("after a restart: %+v", id)
			}
			if code := h.bearerGet(h.signedFor(aliceSub, localAud), "/v1/status"); code != 401 {
				t.Fatalf("a provider JWT for the signed-out user after a restart: %d", code)
			}
			if got := h.d.vault.BindingUser(); got != "alice" {
				t.Fatalf("records bound to %q after a restart", got)
			}
			if _, _, err := h.d.vault.LoadToken(ctx, identityName); err == nil {
				t.Fatal("the identity token is still in the vault")
			}
			if g, _ := h.d.store.GetMeta(ctx, "identity_groups"); g != "" {
				t.Fatalf("identity groups kept: %q", g)
			}
			if code := h.api("GET", "/v1/proxy/docebo/manage/v1/user/session", nil); code != 200 {
				t.Fatalf("docebo after the restart: %d", code)
			}
		})
	}
}
