package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/integrations/oidc/sandbox"
	"github.com/latchkey/latchkey/internal/testenv"
	"github.com/latchkey/latchkey/vault/storeserver"
	"github.com/latchkey/latchkey/vault/storeserver/storetest"
)

type login struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

type consoleDocebo struct {
	Domain      string `json:"domain"`
	ClientID    string `json:"clientID"`
	Secret      string `json:"secret"`
	DisplayName string `json:"displayName"`
	LogoURL     string `json:"logoURL"`
	WidgetTitle string `json:"widgetTitle"`
}

// consoleScenario is what console.spec.mjs drives (see its header).
type consoleScenario struct {
	Base   string        `json:"base"`
	Evil   string        `json:"evil"`
	Shots  string        `json:"shots"`
	Admin  login         `json:"admin"`
	User   login         `json:"user"`
	Docebo consoleDocebo `json:"docebo"`
}

// TestConsoleInChromium: an administrator signs in to latchkey-store's
// console through the OIDC sandbox, configures and enables Docebo with a
// display name, logo URL and widget title and sees it in the history; a
// cross-site form post and a non-administrator are refused. What the
// console saved is then what a device reads from /v1/org/integrations.
func TestConsoleInChromium(t *testing.T) {
	testenv.Require(t, testenv.Browser)
	idp, err := sandbox.Start("127.0.0.1:0", sandbox.Options{Clients: []sandbox.Client{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idp.Close() })

	dir := t.TempDir()
	const consoleSecret = "console-client-value-not-a-credential"
	keyFile, secretFile := storetest.ConsoleFiles(t, dir, consoleSecret)

	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- storeserver.Run(ctx, storeserver.Options{
			Listen: "127.0.0.1:0", DB: "sqlite://" + filepath.Join(dir, "store.db"),
			Issuer: idp.Issuer(), Audience: "latchkey-store", AdminClaim: "groups", AdminValue: "staff",
			SecretsKeyFile: keyFile, ConsoleClientID: "latchkey-console", ConsoleClientSecretFile: secretFile,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Ready: func(a net.Addr) { ready <- a.String() },
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("latchkey-store did not stop")
		}
	})
	var base string
	select {
	case a := <-ready:
		base = "http://" + a
	case err := <-done:
		t.Fatalf("latchkey-store: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("latchkey-store did not start")
	}
	if err := idp.SetClient(sandbox.Client{ID: "latchkey-console", Secret: consoleSecret, RedirectURIs: []string{base + "/admin/callback"}}); err != nil {
		t.Fatal(err)
	}

	// Another site (localhost is not 127.0.0.1's site) with a form that
	// posts the console's Disable.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>prize</title><form method="post" action="%s/admin/integrations/docebo">
<input type="hidden" name="action" value="disable"><input type="hidden" name="csrf" value="guess">
<button type="submit">Win a prize</button></form>`, html.EscapeString(base))
	}))
	t.Cleanup(evil.Close)
	_, port, _ := net.SplitHostPort(evil.Listener.Addr().String())

	d := consoleDocebo{Domain: "https://acme.docebosaas.com", ClientID: "workstation-docebo-acme", Secret: "ORG-SECRET-typed-in-chromium-41f",
		DisplayName: "Acme Learning", LogoURL: "https://cdn.acme.example/logo.png", WidgetTitle: "Acme courses"}
	var res struct{ Steps []string }
	runScript(t, "console.spec.mjs", consoleScenario{Base: base, Evil: "http://localhost:" + port + "/post", Shots: artifactsDir(t),
		Admin: login{"alice", "alice-password"}, User: login{"bob", "bob-password"}, Docebo: d}, &res)
	if len(res.Steps) < 8 {
		t.Fatalf("the spec ran only %q", res.Steps)
	}

	// A device of the organisation now gets what the administrator typed.
	tok, err := idp.Sign(map[string]any{"iss": idp.Issuer(), "sub": "u-bob-0002", "aud": "latchkey-store",
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", base+"/v1/org/integrations", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var org struct {
		Integrations []struct {
			Name         string `json:"name"`
			URL          string `json:"url"`
			ClientSecret string `json:"client_secret"`
			DisplayName  string `json:"display_name"`
			LogoURL      string `json:"logo_url"`
			WidgetTitle  string `json:"widget_title"`
		}
	}
	json.Unmarshal(body, &org)
	if resp.StatusCode != 200 || len(org.Integrations) != 1 {
		t.Fatalf("/v1/org/integrations: %d %s", resp.StatusCode, body)
	}
	got := org.Integrations[0]
	if got.Name != "docebo" || got.URL != d.Domain || got.ClientSecret != d.Secret || got.DisplayName != d.DisplayName ||
		got.LogoURL != d.LogoURL || got.WidgetTitle != d.WidgetTitle {
		t.Errorf("a device reads %+v", got)
	}
	if !strings.Contains(string(body), `"client_id":"workstation-docebo-acme"`) {
		t.Errorf("client_id: %s", body)
	}
}
