package injector

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// The menu's session header and code exchange, spelled out (not the
// package's constants) so that this file states the wire contract.
const (
	wireSessionHeader = "X-Latchkey-Session"
	wireSessionPath   = "/menu/session"
)

// menuBrowser is the user's browser with the menu open in one tab: a cookie
// jar that, like a browser, ignores ports, and what the menu page holds.
type menuBrowser struct {
	e       *env
	client  *http.Client
	menuURL string
	session string // the secret the page keeps in sessionStorage, if any
}

// openMenu opens a menu session exactly as the browser and the menu page
// do: GET the menu URL (a fragment is not sent), then, when the URL carries
// its code in the fragment, POST it from the page's origin (app.js,
// startSession) and keep the secret it answers.
func (e *env) openMenu() *menuBrowser {
	e.t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	b := &menuBrowser{e: e, menuURL: e.srv.NewMenuCode(), client: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	u, err := url.Parse(b.menuURL)
	if err != nil || u.Host != e.addr || u.Path != "/menu" {
		e.t.Fatalf("menu URL %q", b.menuURL)
	}
	e.secrets = append(e.secrets, u.Query().Get("code"), strings.TrimPrefix(u.Fragment, "code="))
	resp, err := b.client.Get(b.menuURL)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusSeeOther { // a server-side exchange: the browser follows it
		if resp, err = b.client.Get(e.base + resp.Header.Get("Location")); err != nil {
			e.t.Fatal(err)
		}
		resp.Body.Close()
	}
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("GET %s: %d", u.Path, resp.StatusCode)
	}
	if code, ok := strings.CutPrefix(u.Fragment, "code="); ok {
		req, _ := http.NewRequest("POST", e.base+wireSessionPath, strings.NewReader(`{"code":"`+code+`"}`))
		req.Header.Set("Origin", e.base)
		req.Header.Set("Content-Type", "application/json")
		resp, err := b.client.Do(req)
		if err != nil {
			e.t.Fatal(err)
		}
		var got struct {
			Session   string `json:"session"`
			ExpiresIn int    `json:"expires_in"`
		}
		err = json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if resp.StatusCode != 200 || err != nil || got.Session == "" || got.ExpiresIn <= 0 {
			e.t.Fatalf("code exchange: %d %v %+v", resp.StatusCode, err, got.ExpiresIn)
		}
		b.session = got.Session
		e.secrets = append(e.secrets, got.Session)
	}
	return b
}

