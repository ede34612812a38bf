package injector

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/integrations"
)

func TestProxyInjects(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tok := e.mint("docebo")
	resp, body := e.do("GET", "/v1/proxy/docebo/api/items?page=2", tok, map[string]string{
		"Cookie":              "menu=abc",
		"X-Forwarded-For":     "6.6.6.6",
		"X_Forwarded_Host":    "evil.example",
		"x-forwarded-proto":   "https",
		"Forwarded":           "for=6.6.6.6",
		"X-Real-Ip":           "6.6.6.6",
		"Proxy-Authorization": "Basic eDp5",
		"Connection":          "X-Drop-Me",
		"X-Drop-Me":           "1",
		"X-Custom":            "kept",
		"Accept":              "application/json",
	}, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	got := e.up.all()
	if len(got) != 1 {
		t.Fatalf("upstream saw %d requests", len(got))
	}
	r := got[0]
	if r.Path != "/base/api/items" || r.Query != "page=2" {
		t.Fatalf("upstream path %q query %q", r.Path, r.Query)
	}
	if a := r.Header.Get("Authorization"); a != "Bearer "+e.tk.cur {
		t.Fatalf("upstream Authorization = %q", a)
	}
	for k := range r.Header {
		lk := strings.ToLower(strings.ReplaceAll(k, "_", "-"))
		switch {
		case lk == "cookie", strings.HasPrefix(lk, "x-forwarded"), lk == "forwarded", lk == "x-real-ip",
			lk == "proxy-authorization", lk == "x-drop-me":
			t.Errorf("caller header %s reached the upstream", k)
		}
	}
	if r.Header.Get("X-Custom") != "kept" || r.Header.Get("Accept") != "application/json" {
		t.Errorf("ordinary headers not forwarded: %v", r.Header)
	}
	if strings.Contains(fmt.Sprint(r.Header), tok) {
		t.Error("the caller's JWT reached the upstream")
	}
	if resp.Header.Get("X-Frame-Options") != "DENY" || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "sandbox") ||
		resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("security headers missing: %v", resp.Header)
	}

	// Set-Cookie and the upstream's framing/CORS headers are not passed back.
	resp, _ = e.do("GET", "/v1/proxy/docebo/api/setcookie", tok, nil, nil)
	if resp.StatusCode != 200 || len(resp.Header.Values("Set-Cookie")) != 0 ||
		resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("status %d, headers %v", resp.StatusCode, resp.Header)
	}

	// A same-origin redirect is rewritten to the proxy path, not followed.
	n := e.up.count()
	resp, _ = e.do("GET", "/v1/proxy/docebo/api/redirect-same", tok, nil, nil)
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/v1/proxy/docebo/api/echo?x=1" {
		t.Fatalf("redirect: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if e.up.count() != n+1 {
		t.Fatal("the injector followed a redirect")
	}

	// 429 passes Retry-After back.
	resp, _ = e.do("GET", "/v1/proxy/docebo/api/ratelimit", tok, nil, nil)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "7" {
		t.Fatalf("rate limit: %d %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}

	// POST body forwarded.
	resp, _ = e.do("POST", "/v1/proxy/docebo/api/items", tok, map[string]string{"Content-Type": "application/json"}, strings.NewReader(`{"a":1}`))
	if resp.StatusCode != 200 {
		t.Fatalf("post: %d", resp.StatusCode)
	}
	all := e.up.all()
	if last := all[len(all)-1]; last.Body != `{"a":1}` || last.Method != "POST" {
		t.Fatalf("post arrived as %+v", last)
	}

	// Audit: every proxied call, path without query, caller sub, no token;
	// FlushAudit hands over what the writer has not yet (it waits up to
	// auditGather for more).
	e.srv.FlushAudit()
	var found bool
	for _, a := range e.be.audits() {
		if a.Integration == "docebo" && a.Path == "/api/items" && a.Method == "GET" && a.Status == 200 && a.Caller == "alice" {
			found = true
		}
		if strings.Contains(a.Path, "?") {
			t.Errorf("audit path with query: %q", a.Path)
		}
	}
	if !found {
		t.Fatalf("no audit entry for the proxied call: %+v", e.be.audits())
	}
}

func TestRefreshOn401(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tok := e.mint("*")
	resp, body := e.do("POST", "/v1/proxy/docebo/api/strict", tok, nil, strings.NewReader("payload"))
	if resp.StatusCode != 200 || !strings.Contains(body, "refreshed") {
		t.Fatalf("status %d body %s", resp.StatusCode, body)
	}
	if e.tk.refreshes.Load() != 1 {
		t.Fatalf("refreshes = %d", e.tk.refreshes.Load())
	}
	reqs := e.up.all()
	if len(reqs) != 2 || reqs[1].Body != "payload" {
		t.Fatalf("retry did not replay the body: %+v", reqs)
	}
	e.secrets = append(e.secrets, e.tk.cur)
}

// TestRefusals: each row is a request that must be refused, with no token
// opened, nothing reaching the upstream, and nothing reaching the other host.
func TestRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.AllowedOrigins = []string{"https://app.example"} })
	good := e.mint("docebo")
	scoped360 := e.mint("document360")
	_, port, _ := strings.Cut(e.addr, ":")
	host := "Host: " + e.addr + "\r\n"
	authz := "Authorization: Bearer " + good + "\r\n"

	expired := func() string {
		e.issuer.SetClock(func() time.Time { return time.Now().Add(-2 * time.Hour) })
		defer e.issuer.SetClock(time.Now)
		return e.mint("*")
	}()
	parts := strings.Split(good, ".")
	badSig := parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))
	algNone := b64(`{"alg":"none","typ":"JWT"}`) + "." + parts[1] + "."
	hs := hs256(t, parts[1], []byte(e.issuer.PublicKey()))
	otherIssuer := mintOther(t, "latchkey", "latchkey-injector")
	wrongAud := mintWith(t, e.issuer, "latchkey", "someone-else")
	wrongIss := mintWith(t, e.issuer, "not-latchkey", "latchkey-injector")

	rows := []struct {
		name   string
		req    string
		status int
	}{
		{"no token", "GET /v1/proxy/docebo/api/x HTTP/1.1\r\n" + host + "\r\n", 401},
		{"bad signature", "GET /v1/proxy/docebo/api/x HTTP/1.1\r\n" + host + "Authorization: Bearer " + badSig + "\r\n\r\n", 401},
		{"alg none", "GET /v1/proxy/docebo/api/x HTTP/1.1\r\n" + host + "Authorization: Bearer " + algNone + "\r\n\r\n", 401},
		{"HS256 with the public key", "GET /v1/proxy/docebo/api/x HTTP/1.1\r\n" + host + "Authorization: Bearer " + hs + "\r\n\r\n", 401},
		{"another key", "GET /v1/proxy/docebo/api/x HTTP/1.1\r\n" + host + "Authorization: Bearer " + otherIssuer + "\r\n\r\n", 401},
		{"expired", "GET /v1/proxy/docebo/api/x HTTP/1.1\r\n" + host + "Authorization: Bearer " + expired + "\r\n\r\n", 401},
		{"wrong aud", "GET /v1/proxy/docebo/api/x HTTP/1.1\r\n" + host + "Authorization: Bearer " + wrongAud + "\r\n\r\n", 401},
		{"wrong iss", "GET /v1/proxy/docebo/api/x HTTP/1.1\r\n" + host + "Authorization: Bearer " + wrongIss + "\r\n\r\n", 401},
		{"wrong scope", "GET /v1/proxy/docebo/api/x HTTP/1.1\r\n" + host + "Authorization: Bearer " + scoped360 + "\r\n\r\n", 403},
		{"wrong scope search of docebo via document360 token", "GET /v1/proxy/docebo/api/x HTTP/1.1\r\n" + host + "Authorization: Bearer " + scoped360 + "\r\n\r\n", 403},
		{"foreign Host", "GET /v1/proxy/docebo/api/x HTTP/1.1\r\nHost: evil.example:" + port + "\r\n" + authz + "\r\n", 421},
		{"rebinding name on our port", "GET /v1/status HTTP/1.1\r\nHost: attacker.localhost.example:" + port + "\r\n" + authz + "\r\n", 421},
		{"Host wrong port", "GET /v1/proxy/docebo/api/x HTTP/1.1\r\nHost: 127.0.0.1:1\r\n" + authz + "\r\n", 421},
		{"foreign Origin", "GET /v1/proxy/docebo/api/x HTTP/1.1\r\n" + host + authz + "Origin: https://evil.example\r\n\r\n", 403},
		{"null Origin", "GET /v1/status HTTP/1.1\r\n" + host + authz + "Origin: null\r\n\r\n", 403},
		{"absolute URI", "GET http://" + e.addr + "/v1/proxy/docebo/api/x HTTP/1.1\r\n" + host + authz + "\r\n", 400},
		{"absolute URI to other host", "GET " + e.other.srv.URL + "/steal HTTP/1.1\r\n" + host + authz + "\r\n", 400},
		{"CONNECT", "CONNECT " + strings.TrimPrefix(e.other.srv.URL, "http://") + " HTTP/1.1\r\n" + host + authz + "\r\n", 400},
		{"traversal", "GET /v1/proxy/docebo/../../steal HTTP/1.1\r\n" + host + authz + "\r\n", 400},
		{"traversal inside", "GET /v1/proxy/docebo/api/../../../x HTTP/1.1\r\n" + host + authz + "\r\n", 400},
		{"encoded dots", "GET /v1/proxy/docebo/%2e%2e/%2E%2E/x HTTP/1.1\r\n" + host + authz + "\r\n", 400},
		{"encoded slash", "GET /v1/proxy/docebo/api%2f..%2f..%2fx HTTP/1.1\r\n" + host + authz + "\r\n", 400},
		{"encoded backslash", "GET /v1/proxy/docebo/api%5c..%5cx HTTP/1.1\r\n" + host + authz + "\r\n", 400},
		{"backslash", "GET /v1/proxy/docebo/api\\..\\x HTTP/1.1\r\n" + host + authz + "\r\n", 400},
		{"double encoding", "GET /v1/proxy/docebo/%252e%252e/x HTTP/1.1\r\n" + host + authz + "\r\n", 400},
		{"double slash", "GET /v1/proxy/docebo//" + strings.TrimPrefix(e.other.srv.URL, "http://") + "/steal HTTP/1.1\r\n" + host + authz + "\r\n", 400},
		{"userinfo", "GET /v1/proxy/docebo/@" + strings.TrimPrefix(e.other.srv.URL, "http://") + "/steal HTTP/1.1\r\n" + host + authz + "\r\n", 400},
		{"encoded at", "GET /v1/proxy/docebo/x%40evil.example/y HTTP/1.1\r\n" + host + authz + "\r\n", 400},
		{"unknown integration", "GET /v1/proxy/evil/x HTTP/1.1\r\n" + host + "Authorization: Bearer " + e.mint("*") + "\r\n\r\n", 404},
		{"integration name trick", "GET /v1/proxy/%64ocebo/x HTTP/1.1\r\n" + host + "Authorization: Bearer " + e.mint("*") + "\r\n\r\n", 404},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			gets, ups, others := e.tk.gets.Load(), e.up.count(), e.other.count()
			resp, body := e.raw(r.req)
			if resp.StatusCode != r.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, r.status, body)
			}
			if r.status == 401 && resp.Header.Get("WWW-Authenticate") != `Bearer error="invalid_token"` {
				t.Errorf("WWW-Authenticate = %q", resp.Header.Get("WWW-Authenticate"))
			}
			var eb struct{ Error apiError }
			if err := json.Unmarshal([]byte(body), &eb); err != nil || eb.Error.Code == "" {
				t.Errorf("not a JSON error: %s", body)
			}
			if e.tk.gets.Load() != gets {
				t.Error("the token was opened for a refused request")
			}
			if e.up.count() != ups || e.other.count() != others {
				t.Error("a refused request reached an upstream")
			}
		})
	}

	// A redirect to another host: followed by the caller's own client, the
	// other host never sees the integration token (checked at that host).
	follow := &http.Client{}
	req, _ := http.NewRequest("GET", e.base+"/v1/proxy/docebo/api/redirect-other", nil)
	req.Header.Set("Authorization", "Bearer "+good)
	resp, err := follow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	seen := e.other.all()
	if len(seen) != 1 || seen[0].Path != "/steal" {
		t.Fatalf("the other host saw %+v (the redirect should have been passed to the caller)", seen)
	}
	for _, r := range seen {
		for _, s := range e.secrets[:3] {
			if strings.Contains(fmt.Sprint(r.Header)+r.Query+r.Path+r.Body, s) {
				t.Fatal("the integration token reached the other host")
			}
		}
	}

	// An allowed origin gets CORS; the listener's own origin is fine too.
	resp, _ = e.do("GET", "/v1/status", good, map[string]string{"Origin": "https://app.example"}, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Fatalf("allowed origin: %d %v", resp.StatusCode, resp.Header)
	}
	resp, _ = e.do("GET", "/v1/status", good, map[string]string{"Origin": "http://" + e.addr}, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("own origin: %d %v", resp.StatusCode, resp.Header)
	}
	resp, _ = e.do("GET", "/v1/status", good, map[string]string{"Host": "localhost:" + port}, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("localhost Host refused: %d", resp.StatusCode)
	}
}

