package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/integrations/oidc/sandbox"
	"github.com/latchkey/latchkey/vault/storeserver/storetest"
)

const (
	consoleClientID     = "latchkey-console"
	consoleClientSecret = "console-client-value-not-a-credential"
	consoleOrgSecret    = "ORG-DOCEBO-SECRET-typed-in-the-console"
)

// consoleStack is latchkey-store serving the console, signing in through
// the OIDC sandbox (alice is in group staff, which marks administrators;
// bob is not).
type consoleStack struct {
	t    *testing.T
	base string
	db   string
	idp  *sandbox.Provider
}

func startConsole(t *testing.T) *consoleStack {
	t.Helper()
	idp, err := sandbox.Start("127.0.0.1:0", sandbox.Options{Clients: []sandbox.Client{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idp.Close() })
	dir := t.TempDir()
	keyFile, secretFile := storetest.ConsoleFiles(t, dir, consoleClientSecret)
	db := filepath.Join(dir, "store.db")
	addr := serve(t, "--listen", "127.0.0.1:0", "--db", "sqlite://"+db, "--issuer", idp.Issuer(), "--audience", "latchkey-store",
		"--admin-claim", "groups", "--admin-value", "staff", "--secrets-key-file", keyFile,
		"--console-client-id", consoleClientID, "--console-client-secret-file", secretFile)
	base := "http://" + addr
	if err := idp.SetClient(sandbox.Client{ID: consoleClientID, Secret: consoleClientSecret, RedirectURIs: []string{base + "/admin/callback"}}); err != nil {
		t.Fatal(err)
	}
	return &consoleStack{t: t, base: base, db: db, idp: idp}
}

// browser is an HTTP client with a cookie jar that follows redirects.
func browser(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar}
}

