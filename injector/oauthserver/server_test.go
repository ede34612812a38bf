package oauthserver

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/injector/auth"
)

// memStore is a Store in memory.
type memStore struct {
	mu  sync.Mutex
	doc []byte
}

func (m *memStore) LoadApps(context.Context) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.doc, nil
}

func (m *memStore) SaveApps(_ context.Context, doc []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.doc = append([]byte(nil), doc...)
	return nil
}

// prompts records the consents shown.
type prompts struct {
	mu   sync.Mutex
	reqs []ConsentRequest
	err  error
}

func (p *prompts) PromptConsent(_ context.Context, r ConsentRequest) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	p.reqs = append(p.reqs, r)
	return nil
}

func (p *prompts) last(t *testing.T) ConsentRequest {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.reqs) == 0 {
		t.Fatal("no consent was asked")
	}
	return p.reqs[len(p.reqs)-1]
}

type harness struct {
	t       *testing.T
	srv     *Server
	ts      *httptest.Server
	issuer  *auth.Issuer
	ver     *auth.Verifier
	store   *memStore
	prompts *prompts
	revoked []string
	now     time.Time
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, store: &memStore{}, prompts: &prompts{}, now: time.Now()}
	h.issuer = auth.NewIssuer(priv, "latchkey", "latchkey-injector")
	h.ver, err = auth.NewVerifier(auth.VerifierConfig{Local: h.issuer})
	if err != nil {
		t.Fatal(err)
	}
	h.start()
	return h
}