func TestRoutes(t *testing.T) {
	e := newEnv(t)
	all := e.mint("*")
	resp, body := e.do("GET", "/healthz", "", nil, nil)
	if resp.StatusCode != 200 || !strings.Contains(body, "ok") {
		t.Fatalf("healthz %d %s", resp.StatusCode, body)
	}
	resp, body = e.do("GET", "/v1/status", all, nil, nil)
	if resp.StatusCode != 200 || !strings.Contains(body, `"key_id"`) || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("status %d %s", resp.StatusCode, body)
	}
	resp, _ = e.do("GET", "/v1/status", "", nil, nil)
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `Bearer error="invalid_token"` {
		t.Fatalf("status without token: %d", resp.StatusCode)
	}

	// Courses: in progress first (most progress first), then not started,
	// then completed.
	resp, body = e.do("GET", "/v1/courses", all, nil, nil)
	var cr CoursesResponse
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &cr) != nil {
		t.Fatalf("courses %d %s", resp.StatusCode, body)
	}
	var ids []string
	for _, c := range cr.Items {
		ids = append(ids, c.ID)
		if c.Integration != "docebo" {
			t.Errorf("course integration = %q", c.Integration)
		}
	}
	if strings.Join(ids, ",") != "c2,c4,c3,c1" {
		t.Fatalf("course order %v", ids)
	}
	// A token scoped to document360 sees no docebo courses.
	_, body = e.do("GET", "/v1/courses", e.mint("document360"), nil, nil)
	if strings.Contains(body, "c2") {
		t.Fatal("scoped token got another integration's courses")
	}

	// Connect / disconnect.
	resp, body = e.do("POST", "/v1/integrations/docebo/connect", all, nil, nil)
	if resp.StatusCode != 200 || !strings.Contains(body, `"url":"https://provider.example/oauth2/authorize`) {
		t.Fatalf("connect %d %s", resp.StatusCode, body)
	}
	resp, _ = e.do("POST", "/v1/integrations/docebo/connect", e.mint("document360"), nil, nil)
	if resp.StatusCode != 403 {
		t.Fatalf("connect out of scope: %d", resp.StatusCode)
	}
	resp, body = e.do("DELETE", "/v1/integrations/docebo", all, nil, nil)
	if resp.StatusCode != 200 || !strings.Contains(body, "disconnected") {
		t.Fatalf("disconnect %d %s", resp.StatusCode, body)
	}

	// OAuth redirect: no auth, state is the backend's check.
	resp, body = e.do("GET", "/docebo/connected?state=good-state&code=the-code-XYZ", "", nil, nil)
	if resp.StatusCode != 200 || !strings.Contains(body, "You can close this tab") || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("connected %d %s", resp.StatusCode, body)
	}
	// Styled like the menu, named for people, with a link that opens the menu.
	if !strings.Contains(body, `<link rel="stylesheet" href="/menu/style.css">`) || !strings.Contains(body, "<h1>Docebo is connected</h1>") ||
		!strings.Contains(body, `href="http://`+e.addr+`/menu#code=`) {
		t.Fatalf("connected page is not the menu's style, or has no way back to the menu: %s", body)
	}
	resp, body = e.do("GET", "/docebo/connected?state=bad&code=the-code-XYZ", "", nil, nil)
	if resp.StatusCode != 400 || !strings.Contains(body, "state does not match") {
		t.Fatalf("connected bad state %d %s", resp.StatusCode, body)
	}
	// Anyone can load a redirect with a made-up state: that page opens no menu session.
	if strings.Contains(body, "#code=") || !strings.Contains(body, "has expired") || !strings.Contains(body, "latchkey menu") {
		t.Fatalf("the expired-link page: %s", body)
	}
	resp, body = e.do("GET", "/docebo/connected?state=good-state&error=access_denied", "", nil, nil)
	if resp.StatusCode != 400 || !strings.Contains(body, "Docebo did not give latchkey access") || !strings.Contains(body, "/menu#code=") {
		t.Fatalf("denied consent %d %s", resp.StatusCode, body)
	}
	e.secrets = append(e.secrets, "the-code-XYZ")

	// Widget token: menu session only.
	resp, _ = e.do("POST", "/v1/integrations/document360/widget-token", all, nil, nil)
	if resp.StatusCode != 403 {
		t.Fatalf("widget token with a JWT: %d", resp.StatusCode)
	}
	sess := e.openMenu().session
	resp, body = e.do("POST", "/v1/integrations/document360/widget-token", "", map[string]string{MenuSessionHeader: sess, "Origin": "http://" + e.addr}, nil)
	if resp.StatusCode != 200 || !strings.Contains(body, `"accessToken":"widget-for-alice"`) {
		t.Fatalf("widget token %d %s", resp.StatusCode, body)
	}
	resp, _ = e.do("POST", "/v1/integrations/document360/widget-token", "", map[string]string{MenuSessionHeader: sess}, nil)
	if resp.StatusCode != 403 {
		t.Fatalf("menu POST without Origin: %d", resp.StatusCode)
	}
	resp, _ = e.do("POST", "/v1/integrations/docebo/widget-token", "", map[string]string{MenuSessionHeader: sess, "Origin": "http://" + e.addr}, nil)
	if resp.StatusCode != 404 {
		t.Fatalf("widget token of an integration without widgets: %d", resp.StatusCode)
	}

	// JWKS.
	resp, body = e.do("GET", "/.well-known/jwks.json", "", nil, nil)
	if resp.StatusCode != 200 || !strings.Contains(body, e.issuer.KeyID()) {
		t.Fatalf("jwks %d %s", resp.StatusCode, body)
	}
	resp, _ = e.do("GET", "/nope", all, nil, nil)
	if resp.StatusCode != 404 {
		t.Fatalf("unknown route %d", resp.StatusCode)
	}
}