// do sends a request from the menu page: its cookies, its session header,
// and (on a state-changing request, as a browser does) its Origin.
func (b *menuBrowser) do(method, path string) (*http.Response, string) {
	b.e.t.Helper()
	req, _ := http.NewRequest(method, b.e.base+path, nil)
	req.Header.Set("Accept", "application/json")
	if method != "GET" && method != "HEAD" {
		req.Header.Set("Origin", b.e.base)
	}
	if b.session != "" {
		req.Header.Set(wireSessionHeader, b.session)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

// menuRoutes are every route a menu session reaches, with what the menu
// page gets on it.
var menuRoutes = []struct {
	method, path string
	want         int
}{
	{"GET", "/v1/status", 200},
	{"GET", "/v1/courses", 200},
	{"GET", "/v1/courses/docebo/c1/thumbnail", 404}, // reached, but c1 has no thumbnail
	{"GET", "/v1/search?q=go", 200},
	{"GET", "/v1/open/lms/42", 200}, // Accept: application/json → {"url": the signed-in link}
	{"POST", "/v1/integrations/document360/widget-token", 200},
	{"POST", "/v1/integrations/docebo/connect", 200},
	{"DELETE", "/v1/integrations/docebo", 200},
}

func withSignIn(e *env) {
	base, _ := url.Parse("https://lms.example")
	e.be.mu.Lock()
	e.be.conns = append(e.be.conns, ConnectedIntegration{Integration: signInInteg{&integ{name: "lms", base: base}}, Tokens: &tokens{cur: "lms-token"}})
	e.be.mu.Unlock()
	e.secrets = append(e.secrets, "short-lived-XYZ")
}

// TestMenuSessionNotReplayableFromAnotherPort: a program listening on
// another 127.0.0.1 port gets what the browser sends there (every cookie
// of the host, since cookies are not scoped by port; a Referer; the URL of
// the menu, say from a log) and forges the menu's Origin from a non-browser
// client. None of it reaches a menu route, and the captured code is spent.
func TestMenuSessionNotReplayableFromAnotherPort(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	withSignIn(e)
	b := e.openMenu()

	// The menu page itself reaches every route (so the refusals below are
	// about the replay, not the route).
	for _, rt := range menuRoutes {
		if rt.method == "DELETE" {
			continue // done last, below
		}
		if resp, body := b.do(rt.method, rt.path); resp.StatusCode != rt.want {
			t.Fatalf("menu page %s %s: %d %s", rt.method, rt.path, resp.StatusCode, body)
		}
	}

	// What the other port receives when the browser is sent there (a
	// navigation, or an <img> the upstream pointed at it).
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer other.Close()
	otherURL, _ := url.Parse(other.URL)
	var cookies []string
	for _, c := range b.client.Jar.Cookies(otherURL) {
		cookies = append(cookies, c.Name+"="+c.Value)
	}
	mu, _ := url.Parse(b.menuURL)
	codes := []string{mu.Query().Get("code"), strings.TrimPrefix(mu.Fragment, "code=")}

	attacker := noRedirect
	replay := func(method, path string, extra map[string]string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, e.base+path, nil)
		req.Header.Set("Origin", e.base) // forged: a non-browser client sends any Origin
		req.Header.Set("Referer", b.menuURL)
		req.Header.Set("Accept", "application/json")
		if len(cookies) > 0 {
			req.Header.Set("Cookie", strings.Join(cookies, "; "))
		}
		for k, v := range extra {
			req.Header.Set(k, v)
		}
		resp, err := attacker.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	for _, rt := range menuRoutes {
		tries := []map[string]string{nil}
		for _, c := range codes {
			if c != "" { // the code passed off as the session
				tries = append(tries, map[string]string{wireSessionHeader: c})
			}
		}
		for _, extra := range tries {
			if resp := replay(rt.method, rt.path, extra); resp.StatusCode != 401 && resp.StatusCode != 403 {
				t.Errorf("replayed from another port: %s %s answered %d, want 401 or 403", rt.method, rt.path, resp.StatusCode)
			}
		}
	}
	// The captured code opens no second session, however it is presented.
	for _, c := range codes {
		if c == "" {
			continue
		}
		jar, _ := cookiejar.New(nil)
		fresh := &http.Client{Jar: jar, CheckRedirect: noRedirect.CheckRedirect}
		resp, err := fresh.Get(e.base + "/menu?code=" + url.QueryEscape(c))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if len(jar.Cookies(otherURL)) > 0 || resp.StatusCode < 400 {
			t.Errorf("GET /menu?code=<captured>: %d, cookies %d", resp.StatusCode, len(jar.Cookies(otherURL)))
		}
		req, _ := http.NewRequest("POST", e.base+wireSessionPath, strings.NewReader(`{"code":"`+c+`"}`))
		req.Header.Set("Origin", e.base)
		req.Header.Set("Content-Type", "application/json")
		resp, err = attacker.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 && resp.StatusCode != 404 && resp.StatusCode != 405 {
			t.Errorf("POST %s with the captured code: %d, want a refusal", wireSessionPath, resp.StatusCode)
		}
	}
	// And the menu page's own session still works.
	if resp, body := b.do("DELETE", "/v1/integrations/docebo"); resp.StatusCode != 200 {
		t.Fatalf("menu page DELETE: %d %s", resp.StatusCode, body)
	}
}
