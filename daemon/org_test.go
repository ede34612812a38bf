package daemon

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/integrations/docebo/sandbox"
	"github.com/latchkey/latchkey/vault/keychain"
	"github.com/latchkey/latchkey/vault/storeserver"
	"github.com/latchkey/latchkey/vault/storeserver/storetest"
)

// testPNG is a 1×1 PNG.
var testPNG, _ = base64.StdEncoding.DecodeString("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")

// newUnconfiguredHarness is a harness whose user never configured Docebo:
// no [integrations] in the config file, no client secret in the keychain.
func newUnconfiguredHarness(t *testing.T) *harness {
	t.Helper()
	h := newHarness(t, sandbox.Options{})
	if err := SaveFileConfig(h.paths.ConfigFile(), func(c *Config) error {
		c.Integrations = nil
		c.OrgPullInterval = Duration{50e6} // 50 ms: "within one pull period" stays short
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := h.d.vault.DeleteSecret(secretName("docebo")); err != nil {
		t.Fatal(err)
	}
	h.restart()
	return h
}

// adminPut configures an org integration in the store as an administrator.
func adminPut(t *testing.T, srv *storetest.Server, idp *storetest.IdP, name string, body map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("PUT", srv.URL+"/v1/admin/integrations/"+name, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+idp.Token("root", storetest.Claims{Admin: true}))
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("PUT %s: %d %s", name, resp.StatusCode, out)
	}
}

// TestOrgIntegrationFromStore: an administrator enables Docebo in
// latchkey-store; the signed-in employee's daemon, never configured by
// hand, gets it (display name, logo, widget title, managed), keeps the
// client secret in the keychain only, connects and lists courses; an outage
// of the store changes nothing; the administrator disables it and the
// device disconnects within a pull period and forgets the secret.
func TestOrgIntegrationFromStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newUnconfiguredHarness(t)
	if in := h.integrationStatus("docebo"); in.Configured || in.Managed {
		t.Fatalf("before the organisation enables it, docebo is %+v", in)
	}
	b := storetest.OpenSQLite(t)
	idp := storetest.NewIdP(t)
	sk, _ := storeserver.NewSecretsKeys(bytes.Repeat([]byte{7}, 32))
	srv := storetest.StartServerConfig(t, storeserver.Config{Backend: b, Verifier: storetest.Verifier(t, idp), Logger: storetest.Quiet, Secrets: sk})
	tap := storetest.NewTap(t, srv.Listener.Addr().String())
	h.useStore(tap.URL(), idp)
	const sub = "idp|alice-org"
	h.signInAs(ctx, idp, sub)

	// Never enabled: not configured, not managed (the menu tells the user
	// to ask the administrator).
	waitFor(t, "a first pull", func() bool {
		h.d.org.mu.Lock()
		defer h.d.org.mu.Unlock()
		return !h.d.org.lastPull.IsZero() && h.d.org.lastErr == nil
	})
	if in := h.integrationStatus("docebo"); in.Configured || in.Managed {
		t.Fatalf("with nothing enabled, docebo is %+v", in)
	}

	logo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		w.Write(testPNG)
	}))
	t.Cleanup(logo.Close)
	adminPut(t, srv, idp, "docebo", map[string]any{"enabled": true, "url": h.sbURL, "client_id": sandbox.DefaultClientID,
		"client_secret": sandbox.DefaultClientSecret, "display_name": "Acme Learning", "logo_url": logo.URL + "/logo.png",
		"widget_title": "Acme courses"})
	waitFor(t, "the daemon applies the organisation's Docebo", func() bool { return h.integrationStatus("docebo").Managed })
	in := h.integrationStatus("docebo")
	if !in.Configured || in.DisplayName != "Acme Learning" || in.LogoURL != logo.URL+"/logo.png" || in.WidgetTitle != "Acme courses" ||
		in.URL != h.sbURL || in.Connect != "oauth" || in.ConfigError != "" {
		t.Fatalf("managed docebo: %+v", in)
	}
	if s, err := h.d.vault.GetSecret(secretName("docebo")); err != nil || s != sandbox.DefaultClientSecret {
		t.Fatalf("the client secret is not in the keychain: %v", err)
	}
	copyFile := orgCopyFile(h.paths)
	data, err := os.ReadFile(copyFile)
	if fi, _ := os.Stat(copyFile); err != nil || fi.Mode().Perm() != 0o600 || bytes.Contains(data, []byte(sandbox.DefaultClientSecret)) || !bytes.Contains(data, []byte("Acme Learning")) {
		t.Fatalf("the last good copy %s (mode %v) is wrong or holds the secret: %v %s", copyFile, fi.Mode(), err, data)
	}
	for _, f := range []string{h.paths.ConfigFile()} {
		if b, _ := os.ReadFile(f); bytes.Contains(b, []byte(sandbox.DefaultClientSecret)) || bytes.Contains(b, []byte(h.sbURL)) {
			t.Errorf("%s holds the organisation's configuration", f)
		}
	}
	// The daemon fetched the logo once and serves it as a data: URL.
	waitFor(t, "the logo is fetched", func() bool { return h.integrationStatus("docebo").Logo != "" })
	if got := h.integrationStatus("docebo").Logo; got != "data:image/png;base64,"+base64.StdEncoding.EncodeToString(testPNG) {
		t.Errorf("logo = %.60q…", got)
	}
	// latchkey configure refuses it (the CLI reads this without a daemon).
	m, _ := ManagedIntegrations(h.paths, func(string) string { return "" })
	if err := ManagedError("docebo", m["docebo"]); m["docebo"].Source != ManagedByStore || !errors.Is(err, ErrManaged) || !strings.Contains(err.Error(), "managed by your organisation") {
		t.Errorf("ManagedIntegrations: %+v, %v", m, err)
	}

	// Connect works, and so does My Courses; the status JSON says managed.
	h.connect()
	var courses struct{ Items []map[string]any }
	if code := h.api("GET", "/v1/courses", &courses); code != 200 || len(courses.Items) == 0 {
		t.Fatalf("courses: %d %+v", code, courses)
	}
	var st map[string]any
	h.api("GET", "/v1/status", &st)
	raw, _ := json.Marshal(st)
	if !strings.Contains(string(raw), `"display_name":"Acme Learning"`) || !strings.Contains(string(raw), `"managed":true`) {
		t.Errorf("/v1/status: %s", raw)
	}

	hasDocebo := func() bool {
		recs, err := b.ListRecords(ctx, sub)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.Integration == "docebo" {
				return true
			}
		}
		return false
	}
	waitFor(t, "the sealed record reaches the store", hasDocebo)

	// The store is down: the last good copy stays in force.
	tap.SetUp(false)
	waitFor(t, "a pull fails", func() bool {
		h.d.org.mu.Lock()
		defer h.d.org.mu.Unlock()
		return h.d.org.lastErr != nil
	})
	if in := h.integrationStatus("docebo"); !in.Managed || in.State != "connected" {
		t.Fatalf("during the outage docebo is %+v", in)
	}
	h.restart() // and across a restart while it is down
	if in := h.integrationStatus("docebo"); !in.Managed || in.State != "connected" {
		t.Fatalf("restarted during the outage, docebo is %+v", in)
	}
	tap.SetUp(true)

	// Disabled centrally: disconnected within a pull period, tokens and
	// secret gone here and in the store.
	adminPut(t, srv, idp, "docebo", map[string]any{"enabled": false})
	waitFor(t, "the daemon disconnects the disabled Docebo", func() bool {
		in := h.integrationStatus("docebo")
		return !in.Managed && in.State != "connected"
	})
	if _, _, err := h.d.vault.LoadToken(ctx, "docebo"); err == nil {
		t.Error("the sealed token is still here")
	}
	if _, err := h.d.vault.GetSecret(secretName("docebo")); !errors.Is(err, keychain.ErrNotFound) {
		t.Errorf("the client secret is still in the keychain: %v", err)
	}
	waitFor(t, "the store's sealed record goes", func() bool { return !hasDocebo() })
}