func TestClientCredentials(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.be.clients["c1"] = "s3cret-client-secret"
	e.be.scopes["c1"] = []string{"docebo"}
	e.secrets = append(e.secrets, "s3cret-client-secret")
	post := func(form url.Values, basic [2]string) (*http.Response, map[string]any) {
		req, _ := http.NewRequest("POST", e.base+"/oauth2/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if basic[0] != "" {
			req.SetBasicAuth(url.QueryEscape(basic[0]), url.QueryEscape(basic[1]))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp, m
	}
	resp, m := post(url.Values{"grant_type": {"client_credentials"}}, [2]string{"c1", "s3cret-client-secret"})
	if resp.StatusCode != 200 || m["token_type"] != "Bearer" || m["expires_in"].(float64) != 900 {
		t.Fatalf("basic: %d %v", resp.StatusCode, m)
	}
	at := m["access_token"].(string)
	e.secrets = append(e.secrets, at)
	cl, err := e.verifier.Verify(t.Context(), at)
	if err != nil || cl.Subject != "client:c1" || cl.Source != "client:c1" || !cl.Allows("docebo") || cl.Allows("document360") {
		t.Fatalf("minted claims %+v %v", cl, err)
	}
	// The client token works on its integration and not on another.
	if r, _ := e.do("GET", "/v1/proxy/docebo/api/x", at, nil, nil); r.StatusCode != 200 {
		t.Fatalf("client token on docebo: %d", r.StatusCode)
	}
	if r, _ := e.do("GET", "/v1/proxy/document360/x", at, nil, nil); r.StatusCode != 403 {
		t.Fatalf("client token on document360: %d", r.StatusCode)
	}
	e.srv.Close()
	var named bool
	for _, a := range e.be.audits() {
		named = named || a.Caller == "client:c1"
	}
	if !named {
		t.Fatal("the audit trail does not name the client")
	}

	resp, m = post(url.Values{"grant_type": {"client_credentials"}, "client_id": {"c1"}, "client_secret": {"s3cret-client-secret"}}, [2]string{})
	if resp.StatusCode != 200 {
		t.Fatalf("body auth: %d %v", resp.StatusCode, m)
	}
	e.secrets = append(e.secrets, m["access_token"].(string))
	for _, bad := range []struct {
		form  url.Values
		basic [2]string
		code  string
	}{
		{url.Values{"grant_type": {"client_credentials"}}, [2]string{"c1", "wrong"}, "invalid_client"},
		{url.Values{"grant_type": {"client_credentials"}, "client_id": {"nobody"}, "client_secret": {"x"}}, [2]string{}, "invalid_client"},
		{url.Values{"grant_type": {"client_credentials"}}, [2]string{}, "invalid_client"},
		{url.Values{"grant_type": {"password"}}, [2]string{"c1", "s3cret-client-secret"}, "unsupported_grant_type"},
		{url.Values{"grant_type": {"client_credentials"}, "scope": {"document360"}}, [2]string{"c1", "s3cret-client-secret"}, "invalid_scope"},
	} {
		resp, m := post(bad.form, bad.basic)
		if m["error"] != bad.code || (bad.code == "invalid_client" && resp.StatusCode != 401) {
			t.Errorf("%v: %d %v", bad.form, resp.StatusCode, m)
		}
	}
}

func TestMenuCode(t *testing.T) {
	e := newEnv(t)
	u := e.srv.NewMenuCode()
	pu, err := url.Parse(u)
	if err != nil || pu.Host != e.addr || pu.Path != "/menu" || pu.RawQuery != "" || !strings.HasPrefix(pu.Fragment, "code=") {
		t.Fatalf("menu URL %q: want the code in the fragment only", u)
	}
	code := strings.TrimPrefix(pu.Fragment, "code=")
	e.secrets = append(e.secrets, code)
	exchange := func(code, origin, ctype string) (*http.Response, string) {
		t.Helper()
		return e.do("POST", MenuSessionPath, "", map[string]string{"Origin": origin, "Content-Type": ctype},
			strings.NewReader(`{"code":"`+code+`"}`))
	}
	own := "http://" + e.addr
	// The page is served without a session: it holds nothing secret.
	resp, body := e.do("GET", "/menu", "", nil, nil)
	if resp.StatusCode != 200 || body != "menu page /menu" {
		t.Fatalf("menu page %d %s", resp.StatusCode, body)
	}
	if resp.Header.Get("Set-Cookie") != "" {
		t.Fatalf("the menu sets a cookie: %q", resp.Header.Get("Set-Cookie"))
	}
	// A cookie left by an earlier version is cleared.
	resp, _ = e.do("GET", "/menu", "", map[string]string{"Cookie": "latchkey_menu=old"}, nil)
	if sc := resp.Header.Get("Set-Cookie"); !strings.HasPrefix(sc, "latchkey_menu=;") || !strings.Contains(sc, "Max-Age=0") {
		t.Fatalf("legacy cookie not cleared: %q", sc)
	}
	// The exchange: the menu's own Origin and JSON only.
	if resp, _ := exchange(code, "", "application/json"); resp.StatusCode != 403 {
		t.Fatalf("exchange without Origin: %d", resp.StatusCode)
	}
	if resp, _ := exchange(code, "http://127.0.0.1:1", "application/json"); resp.StatusCode != 403 {
		t.Fatalf("exchange from a foreign Origin: %d", resp.StatusCode)
	}
	if resp, _ := exchange(code, own, "text/plain"); resp.StatusCode != 415 {
		t.Fatalf("exchange as text/plain: %d", resp.StatusCode)
	}
	if resp, _ := e.do("GET", MenuSessionPath, "", nil, nil); resp.StatusCode != 405 {
		t.Fatalf("GET %s: %d", MenuSessionPath, resp.StatusCode)
	}
	resp, body = exchange(code, own, "application/json")
	var got struct {
		Session   string `json:"session"`
		ExpiresIn int    `json:"expires_in"`
	}
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &got) != nil || got.Session == "" || got.ExpiresIn != 3600 {
		t.Fatalf("exchange %d %s", resp.StatusCode, body)
	}
	if resp.Header.Get("Set-Cookie") != "" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("exchange headers %v", resp.Header)
	}
	e.secrets = append(e.secrets, got.Session)
	sess := map[string]string{MenuSessionHeader: got.Session}
	// Single use.
	if resp, body := exchange(code, own, "application/json"); resp.StatusCode != 401 || !strings.Contains(body, "code_expired") {
		t.Fatalf("reused code: %d %s", resp.StatusCode, body)
	}
	// A code in the query is never redeemed.
	u0 := e.srv.NewMenuCode()
	c0 := strings.TrimPrefix(u0[strings.Index(u0, "#"):], "#code=")
	e.secrets = append(e.secrets, c0)
	if resp, _ := e.do("GET", "/menu?code="+c0, "", nil, nil); resp.StatusCode != 400 {
		t.Fatalf("code in the query: %d", resp.StatusCode)
	}
	if resp, _ := exchange(c0, own, "application/json"); resp.StatusCode != 200 {
		t.Fatalf("the code shown in a query was spent: %d", resp.StatusCode)
	}
	// The session reaches the API.
	if resp, _ := e.do("GET", "/v1/search?q=go", "", sess, nil); resp.StatusCode != 200 {
		t.Fatalf("search with session %d", resp.StatusCode)
	}
	// A cookie carrying it does not.
	if resp, _ := e.do("GET", "/v1/search?q=go", "", map[string]string{"Cookie": "latchkey_menu=" + got.Session}, nil); resp.StatusCode != 401 {
		t.Fatalf("search with the session as a cookie %d", resp.StatusCode)
	}
	// But not the proxy: only bearer tokens reach tokens.
	if resp, _ := e.do("GET", "/v1/proxy/docebo/api/x", "", sess, nil); resp.StatusCode != 401 {
		t.Fatalf("proxy with session %d", resp.StatusCode)
	}
	// State-changing menu requests need our Origin too.
	if resp, _ := e.do("DELETE", "/v1/integrations/docebo", "", sess, nil); resp.StatusCode != 403 {
		t.Fatalf("menu DELETE without Origin: %d", resp.StatusCode)
	}
	if resp, _ := e.do("DELETE", "/v1/integrations/docebo", "", map[string]string{MenuSessionHeader: got.Session, "Origin": own}, nil); resp.StatusCode != 200 {
		t.Fatalf("menu DELETE with Origin: %d", resp.StatusCode)
	}
	// Expiry of the code (injectable clock).
	u2 := e.srv.NewMenuCode()
	c2 := strings.TrimPrefix(u2[strings.Index(u2, "#"):], "#code=")
	e.secrets = append(e.secrets, c2)
	e.clk.Add(31 * time.Second)
	if resp, _ := exchange(c2, own, "application/json"); resp.StatusCode != 401 {
		t.Fatalf("expired code: %d", resp.StatusCode)
	}
	// A code within its 30 s works.
	u3 := e.srv.NewMenuCode()
	c3 := strings.TrimPrefix(u3[strings.Index(u3, "#"):], "#code=")
	e.secrets = append(e.secrets, c3)
	e.clk.Add(29 * time.Second)
	if resp, _ := exchange(c3, own, "application/json"); resp.StatusCode != 200 {
		t.Fatalf("fresh code: %d", resp.StatusCode)
	}
	// Idle expiry: used within the hour, the session lives on; unused for an
	// hour, it ends.
	for range 3 {
		e.clk.Add(50 * time.Minute)
		if resp, _ := e.do("GET", "/v1/status", "", sess, nil); resp.StatusCode != 200 {
			t.Fatalf("session used every 50 min: %d", resp.StatusCode)
		}
	}
	e.clk.Add(61 * time.Minute)
	if resp, _ := e.do("GET", "/v1/status", "", sess, nil); resp.StatusCode != 401 {
		t.Fatalf("idle session: %d", resp.StatusCode)
	}
}