func get(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func post(t *testing.T, c *http.Client, u string, form url.Values, hdr map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var (
	authRequestRE = regexp.MustCompile(`name="authRequestID" value="([^"]+)"`)
	csrfRE        = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
)

// signIn walks the console's sign-in through the sandbox's login form and
// returns the status and page the console answered.
func (s *consoleStack) signIn(c *http.Client, user, password string) (int, string) {
	s.t.Helper()
	code, body := get(s.t, c, s.base+"/admin/login")
	m := authRequestRE.FindStringSubmatch(body)
	if code != 200 || m == nil {
		s.t.Fatalf("sign-in did not reach the provider's login form: %d %s", code, body)
	}
	return post(s.t, c, s.idp.Issuer()+"/login", url.Values{"authRequestID": {m[1]}, "username": {user}, "password": {password}}, nil)
}

func TestConsoleAdministratorConfiguresDocebo(t *testing.T) {
	t.Parallel()
	s := startConsole(t)
	c := browser(t)
	if code, body := get(t, c, s.base+"/admin/"); code != 200 || !strings.Contains(body, "Sign in with your organisation") {
		t.Fatalf("signed out /admin/: %d %s", code, body)
	}
	code, body := s.signIn(c, "alice", "alice-password")
	if code != 200 || !strings.Contains(body, `http-equiv="refresh"`) {
		t.Fatalf("callback: %d %s", code, body)
	}
	last := s.idp.LastAuthRequest()
	if last.CodeChallengeMethod != "S256" || last.State == "" || last.Nonce == "" {
		t.Errorf("the console's authorization request: %+v, want PKCE S256, state and nonce", last)
	}
	u, _ := url.Parse(s.base + "/admin/")
	for _, ck := range c.Jar.Cookies(u) {
		if strings.Contains(ck.Value, "alice") {
			t.Errorf("cookie %s holds the user in clear", ck.Name)
		}
	}
	code, body = get(t, c, s.base+"/admin/")
	if code != 200 || !strings.Contains(body, `data-integration="docebo"`) || !strings.Contains(body, `data-integration="document360"`) || !strings.Contains(body, "Not configured") {
		t.Fatalf("integrations page: %d %s", code, body)
	}
	code, body = get(t, c, s.base+"/admin/integrations/docebo")
	m := csrfRE.FindStringSubmatch(body)
	if code != 200 || m == nil {
		t.Fatalf("configure page: %d %s", code, body)
	}
	csrf := m[1]
	form := url.Values{"csrf": {csrf}, "action": {"enable"}, "client_id": {"workstation-docebo-acme"}, "client_secret": {consoleOrgSecret},
		"url": {"http://acme.docebosaas.com"}, "display_name": {"Acme Learning"}, "logo_url": {"https://cdn.acme.example/logo.png"}, "widget_title": {"Acme courses"}}

	// A domain that is not https: a clear error, the typed values kept, never the secret.
	code, body = post(t, c, s.base+"/admin/integrations/docebo", form, nil)
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, "must be an https:// URL") || strings.Contains(body, consoleOrgSecret) || !strings.Contains(body, "Acme Learning") {
		t.Fatalf("http domain: %d %s", code, body)
	}
	form.Set("url", "https://acme.docebosaas.com")
	form.Set("client_id", "")
	if code, body = post(t, c, s.base+"/admin/integrations/docebo", form, nil); code != 422 || !strings.Contains(body, "client ID is required") {
		t.Fatalf("missing client id: %d %s", code, body)
	}
	form.Set("client_id", "workstation-docebo-acme")

	// Cross-site and forged posts change nothing.
	if code, body = post(t, c, s.base+"/admin/integrations/docebo", form, map[string]string{"Origin": "http://evil.example"}); code != 403 || !strings.Contains(body, "another site") {
		t.Errorf("foreign Origin: %d %s", code, body)
	}
	forged := url.Values{}
	for k, v := range form {
		forged[k] = v
	}
	forged.Set("csrf", "forged")
	if code, _ = post(t, c, s.base+"/admin/integrations/docebo", forged, nil); code != 403 {
		t.Errorf("forged CSRF token: %d", code)
	}
	if code, _ = post(t, browser(t), s.base+"/admin/integrations/docebo", form, nil); code != 403 {
		t.Errorf("no session: %d", code)
	}

	code, body = post(t, c, s.base+"/admin/integrations/docebo", form, map[string]string{"Origin": s.base})
	if code != 200 || !strings.Contains(body, "saved and enabled") || !strings.Contains(body, `data-testid="secret-set"`) || strings.Contains(body, consoleOrgSecret) {
		t.Fatalf("save and enable: %d %s", code, body)
	}
	if !regexp.MustCompile(`<td>u-alice-0001</td><td>create</td><td>[^<]*display_name[^<]*client_secret`).MatchString(body) {
		t.Errorf("the history does not show the change: %s", body)
	}
	form.Set("action", "disable")
	if code, body = post(t, c, s.base+"/admin/integrations/docebo", form, nil); code != 200 || !strings.Contains(body, "is disabled") {
		t.Fatalf("disable: %d %s", code, body)
	}
	data, _ := os.ReadFile(s.db)
	wal, _ := os.ReadFile(s.db + "-wal")
	if all := append(data, wal...); strings.Contains(string(all), consoleOrgSecret) || !strings.Contains(string(all), "workstation-docebo-acme") {
		t.Error("the database holds the secret in clear, or not the integration")
	}

	// Sign out: the session is gone.
	post(t, c, s.base+"/admin/logout", url.Values{"csrf": {csrf}}, nil)
	if code, body = get(t, c, s.base+"/admin/"); !strings.Contains(body, "Sign in with your organisation") {
		t.Errorf("after sign-out: %d %s", code, body)
	}
}

func TestConsoleRefusesNonAdministrator(t *testing.T) {
	t.Parallel()
	s := startConsole(t)
	c := browser(t)
	code, body := s.signIn(c, "bob", "bob-password")
	if code != http.StatusForbidden || !strings.Contains(body, "not an administrator") {
		t.Fatalf("bob's sign-in: %d %s", code, body)
	}
	if code, body = get(t, c, s.base+"/admin/"); !strings.Contains(body, "Sign in with your organisation") {
		t.Errorf("bob has a session: %d %s", code, body)
	}
	if code, _ := get(t, c, s.base+"/admin/integrations/docebo"); code != 200 {
		t.Errorf("configure page signed out: %d (want the redirect to the sign-in page)", code)
	}
}

func TestConsoleCallbackChecksState(t *testing.T) {
	t.Parallel()
	s := startConsole(t)
	c := browser(t)
	get(t, c, s.base+"/admin/login") // sets the sign-in cookie, state unknown to us
	code, body := get(t, c, s.base+"/admin/callback?code=x&state=made-up")
	if code != http.StatusBadRequest || !strings.Contains(body, "state") {
		t.Errorf("a made-up state: %d %s", code, body)
	}
	code, _ = get(t, browser(t), s.base+"/admin/callback?code=x&state=y")
	if code != http.StatusBadRequest {
		t.Errorf("a callback without a sign-in: %d", code)
	}
}
