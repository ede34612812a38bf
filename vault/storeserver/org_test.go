package storeserver_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/latchkey/latchkey/vault/storeserver"
	"github.com/latchkey/latchkey/vault/storeserver/storetest"
)

// orgSecret is the client secret the tests configure; it must never appear
// in an admin answer, a log line or the database.
const orgSecret = "docebo-ORG-CLIENT-SECRET-5b1e9a"

var (
	secretsKeyA = bytes.Repeat([]byte{0xa1}, 32)
	secretsKeyB = bytes.Repeat([]byte{0xb2}, 32)
)

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.b.Bytes()...)
}

func keys(t testing.TB, raw ...[]byte) *storeserver.SecretsKeys {
	t.Helper()
	k, err := storeserver.NewSecretsKeys(raw...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// orgEnv is a server with a secrets key and a captured debug log.
func orgEnv(t *testing.T, b storeserver.Backend, sk *storeserver.SecretsKeys) (*env, *syncBuffer) {
	idp := storetest.NewIdP(t)
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := storetest.StartServerConfig(t, storeserver.Config{Backend: b, Verifier: storetest.Verifier(t, idp), Logger: log, Secrets: sk})
	return &env{t: t, idp: idp, b: b, srv: srv}, logs
}

func jsonBody(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func doceboConfig() map[string]any {
	return map[string]any{"enabled": true, "url": "https://acme.docebosaas.com", "client_id": "workstation-docebo-acme",
		"client_secret": orgSecret, "display_name": "Acme Learning", "logo_url": "https://cdn.acme.example/logo.png",
		"widget_title": "Acme courses", "settings": map[string]string{"region": "eu"}}
}

func testOrgIntegrations(t *testing.T, openBackend backendOpener) {
	b := openBackend(t)
	e, logs := orgEnv(t, b, keys(t, secretsKeyA))
	admin := e.idp.Token("root", storetest.Claims{Admin: true})
	user := e.idp.Token("alice", storetest.Claims{})
	var answers []string // every answer an administrator got

	// A non-admin token is refused on every admin route; no token at all too.
	for _, rt := range []struct{ method, path, body string }{
		{"GET", "/v1/admin/integrations", ""},
		{"GET", "/v1/admin/integrations/docebo", ""},
		{"PUT", "/v1/admin/integrations/docebo", jsonBody(doceboConfig())},
		{"DELETE", "/v1/admin/integrations/docebo", ""},
		{"GET", "/v1/admin/integrations/docebo/history", ""},
	} {
		if code, _, body := e.do(rt.method, rt.path, user, nil, rt.body); code != http.StatusForbidden || errCode(t, body) != "forbidden" {
			t.Errorf("%s %s as a user: %d %s, want 403", rt.method, rt.path, code, body)
		}
		if code, _, _ := e.do(rt.method, rt.path, "", nil, rt.body); code != http.StatusUnauthorized {
			t.Errorf("%s %s without a token: %d, want 401", rt.method, rt.path, code)
		}
	}
	if code, _, _ := e.do("GET", "/v1/org/integrations", "", nil, ""); code != http.StatusUnauthorized {
		t.Errorf("GET /v1/org/integrations without a token: %d, want 401", code)
	}

	// Nothing enabled yet: an empty list with an ETag.
	code, hdr, body := e.do("GET", "/v1/org/integrations", user, nil, "")
	if code != 200 || !strings.Contains(body, `"integrations":[]`) || hdr.Get("ETag") == "" {
		t.Fatalf("empty org list: %d %q etag %q", code, body, hdr.Get("ETag"))
	}
	emptyTag := hdr.Get("ETag")

	// Validation: clear errors, nothing stored.
	for _, c := range []struct {
		patch map[string]any
		field string
	}{
		{map[string]any{"url": "http://acme.docebosaas.com"}, "url"},
		{map[string]any{"url": "acme.docebosaas.com"}, "url"},
		{map[string]any{"client_id": ""}, "client_id"},
		{map[string]any{"client_secret": ""}, "client_secret"},
		{map[string]any{"logo_url": "javascript:alert(1)"}, "logo_url"},
		{map[string]any{"grant": "implicit"}, "grant"},
		// Settings are kept in clear: one named like a secret is refused.
		{map[string]any{"settings": map[string]string{"api_token": "a-setting-value"}}, "settings"},
	} {
		cfg := doceboConfig()
		for k, v := range c.patch {
			cfg[k] = v
		}
		code, _, body := e.do("PUT", "/v1/admin/integrations/docebo", admin, nil, jsonBody(cfg))
		answers = append(answers, body)
		var ve struct {
			Error struct {
				Code   string
				Fields []storeserver.FieldError
			}
		}
		json.Unmarshal([]byte(body), &ve)
		if code != http.StatusUnprocessableEntity || ve.Error.Code != "invalid" || len(ve.Error.Fields) != 1 || ve.Error.Fields[0].Field != c.field {
			t.Errorf("PUT with %v: %d %s, want 422 naming %s", c.patch, code, body, c.field)
		}
	}
	if code, _, body := e.do("GET", "/v1/admin/integrations/docebo", admin, nil, ""); code != http.StatusNotFound {
		t.Fatalf("an invalid PUT stored something: %d %s", code, body)
	}
	if code, _, body := e.do("PUT", "/v1/admin/integrations/docebo", admin, nil, `{"enabled": true, "colour": "red"}`); code != 400 || strings.Contains(body, "red") {
		t.Errorf("unknown field: %d %s", code, body)
	}

	// Create: the answer says a secret is set and never holds it.
	code, _, body = e.do("PUT", "/v1/admin/integrations/docebo", admin, nil, jsonBody(doceboConfig()))
	answers = append(answers, body)
	var got struct {
		storeserver.OrgIntegration
		ClientSecretSet bool `json:"client_secret_set"`
	}
	if err := json.Unmarshal([]byte(body), &got); code != 200 || err != nil {
		t.Fatalf("PUT docebo: %d %s", code, body)
	}
	if !got.ClientSecretSet || !got.Enabled || got.Version != 1 || got.DisplayName != "Acme Learning" || got.Grant != "authorization_code" || got.UpdatedBy != "root" {
		t.Errorf("PUT docebo answered %+v", got)
	}

	// A user of the organisation reads it, secret included (the device
	// runs the OAuth client with it); a second read with the ETag is 304.
	code, hdr, body = e.do("GET", "/v1/org/integrations", user, nil, "")
	var org struct {
		Integrations []map[string]any `json:"integrations"`
	}
	json.Unmarshal([]byte(body), &org)
	if code != 200 || len(org.Integrations) != 1 || org.Integrations[0]["client_secret"] != orgSecret ||
		org.Integrations[0]["widget_title"] != "Acme courses" || org.Integrations[0]["url"] != "https://acme.docebosaas.com" {
		t.Fatalf("org list: %d %s", code, body)
	}
	tag := hdr.Get("ETag")
	if tag == "" || tag == emptyTag {
		t.Fatalf("ETag %q did not change from %q", tag, emptyTag)
	}
	if code, _, body := e.do("GET", "/v1/org/integrations", user, map[string]string{"If-None-Match": tag}, ""); code != http.StatusNotModified || body != "" {
		t.Errorf("conditional GET: %d %q, want 304", code, body)
	}

	// Disable: {"enabled": false} alone keeps the rest; users no longer see it.
	code, _, body = e.do("PUT", "/v1/admin/integrations/docebo", admin, nil, `{"enabled": false}`)
	answers = append(answers, body)
	if code != 200 || !strings.Contains(body, `"client_secret_set":true`) || !strings.Contains(body, `"enabled":false`) || !strings.Contains(body, `"client_id":"workstation-docebo-acme"`) {
		t.Fatalf("disable: %d %s", code, body)
	}
	code, hdr, body = e.do("GET", "/v1/org/integrations", user, map[string]string{"If-None-Match": tag}, "")
	if code != 200 || !strings.Contains(body, `"integrations":[]`) || hdr.Get("ETag") == tag {
		t.Errorf("after disable, the old ETag: %d %s (etag %q)", code, body, hdr.Get("ETag"))
	}
	// Re-enable without sending the secret again: the sealed one is kept.
	if code, _, body := e.do("PUT", "/v1/admin/integrations/docebo", admin, nil, `{"enabled": true}`); code != 200 {
		t.Fatalf("re-enable: %d %s", code, body)
	}
	if _, _, body := e.do("GET", "/v1/org/integrations", user, nil, ""); !strings.Contains(body, orgSecret) {
		t.Errorf("re-enabled without a new secret: the old one is gone: %s", body)
	}

	// Lists and history, as an administrator.
	code, _, body = e.do("GET", "/v1/admin/integrations", admin, nil, "")
	answers = append(answers, body)
	if code != 200 || !strings.Contains(body, `"name":"docebo"`) {
		t.Errorf("admin list: %d %s", code, body)
	}
	code, _, body = e.do("GET", "/v1/admin/integrations/docebo/history", admin, nil, "")
	answers = append(answers, body)
	var hist struct{ Changes []storeserver.OrgChange }
	json.Unmarshal([]byte(body), &hist)
	if code != 200 || len(hist.Changes) != 3 {
		t.Fatalf("history: %d %s", code, body)
	}
	first := hist.Changes[2]
	if first.Action != "create" || first.Actor != "root" || !strings.Contains(strings.Join(first.Fields, ","), "client_secret") || first.At.IsZero() {
		t.Errorf("the create is audited as %+v", first)
	}
	if last := hist.Changes[0]; last.Action != "update" || strings.Join(last.Fields, ",") != "enabled" {
		t.Errorf("the re-enable is audited as %+v", last)
	}

	// Delete, audited; then 404.
	if code, _, _ := e.do("DELETE", "/v1/admin/integrations/docebo", admin, nil, ""); code != http.StatusNoContent {
		t.Fatalf("delete: %d", code)
	}
	if code, _, _ := e.do("DELETE", "/v1/admin/integrations/docebo", admin, nil, ""); code != http.StatusNotFound {
		t.Errorf("second delete: %d, want 404", code)
	}
	if h, _ := e.b.OrgHistory(t.Context(), "docebo", 10); len(h) != 4 || h[0].Action != "delete" || h[0].Actor != "root" {
		t.Errorf("the delete is not audited: %+v", h)
	}
	// Put it back so the database holds a sealed secret for the grep below.
	if code, _, body := e.do("PUT", "/v1/admin/integrations/docebo", admin, nil, jsonBody(doceboConfig())); code != 200 {
		t.Fatalf("PUT again: %d %s", code, body)
	}

	for _, a := range answers {
		if strings.Contains(a, orgSecret) {
			t.Errorf("an admin answer holds the client secret: %s", a)
		}
	}
	if l := logs.Bytes(); bytes.Contains(l, []byte(orgSecret)) || !bytes.Contains(l, []byte("org integration changed")) {
		t.Errorf("logs hold the secret, or no change was logged:\n%s", l)
	}
	for name, data := range orgDump(t, e.b) {
		if bytes.Contains(data, []byte(orgSecret)) || bytes.Contains(data, secretsKeyA) {
			t.Errorf("%s holds the client secret or the secrets key in clear", name)
		}
		if !bytes.Contains(data, []byte("workstation-docebo-acme")) {
			t.Errorf("%s does not hold the org integration: the dump is wrong", name)
		}
	}
}

// orgDump is what an attacker with the database alone would read.
func orgDump(t *testing.T, b storeserver.Backend) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	switch b := b.(type) {
	case interface{ Path() string }:
		var all []byte
		for _, suffix := range []string{"", "-wal"} {
			data, _ := os.ReadFile(b.Path() + suffix)
			all = append(all, data...)
		}
		out["sqlite file and WAL"] = all
	case *pgBackend:
		conn, err := pgx.Connect(t.Context(), b.dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(t.Context())
		var buf bytes.Buffer
		for _, table := range []string{"org_integrations", "org_integration_changes"} {
			if _, err := conn.PgConn().CopyTo(t.Context(), &buf, "COPY "+table+" TO STDOUT"); err != nil {
				t.Fatal(err)
			}
		}
		out["postgres tables"] = buf.Bytes()
	}
	return out
}

// testOrgWithoutSecretsKey: a store without a secrets key refuses a client
// secret with a clear error and stores nothing.
func testOrgWithoutSecretsKey(t *testing.T, openBackend backendOpener) {
	e, _ := orgEnv(t, openBackend(t), nil)
	admin := e.idp.Token("root", storetest.Claims{Admin: true})
	code, _, body := e.do("PUT", "/v1/admin/integrations/docebo", admin, nil, jsonBody(doceboConfig()))
	if code != http.StatusConflict || errCode(t, body) != "no_secrets_key" || !strings.Contains(body, "--secrets-key-file") {
		t.Fatalf("PUT with a secret and no key: %d %s", code, body)
	}
	if code, _, _ := e.do("GET", "/v1/admin/integrations/docebo", admin, nil, ""); code != http.StatusNotFound {
		t.Errorf("something was stored: %d", code)
	}
}

// testOrgKeyRotation: with a new key first in the file, Reseal re-seals
// every secret under it; the old key can then go.
func testOrgKeyRotation(t *testing.T, openBackend backendOpener) {
	b := openBackend(t)
	e, _ := orgEnv(t, b, keys(t, secretsKeyA))
	admin := e.idp.Token("root", storetest.Claims{Admin: true})
	if code, _, body := e.do("PUT", "/v1/admin/integrations/docebo", admin, nil, jsonBody(doceboConfig())); code != 200 {
		t.Fatalf("PUT: %d %s", code, body)
	}
	before, _ := b.GetOrgIntegration(t.Context(), "docebo")

	// Only the new key: the secret sealed under the old one does not open.
	e2, _ := orgEnv(t, b, keys(t, secretsKeyB))
	user := e2.idp.Token("alice", storetest.Claims{})
	if code, _, body := e2.do("GET", "/v1/org/integrations", user, nil, ""); code != 500 || strings.Contains(body, orgSecret) {
		t.Errorf("a secret under a key not in the file: %d %s", code, body)
	}

	rotated := storetest.StartServerConfig(t, storeserver.Config{Backend: b, Verifier: storetest.Verifier(t, e.idp), Logger: storetest.Quiet,
		Secrets: keys(t, secretsKeyB, secretsKeyA)})
	n, err := rotated.Store.Reseal(t.Context())
	if err != nil || n != 1 {
		t.Fatalf("Reseal: %d, %v", n, err)
	}
	if n, err := rotated.Store.Reseal(t.Context()); err != nil || n != 0 {
		t.Errorf("a second Reseal re-sealed %d (%v), want 0", n, err)
	}
	after, _ := b.GetOrgIntegration(t.Context(), "docebo")
	if after.SealedSecret == before.SealedSecret || after.Version != before.Version+1 {
		t.Errorf("not re-sealed: version %d → %d", before.Version, after.Version)
	}
	if h, _ := b.OrgHistory(t.Context(), "docebo", 1); len(h) != 1 || h[0].Fields[0] != "client_secret_key" {
		t.Errorf("the re-seal is not audited: %+v", h)
	}
	// Now the new key alone opens it.
	if code, _, body := e2.do("GET", "/v1/org/integrations", user, nil, ""); code != 200 || !strings.Contains(body, orgSecret) {
		t.Errorf("after the re-seal, the new key alone: %d %s", code, body)
	}
}

func TestSecretsKeyFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	line, err := storeserver.NewSecretsKeyLine()
	if err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good.key")
	os.WriteFile(good, []byte("# current first\n"+line+"\n\n"), 0o600)
	k, err := storeserver.LoadSecretsKeys(good)
	if err != nil || len(k.CurrentID()) != 16 {
		t.Fatalf("LoadSecretsKeys: %v", err)
	}
	sealed, err := k.Seal("docebo", orgSecret)
	if err != nil || strings.Contains(sealed, orgSecret) {
		t.Fatal(err)
	}
	if got, err := k.Open("docebo", sealed); err != nil || got != orgSecret {
		t.Errorf("Open: %q %v", got, err)
	}
	if _, err := k.Open("document360", sealed); err == nil {
		t.Error("a secret sealed for docebo opened as document360's")
	}
	loose := filepath.Join(dir, "loose.key")
	os.WriteFile(loose, []byte(line+"\n"), 0o644)
	if _, err := storeserver.LoadSecretsKeys(loose); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("a world-readable key file: %v", err)
	}
	bad := filepath.Join(dir, "bad.key")
	os.WriteFile(bad, []byte("not-a-key-SENSITIVE\n"), 0o600)
	if _, err := storeserver.LoadSecretsKeys(bad); err == nil || strings.Contains(err.Error(), "SENSITIVE") {
		t.Errorf("a malformed key file: %v (must not echo the line)", err)
	}
	if _, err := storeserver.LoadSecretsKeys(filepath.Join(dir, "none")); err == nil {
		t.Error("a missing key file loaded")
	}
}