func TestMenuSessionLifetime(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.openMenu()
	// However busy, a session ends 8 h after it was opened.
	for range 9 {
		e.clk.Add(50 * time.Minute)
		if resp, _ := b.do("GET", "/v1/status"); resp.StatusCode != 200 {
			t.Fatalf("session in use: %d", resp.StatusCode)
		}
	}
	e.clk.Add(31 * time.Minute) // 8 h 1 min
	if resp, _ := b.do("GET", "/v1/status"); resp.StatusCode != 401 {
		t.Fatalf("session past 8 h: %d", resp.StatusCode)
	}
	// Each tab's session is its own: another one keeps working.
	b2 := e.openMenu()
	if b2.session == b.session {
		t.Fatal("two menu openings share a session")
	}
	if resp, _ := b2.do("GET", "/v1/status"); resp.StatusCode != 200 {
		t.Fatalf("second session: %d", resp.StatusCode)
	}
}

func TestSearch(t *testing.T) {
	e := newEnv(t)
	tok := e.mint("*")
	start := time.Now()
	resp, body := e.do("GET", "/v1/search?q=go&limit=10", tok, nil, nil)
	took := time.Since(start)
	if resp.StatusCode != 200 {
		t.Fatalf("search %d %s", resp.StatusCode, body)
	}
	var sr SearchResponse
	if err := json.Unmarshal([]byte(body), &sr); err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, r := range sr.Results {
		order = append(order, r.Integration+":"+r.ID)
	}
	if strings.Join(order, ",") != "docebo:1,document360:a1,docebo:2" {
		t.Fatalf("ranking %v", order)
	}
	if len(sr.Errors) != 1 || sr.Errors[0].Integration != "hung" || sr.Errors[0].Code != "timeout" {
		t.Fatalf("errors %+v", sr.Errors)
	}
	// The hung integration did not hold the answer past its deadline by
	// much (generous bound: the point is it did not wait forever).
	if took > 5*time.Second {
		t.Fatalf("search took %s with a 300ms deadline", took)
	}
	// limit applies to the merged list.
	_, body = e.do("GET", "/v1/search?q=go&limit=1", tok, nil, nil)
	json.Unmarshal([]byte(body), &sr)
	if len(sr.Results) != 1 || sr.Results[0].ID != "1" {
		t.Fatalf("limit 1: %+v", sr.Results)
	}
	// Scope: a docebo token never sees document360 results.
	_, body = e.do("GET", "/v1/search?q=go", e.mint("docebo"), nil, nil)
	if strings.Contains(body, "document360") || strings.Contains(body, "hung") {
		t.Fatalf("scoped search: %s", body)
	}
	if resp, _ := e.do("GET", "/v1/search", tok, nil, nil); resp.StatusCode != 400 {
		t.Fatalf("empty query: %d", resp.StatusCode)
	}
}