func (h *harness) start() {
	h.t.Helper()
	srv, err := New(context.Background(), Config{
		Issuer: h.issuer, Store: h.store, Prompter: h.prompts,
		Integrations: func() []string { return []string{"docebo", "document360"} },
		OnRevoke:     func(subs ...string) { h.revoked = append(h.revoked, subs...) },
		Now:          func() time.Time { return h.now },
	})
	if err != nil {
		h.t.Fatal(err)
	}
	h.srv = srv
	if h.ts != nil {
		h.ts.Close()
	}
	h.ts = httptest.NewServer(srv.Handler())
	h.t.Cleanup(h.ts.Close)
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func (h *harness) register(redirects ...string) string {
	h.t.Helper()
	b, _ := json.Marshal(map[string]any{"client_name": "Test Assistant", "redirect_uris": redirects})
	resp, err := http.Post(h.ts.URL+RegisterPath, "application/json", strings.NewReader(string(b)))
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != http.StatusCreated {
		h.t.Fatalf("register: %d %v", resp.StatusCode, out)
	}
	return out["client_id"].(string)
}

func pkce() (verifier, challenge string) {
	var b [32]byte
	_, _ = rand.Read(b[:])
	verifier = base64.RawURLEncoding.EncodeToString(b[:])
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// authorize sends the authorization request and returns the response.
func (h *harness) authorize(params url.Values) *http.Response {
	h.t.Helper()
	resp, err := noRedirect.Get(h.ts.URL + AuthorizePath + "?" + params.Encode())
	if err != nil {
		h.t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func authParams(clientID, redirect, challenge string) url.Values {
	return url.Values{
		"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirect},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}, "state": {"st-123"},
		"scope": {"docebo"},
	}
}

// codeFrom approves the last consent and returns the code in the redirect.
func (h *harness) decide(allow bool) url.Values {
	h.t.Helper()
	req := h.prompts.last(h.t)
	to, err := h.srv.Decide(req.ID, allow)
	if err != nil {
		h.t.Fatal(err)
	}
	u, err := url.Parse(to)
	if err != nil {
		h.t.Fatal(err)
	}
	return u.Query()
}

func (h *harness) token(form url.Values) (int, map[string]any) {
	h.t.Helper()
	resp, err := http.PostForm(h.ts.URL+TokenPath, form)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// grant runs the whole flow and returns the token answer.
func (h *harness) grant(clientID, redirect string, extra url.Values) map[string]any {
	h.t.Helper()
	ver, ch := pkce()
	p := authParams(clientID, redirect, ch)
	for k, v := range extra {
		p[k] = v
	}
	if resp := h.authorize(p); resp.StatusCode != http.StatusOK {
		h.t.Fatalf("authorize: %d", resp.StatusCode)
	}
	q := h.decide(true)
	form := url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "client_id": {clientID},
		"redirect_uri": {redirect}, "code_verifier": {ver}}
	st, out := h.token(form)
	if st != http.StatusOK {
		h.t.Fatalf("token: %d %v", st, out)
	}
	return out
}

func TestAuthorizationCodeFlowMintsAnAppToken(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.register("http://127.0.0.1/callback")
	ver, ch := pkce()
	// Any port: RFC 8252 §7.3.
	redirect := "http://127.0.0.1:49152/callback"
	p := authParams(id, redirect, ch)
	p.Set("resource", h.ts.URL+"/mcp")
	resp := h.authorize(p)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("authorize answered %d, want the wait page", resp.StatusCode)
	}
	if got := resp.Header.Get("X-Frame-Options"); got != "DENY" {
		t.Errorf("X-Frame-Options = %q", got)
	}
	req := h.prompts.last(t)
	if req.AppName != "Test Assistant" || strings.Join(req.Integrations, ",") != "docebo" || !req.ReadOnly || req.Resource != ResourceMCP {
		t.Fatalf("consent request = %+v", req)
	}
	q := h.decide(true)
	if q.Get("state") != "st-123" || q.Get("iss") != h.ts.URL || q.Get("code") == "" {
		t.Fatalf("redirect query = %v", q)
	}
	st, out := h.token(url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "client_id": {id},
		"redirect_uri": {redirect}, "code_verifier": {ver}})
	if st != http.StatusOK {
		t.Fatalf("token: %d %v", st, out)
	}
	if out["token_type"] != "Bearer" || out["scope"] != "docebo" || !strings.HasPrefix(out["refresh_token"].(string), "lkr_") {
		t.Fatalf("token answer = %v", out)
	}
	cl, err := h.ver.Verify(context.Background(), out["access_token"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if cl.ClientID != id || cl.Resource != ResourceMCP || !cl.Allows("docebo") || cl.Allows("document360") || !strings.HasPrefix(cl.Subject, "app:lkg_") {
		t.Fatalf("claims = %+v", cl)
	}
	// Nothing secret is stored: no token, only refresh-token digests.
	doc := string(h.store.doc)
	if strings.Contains(doc, out["refresh_token"].(string)) || strings.Contains(doc, out["access_token"].(string)) {
		t.Fatal("the saved state holds a token")
	}
	gs := h.srv.Grants()
	if len(gs) != 1 || gs[0].ClientID != id || h.srv.GrantState(gs[0]) != "active" {
		t.Fatalf("grants = %+v", gs)
	}
}

func TestDeniedConsentRedirectsWithAccessDenied(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.register("http://localhost/cb")
	_, ch := pkce()
	h.authorize(authParams(id, "http://localhost:5555/cb", ch))
	q := h.decide(false)
	if q.Get("error") != "access_denied" || q.Get("state") != "st-123" || q.Get("code") != "" {
		t.Fatalf("redirect query = %v", q)
	}
	if _, err := h.srv.Decide(h.prompts.last(t).ID, true); !errors.Is(err, ErrNoConsent) {
		t.Fatalf("a denied consent can be answered again: %v", err)
	}
	if len(h.srv.Grants()) != 0 {
		t.Fatal("a denied consent made a grant")
	}
}

func TestAuthorizeRefusesForeignRedirectAndUnknownClientWithoutRedirecting(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.register("http://127.0.0.1/cb")
	_, ch := pkce()
	for name, p := range map[string]url.Values{
		"foreign host":    authParams(id, "http://evil.example/cb", ch),
		"other path":      authParams(id, "http://127.0.0.1:8080/other", ch),
		"https on a name": authParams(id, "https://127.0.0.1.nip.io/cb", ch),
		"unknown client":  authParams("lka_nope", "http://127.0.0.1/cb", ch),
	} {
		resp := h.authorize(p)
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
			t.Errorf("%s: %d Location=%q, want 400 without a redirect", name, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	if len(h.prompts.reqs) != 0 {
		t.Fatal("a consent was asked for a refused request")
	}
}

func TestAuthorizeRequiresPKCES256AndKnownScopeAndResource(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.register("http://127.0.0.1/cb")
	_, ch := pkce()
	cases := map[string]struct {
		set  map[string]string
		want string
	}{
		"no challenge":   {map[string]string{"code_challenge": ""}, "invalid_request"},
		"plain":          {map[string]string{"code_challenge_method": "plain"}, "invalid_request"},
		"token response": {map[string]string{"response_type": "token"}, "unsupported_response_type"},
		"unknown scope":  {map[string]string{"scope": "docebo gmail"}, "invalid_scope"},
		"other resource": {map[string]string{"resource": "https://api.example.com/mcp"}, "invalid_target"},
		"other route":    {map[string]string{"resource": h.ts.URL + "/menu"}, "invalid_target"},
	}
	for name, c := range cases {
		p := authParams(id, "http://127.0.0.1:9/cb", ch)
		for k, v := range c.set {
			p.Set(k, v)
		}
		resp := h.authorize(p)
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusFound || loc.Query().Get("error") != c.want || loc.Query().Get("state") != "st-123" {
			t.Errorf("%s: %d %s, want a redirect with error=%s", name, resp.StatusCode, loc, c.want)
		}
	}
	if len(h.prompts.reqs) != 0 {
		t.Fatal("a consent was asked for a refused request")
	}
}

func TestTokenRefusesWrongVerifierReusedCodeAndOtherClient(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.register("http://127.0.0.1/cb")
	other := h.register("http://127.0.0.1/cb")
	redirect := "http://127.0.0.1:7000/cb"

	// A wrong verifier: refused, and the code is spent.
	_, ch := pkce()
	h.authorize(authParams(id, redirect, ch))
	code := h.decide(true).Get("code")
	wrong, _ := pkce()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {id}, "redirect_uri": {redirect}, "code_verifier": {wrong}}
	if st, out := h.token(form); st != http.StatusBadRequest || out["error"] != "invalid_grant" {
		t.Fatalf("wrong verifier: %d %v", st, out)
	}

	// Another client, another redirect URI.
	ver, ch := pkce()
	for name, change := range map[string][2]string{"client": {"client_id", other}, "redirect": {"redirect_uri", "http://127.0.0.1:7001/cb"}} {
		h.authorize(authParams(id, redirect, ch))
		code := h.decide(true).Get("code")
		f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {id}, "redirect_uri": {redirect}, "code_verifier": {ver}}
		f.Set(change[0], change[1])
		if st, out := h.token(f); st != http.StatusBadRequest || out["error"] != "invalid_grant" {
			t.Errorf("other %s: %d %v", name, st, out)
		}
	}

	// A reused code: refused, and the grant it made is revoked.
	h.authorize(authParams(id, redirect, ch))
	code = h.decide(true).Get("code")
	form = url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {id}, "redirect_uri": {redirect}, "code_verifier": {ver}}
	st, out := h.token(form)
	if st != http.StatusOK {
		t.Fatalf("first use: %d %v", st, out)
	}
	if st, out := h.token(form); st != http.StatusBadRequest || out["error"] != "invalid_grant" {
		t.Fatalf("reused code: %d %v", st, out)
	}
	gs := h.srv.Grants()
	if len(gs) != 1 || h.srv.GrantState(gs[0]) != "revoked" {
		t.Fatalf("grants after a reused code = %+v", gs)
	}
	if len(h.revoked) != 1 || h.revoked[0] != gs[0].Subject() {
		t.Fatalf("OnRevoke got %v", h.revoked)
	}
}

func TestCodeExpiresAfterSixtySeconds(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.register("http://127.0.0.1/cb")
	ver, ch := pkce()
	h.authorize(authParams(id, "http://127.0.0.1/cb", ch))
	code := h.decide(true).Get("code")
	h.now = h.now.Add(61 * time.Second)
	st, out := h.token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {id}, "redirect_uri": {"http://127.0.0.1/cb"}, "code_verifier": {ver}})
	if st != http.StatusBadRequest || out["error"] != "invalid_grant" {
		t.Fatalf("expired code: %d %v", st, out)
	}
}

func TestRefreshRotatesAndReuseRevokesTheGrant(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.register("http://127.0.0.1/cb")
	first := h.grant(id, "http://127.0.0.1/cb", nil)
	rt1 := first["refresh_token"].(string)
	st, second := h.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}, "client_id": {id}})
	if st != http.StatusOK {
		t.Fatalf("refresh: %d %v", st, second)
	}
	rt2 := second["refresh_token"].(string)
	if rt2 == rt1 {
		t.Fatal("the refresh token did not rotate")
	}
	// Another client cannot use it.
	if st, out := h.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt2}, "client_id": {"lka_other"}}); st != http.StatusBadRequest || out["error"] != "invalid_grant" {
		t.Fatalf("other client: %d %v", st, out)
	}
	// The old one again: theft. The grant is revoked, the new one stops too.
	if st, out := h.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}, "client_id": {id}}); st != http.StatusBadRequest || out["error"] != "invalid_grant" {
		t.Fatalf("reused refresh token: %d %v", st, out)
	}
	if st, out := h.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt2}, "client_id": {id}}); st != http.StatusBadRequest {
		t.Fatalf("the current refresh token still works after a reuse: %d %v", st, out)
	}
	cl, err := h.ver.Verify(context.Background(), second["access_token"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if subs := h.srv.RevokedSubjects(); len(subs) != 1 || subs[0] != cl.Subject {
		t.Fatalf("RevokedSubjects = %v, want [%s]", subs, cl.Subject)
	}
}

func TestRevokedGrantStaysRevokedAfterRestart(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.register("http://127.0.0.1/cb")
	out := h.grant(id, "http://127.0.0.1/cb", nil)
	g := h.srv.Grants()[0]
	if err := h.srv.Revoke(context.Background(), g.ID, "revoked by the user"); err != nil {
		t.Fatal(err)
	}
	if len(h.revoked) != 1 || h.revoked[0] != g.Subject() {
		t.Fatalf("OnRevoke got %v", h.revoked)
	}
	h.start() // a new daemon on the same store
	if subs := h.srv.RevokedSubjects(); len(subs) != 1 || subs[0] != g.Subject() {
		t.Fatalf("after a restart RevokedSubjects = %v", subs)
	}
	if st, resp := h.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {out["refresh_token"].(string)}, "client_id": {id}}); st != http.StatusBadRequest || resp["error"] != "invalid_grant" {
		t.Fatalf("refresh of a revoked grant after a restart: %d %v", st, resp)
	}
	if _, ok := h.srv.Live(g.Subject()); ok {
		t.Fatal("a revoked grant is live")
	}
	if err := h.srv.Revoke(context.Background(), "lkg_nope", ""); !errors.Is(err, ErrNoGrant) {
		t.Fatalf("revoke of an unknown grant: %v", err)
	}
}