// TestManagedFile: the same card from /etc/latchkey/managed.toml alone
// (LATCHKEY_MANAGED_CONFIG here); secrets in it are refused; `latchkey
// provision` puts the client secret in the keychain; configure refuses it.
func TestManagedFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "managed.toml")
	t.Setenv("LATCHKEY_MANAGED_CONFIG", path)

	os.WriteFile(path, []byte("[integrations.docebo]\nurl = \"https://acme.docebosaas.com\"\nclient_id = \"x\"\nclient_secret = \"s3cr3t-in-a-file\"\n"), 0o644)
	if _, err := LoadManagedFile(path); err == nil || !strings.Contains(err.Error(), "refused") || strings.Contains(err.Error(), "s3cr3t-in-a-file") {
		t.Errorf("a secret in the managed file: %v", err)
	}
	os.WriteFile(path, []byte("[integrations.docebo]\nurl = \"https://acme.docebosaas.com\"\n[integrations.docebo.settings]\napi_token = \"t\"\n"), 0o644)
	if _, err := LoadManagedFile(path); err == nil || !strings.Contains(err.Error(), "settings.api_token") {
		t.Errorf("a secret setting in the managed file: %v", err)
	}
	// Where a token is fetched from is not a secret.
	os.WriteFile(path, []byte("[integrations.document360]\nurl = \"https://acme.document360.io\"\n[integrations.document360.settings]\nwidget_token_url = \"https://intranet.acme.example/d360-token\"\n"), 0o644)
	if m, err := LoadManagedFile(path); err != nil || m["document360"].Settings["widget_token_url"] == "" {
		t.Errorf("Document360's widget_token_url in the managed file: %v, %+v", err, m)
	}
	os.WriteFile(path, []byte("[integrations.docebo]\nurl = \"http://acme.docebosaas.com\"\n"), 0o644)
	if _, err := LoadManagedFile(path); err == nil {
		t.Error("an http:// URL off loopback in the managed file was accepted")
	}
	if m, err := LoadManagedFile(filepath.Join(dir, "none.toml")); m != nil || err != nil {
		t.Errorf("no managed file: %v %v", m, err)
	}

	h := newUnconfiguredHarness(t)
	os.WriteFile(path, []byte(`[integrations.docebo]
url = "`+h.sbURL+`"
client_id = "`+sandbox.DefaultClientID+`"
display_name = "Acme Learning"
logo_url = "https://cdn.acme.example/logo.png"
widget_title = "Acme courses"
`), 0o644)
	h.restart()
	in := h.integrationStatus("docebo")
	if !in.Managed || !in.Configured || in.DisplayName != "Acme Learning" || in.WidgetTitle != "Acme courses" {
		t.Fatalf("docebo from the managed file: %+v", in)
	}
	m, _ := ManagedIntegrations(h.paths, os.Getenv)
	if m["docebo"].Source != ManagedByFile {
		t.Errorf("ManagedIntegrations: %+v", m)
	}
	if err := h.d.ProvisionSecret("document360", "x"); err == nil {
		t.Error("provision of an integration the organisation does not manage")
	}
	if err := h.d.ProvisionSecret("docebo", sandbox.DefaultClientSecret); err != nil {
		t.Fatal(err)
	}
	h.connect()
	if h.state("docebo") != "connected" {
		t.Fatalf("docebo from the managed file did not connect: %s", h.state("docebo"))
	}
	// A change of the file is read on reload.
	os.WriteFile(path, []byte("[integrations.docebo]\nurl = \""+h.sbURL+"\"\nclient_id = \""+sandbox.DefaultClientID+"\"\ndisplay_name = \"Acme Academy\"\n"), 0o644)
	if err := h.d.Reload(); err != nil {
		t.Fatal(err)
	}
	if in := h.integrationStatus("docebo"); in.DisplayName != "Acme Academy" || !in.Managed {
		t.Errorf("after reload: %+v", in)
	}
	if b, _ := os.ReadFile(h.paths.ConfigFile()); bytes.Contains(b, []byte(h.sbURL)) {
		t.Error("the managed configuration was written to the user's config file")
	}
}