func TestSearchStream(t *testing.T) {
	e := newEnv(t)
	req, _ := http.NewRequest("GET", e.base+"/v1/search?q=go", nil)
	req.Header.Set("Authorization", "Bearer "+e.mint("*"))
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	var events []string
	results := map[string]int{}
	var ev string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			ev = strings.TrimPrefix(line, "event: ")
			events = append(events, ev)
		case strings.HasPrefix(line, "data: ") && ev == "results":
			var m struct {
				Integration string
				Results     []integrations.SearchResult
			}
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &m); err != nil {
				t.Fatal(err)
			}
			results[m.Integration] = len(m.Results)
		case strings.HasPrefix(line, "data: ") && ev == "error":
			if !strings.Contains(line, `"integration":"hung"`) || !strings.Contains(line, `"code":"timeout"`) {
				t.Fatalf("error event %s", line)
			}
		}
	}
	if len(events) != 4 || events[3] != "done" || events[2] != "error" {
		t.Fatalf("events %v", events)
	}
	if results["docebo"] != 2 || results["document360"] != 1 {
		t.Fatalf("results %v", results)
	}
}

func TestControlSocket(t *testing.T) {
	t.Parallel()
	control := http.NewServeMux()
	control.HandleFunc("GET /control/{word}", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(strings.ReplaceAll(r.PathValue("word"), "i", "o")))
	})
	e := newEnv(t, func(c *Config) { c.Control = control })
	sock := filepath.Join(t.TempDir(), "control.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- e.srv.ServeControl(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("ServeControl: %v", err)
		}
	}()
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	defer client.CloseIdleConnections()
	get := func(path string, hdr map[string]string) (int, string) {
		t.Helper()
		req := mustReq("GET", path, hdr)
		req.RequestURI = ""
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/v1/status", nil); code != 200 || !strings.Contains(body, "key_id") {
		t.Fatalf("control status %d %s", code, body)
	}
	if _, body := get("/control/ping", nil); body != "pong" {
		t.Fatalf("control route %q", body)
	}
	if code, body := get("/v1/proxy/docebo/api/x", nil); code != 200 {
		t.Fatalf("control proxy %d %s", code, body)
	}
	if code, _ := get("/v1/status", map[string]string{"Origin": "http://evil"}); code != 403 {
		t.Fatalf("control with Origin %d", code)
	}
	if code, _ := get("/v1/proxy/docebo/api/x", map[string]string{"Origin": "http://evil"}); code != 403 {
		t.Fatalf("control proxy with Origin %d", code)
	}
	// The control route is not on TCP.
	if resp, _ := e.do("GET", "/control/ping", e.mint("*"), nil, nil); resp.StatusCode != 404 {
		t.Fatalf("control route on TCP: %d", resp.StatusCode)
	}
	e.srv.Close()
	var cli bool
	for _, a := range e.be.audits() {
		cli = cli || a.Caller == "local-cli"
	}
	if !cli {
		t.Fatal("control proxy call not audited as local-cli")
	}
}