func TestTokenForOneResourceIsNotForAnother(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.register("http://127.0.0.1/cb")
	out := h.grant(id, "http://127.0.0.1/cb", url.Values{"resource": {h.ts.URL + "/v1"}})
	cl, err := h.ver.Verify(context.Background(), out["access_token"].(string))
	if err != nil || cl.Resource != ResourceAPI {
		t.Fatalf("claims %+v, %v", cl, err)
	}
	st, resp := h.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {out["refresh_token"].(string)}, "client_id": {id}, "resource": {h.ts.URL + "/mcp"}})
	if st != http.StatusBadRequest || resp["error"] != "invalid_target" {
		t.Fatalf("refresh for another resource: %d %v", st, resp)
	}
}

func TestRegisterRefusesNonLoopbackRedirectsAndSecrets(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for name, md := range map[string]map[string]any{
		"https elsewhere": {"redirect_uris": []string{"https://example.com/cb"}},
		"custom scheme":   {"redirect_uris": []string{"com.example.app:/cb"}},
		"no redirect":     {"client_name": "x"},
		"secret":          {"redirect_uris": []string{"http://127.0.0.1/cb"}, "token_endpoint_auth_method": "client_secret_basic"},
		"implicit":        {"redirect_uris": []string{"http://127.0.0.1/cb"}, "grant_types": []string{"implicit"}},
	} {
		b, _ := json.Marshal(md)
		resp, err := http.Post(h.ts.URL+RegisterPath, "application/json", strings.NewReader(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", name, resp.StatusCode)
		}
	}
}

func TestClientIDMetadataDocument(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var docURL string
	doc := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"client_id": docURL, "client_name": "Doc App", "redirect_uris": []string{"http://127.0.0.1/cb"}})
	}))
	defer doc.Close()
	docURL = doc.URL + "/client.json"
	h.srv.cfg.HTTPClient = doc.Client()
	out := h.grant(docURL, "http://127.0.0.1:4444/cb", nil)
	cl, err := h.ver.Verify(context.Background(), out["access_token"].(string))
	if err != nil || cl.ClientID != docURL {
		t.Fatalf("claims %+v, %v", cl, err)
	}
	if h.prompts.last(t).AppName != "Doc App" {
		t.Fatalf("consent names %q", h.prompts.last(t).AppName)
	}
	// A document naming another client id is refused.
	docURL = doc.URL + "/other.json"
	_, ch := pkce()
	if resp := h.authorize(authParams(doc.URL+"/client.json", "http://127.0.0.1/cb", ch)); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a document naming another client id: %d", resp.StatusCode)
	}
}