// TestOrgRepointingForgetsTheOldProvidersTokens: the store (compromised, or
// an administrator's edit) manages an integration the user connected under
// another URL; the tokens and the user's client secret belong to the old
// provider and must not be sent to the new URL, so both are forgotten and
// the integration asks to be connected again.
func TestOrgRepointingForgetsTheOldProvidersTokens(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t, sandbox.Options{})
	h.connect()
	if _, _, err := h.d.vault.LoadToken(ctx, "docebo"); err != nil {
		t.Fatalf("connected docebo has no token: %v", err)
	}
	const elsewhere = "https://learning.attacker.example"
	next := map[string]ManagedIntegration{"docebo": {
		IntegrationConfig: IntegrationConfig{URL: elsewhere, ClientID: sandbox.DefaultClientID}, Source: ManagedByStore,
	}}
	if err := h.d.applyOrg(ctx, next, map[string]string{"docebo": ""}, `"1"`); err != nil {
		t.Fatal(err)
	}
	if h.d.conf().Integrations["docebo"].URL != elsewhere {
		t.Fatalf("the managed URL is not in force: %+v", h.d.conf().Integrations["docebo"])
	}
	if _, _, err := h.d.vault.LoadToken(ctx, "docebo"); err == nil {
		t.Error("the old provider's token is still here, to be sent to " + elsewhere)
	}
	if _, err := h.d.vault.GetSecret(secretName("docebo")); !errors.Is(err, keychain.ErrNotFound) {
		t.Errorf("the user's client secret would go to %s: %v", elsewhere, err)
	}
	if in := h.integrationStatus("docebo"); in.State == "connected" {
		t.Errorf("re-pointed docebo still says connected: %+v", in)
	}

	// The same URL again (a trailing slash aside) and a new secret: nothing
	// more is forgotten, the secret is kept.
	next["docebo"] = ManagedIntegration{IntegrationConfig: IntegrationConfig{URL: elsewhere + "/", ClientID: sandbox.DefaultClientID}, Source: ManagedByStore}
	if err := h.d.applyOrg(ctx, next, map[string]string{"docebo": "s3"}, `"2"`); err != nil {
		t.Fatal(err)
	}
	if s, err := h.d.vault.GetSecret(secretName("docebo")); err != nil || s != "s3" {
		t.Errorf("the store's client secret is not kept: %v", err)
	}
}