func TestListenRefusesNonLoopback(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, err := New(Config{Backend: e.be, Verifier: e.verifier, Listen: "0.0.0.0:7788"})
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("New with 0.0.0.0: %v", err)
	}
	s, err := New(Config{Backend: e.be, Verifier: e.verifier, Listen: "example.com:7788"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.ListenAndServe(t.Context()); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("ListenAndServe on a name: %v", err)
	}
}

// A revoked subject's JWTs are refused at once, on the proxy and the API;
// other subjects are not affected.
func TestRevokeSubjects(t *testing.T) {
	e := newEnv(t)
	held, err := e.issuer.Mint("client:lkc_1", []string{"docebo"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	e.secrets = append(e.secrets, held)
	other := e.mint("docebo")
	for _, path := range []string{"/v1/proxy/docebo/api/x", "/v1/courses"} {
		if resp, _ := e.do("GET", path, held, nil, nil); resp.StatusCode != 200 {
			t.Fatalf("%s before revoke: %d", path, resp.StatusCode)
		}
	}
	e.srv.RevokeSubjects("client:lkc_1")
	for _, path := range []string{"/v1/proxy/docebo/api/x", "/v1/courses"} {
		if resp, _ := e.do("GET", path, held, nil, nil); resp.StatusCode != 401 {
			t.Fatalf("%s after revoke: %d", path, resp.StatusCode)
		}
		if resp, _ := e.do("GET", path, other, nil, nil); resp.StatusCode != 200 {
			t.Fatalf("%s for another subject after revoke: %d", path, resp.StatusCode)
		}
	}
}