func TestMetadataNamesTheEndpoints(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for path, want := range map[string]string{
		MetadataPath:                   `"code_challenge_methods_supported":["S256"]`,
		ProtectedResourcePath + "/mcp": `"resource":"` + h.ts.URL + `/mcp"`,
	} {
		resp, err := http.Get(h.ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		_, _ = readInto(&b, resp)
		if resp.StatusCode != http.StatusOK || !strings.Contains(b.String(), want) {
			t.Errorf("%s: %d %s, want %s", path, resp.StatusCode, b.String(), want)
		}
	}
}

func TestConsentThatCannotBeShownIsRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.register("http://127.0.0.1/cb")
	h.prompts.err = errors.New("no desktop")
	_, ch := pkce()
	resp := h.authorize(authParams(id, "http://127.0.0.1/cb", ch))
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || loc.Query().Get("error") != "temporarily_unavailable" {
		t.Fatalf("%d %s", resp.StatusCode, loc)
	}
}

func readInto(b *strings.Builder, resp *http.Response) (int64, error) {
	defer resp.Body.Close()
	return io.Copy(b, resp.Body)
}

func TestAuthorizeFromAWebPageIsRefusedUnasked(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.register("http://127.0.0.1/cb")
	_, ch := pkce()
	for _, site := range []string{"cross-site"} {
		req, _ := http.NewRequest("GET", h.ts.URL+AuthorizePath+"?"+authParams(id, "http://127.0.0.1/cb", ch).Encode(), nil)
		req.Header.Set("Sec-Fetch-Site", site)
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Location") != "" {
			t.Errorf("%s: %d, want 403 without a redirect", site, resp.StatusCode)
		}
	}
	if len(h.prompts.reqs) != 0 {
		t.Fatal("a web page made latchkey ask for consent")
	}
	// Opened by the app in the browser, or from its own local page: asked.
	for i, site := range []string{"none", "same-site"} {
		req, _ := http.NewRequest("GET", h.ts.URL+AuthorizePath+"?"+authParams(id, "http://127.0.0.1/cb", ch).Encode(), nil)
		req.Header.Set("Sec-Fetch-Site", site)
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || len(h.prompts.reqs) != i+1 {
			t.Fatalf("%s: %d, %d consents", site, resp.StatusCode, len(h.prompts.reqs))
		}
	}
}