// TestOrgRepointingBySettingsForgetsTheTokens: a setting that names where
// tokens go (a *_url setting such as Document360's identity_url, or the
// region that picks the API host) re-points the integration as much as
// its URL does; another setting changes nothing.
func TestOrgRepointingBySettingsForgetsTheTokens(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t, sandbox.Options{})
	h.connect()
	same := h.d.conf().Integrations["docebo"]
	apply := func(settings map[string]string, etag string) {
		t.Helper()
		ic := same
		ic.Settings = settings
		if err := h.d.applyOrg(ctx, map[string]ManagedIntegration{"docebo": {IntegrationConfig: ic, Source: ManagedByStore}},
			map[string]string{"docebo": ""}, etag); err != nil {
			t.Fatal(err)
		}
	}
	apply(map[string]string{"groups": "sales"}, `"1"`)
	if _, _, err := h.d.vault.LoadToken(ctx, "docebo"); err != nil {
		t.Fatalf("a setting that sends nothing elsewhere forgot the token: %v", err)
	}
	apply(map[string]string{"groups": "sales", "identity_url": "https://identity.attacker.example"}, `"2"`)
	if _, _, err := h.d.vault.LoadToken(ctx, "docebo"); err == nil {
		t.Error("the token is still here, its refresh to be sent to identity.attacker.example")
	}
	if _, err := h.d.vault.GetSecret(secretName("docebo")); !errors.Is(err, keychain.ErrNotFound) {
		t.Errorf("the user's client secret would go to identity.attacker.example: %v", err)
	}
}
