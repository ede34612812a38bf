package injector

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	sdkauth "github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/latchkey/latchkey/injector/auth"
	"github.com/latchkey/latchkey/injector/oauthserver"
	"github.com/latchkey/latchkey/integrations"
)

type memApps struct {
	mu  sync.Mutex
	doc []byte
}

func (m *memApps) LoadApps(context.Context) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.doc, nil
}
func (m *memApps) SaveApps(_ context.Context, d []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.doc = append([]byte(nil), d...)
	return nil
}

// consentDesk is the person at the desktop: it answers every consent
// shown with allow (or deny).
type consentDesk struct {
	mu    sync.Mutex
	shown []oauthserver.ConsentRequest
}

func (c *consentDesk) PromptConsent(_ context.Context, r oauthserver.ConsentRequest) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.shown = append(c.shown, r)
	return nil
}

func (c *consentDesk) last() oauthserver.ConsentRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.shown[len(c.shown)-1]
}

type appsEnv struct {
	*env
	apps   *oauthserver.Server
	desk   *consentDesk
	opened []string
	mu     sync.Mutex
}

// mcpSignIn is docebo with signed-in links.
type mcpSignIn struct{ searchInteg }

func (mcpSignIn) SignInURL(_ context.Context, _ integrations.Tokens, id string) (string, error) {
	return "https://lms.example/learn;type=oauth2_response;access_token=SIGNED-LINK-SECRET&id=" + id, nil
}

func newAppsEnv(t *testing.T) *appsEnv {
	t.Helper()
	a := &appsEnv{desk: &consentDesk{}}
	a.env = newEnv(t, func(c *Config) {
		srv, err := oauthserver.New(context.Background(), oauthserver.Config{
			Issuer: c.Issuer, Store: &memApps{}, Prompter: a.desk,
			Integrations: func() []string { return []string{"docebo", "document360"} },
			OnRevoke:     func(subs ...string) { a.env.srv.RevokeSubjects(subs...) },
			Logger:       c.Logger,
		})
		if err != nil {
			t.Fatal(err)
		}
		a.apps = srv
		c.Apps = srv
		c.MCP = &MCPConfig{Version: "test", OpenLink: func(_ context.Context, link string) error {
			a.mu.Lock()
			defer a.mu.Unlock()
			a.opened = append(a.opened, link)
			return nil
		}}
	})
	a.be.conns[0].Integration = mcpSignIn{a.be.conns[0].Integration.(searchInteg)}
	a.secrets = append(a.secrets, "SIGNED-LINK-SECRET")
	return a
}

// fetcher answers the SDK client's authorization request as a person who
// allows it in the menu.
func (a *appsEnv) fetcher(allow bool) sdkauth.AuthorizationCodeFetcher {
	return func(ctx context.Context, args *sdkauth.AuthorizationArgs) (*sdkauth.AuthorizationResult, error) {
		resp, err := noRedirect.Get(args.URL)
		if err != nil {
			return nil, err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			a.t.Fatalf("authorize answered %d", resp.StatusCode)
		}
		to, err := a.apps.Decide(a.desk.last().ID, allow)
		if err != nil {
			return nil, err
		}
		u, _ := url.Parse(to)
		return &sdkauth.AuthorizationResult{Code: u.Query().Get("code"), State: u.Query().Get("state"), Iss: u.Query().Get("iss")}, nil
	}
}

// tokenRT records the bearer tokens the SDK client sends.
type tokenRT struct {
	mu   sync.Mutex
	seen []string
}

func (rt *tokenRT) RoundTrip(r *http.Request) (*http.Response, error) {
	if v, ok := bearerValue(r.Header.Get("Authorization")); ok {
		rt.mu.Lock()
		rt.seen = append(rt.seen, v)
		rt.mu.Unlock()
	}
	return http.DefaultTransport.RoundTrip(r)
}

func (rt *tokenRT) last() string { rt.mu.Lock(); defer rt.mu.Unlock(); return rt.seen[len(rt.seen)-1] }

// connectSDK runs the SDK client's whole OAuth flow (discovery from the
// 401, registration, authorize with PKCE, consent, token) and connects.
func (a *appsEnv) connectSDK(allow bool) (*mcp.ClientSession, *tokenRT, error) {
	rt := &tokenRT{}
	hc := &http.Client{Transport: rt}
	h, err := sdkauth.NewAuthorizationCodeHandler(&sdkauth.AuthorizationCodeHandlerConfig{
		DynamicClientRegistrationConfig: &sdkauth.DynamicClientRegistrationConfig{Metadata: &oauthex.ClientRegistrationMetadata{
			ClientName: "SDK Assistant", RedirectURIs: []string{"http://127.0.0.1:53682/callback"},
			GrantTypes: []string{"authorization_code", "refresh_token"}, TokenEndpointAuthMethod: "none",
		}},
		RedirectURL:              "http://127.0.0.1:53682/callback",
		AuthorizationCodeFetcher: a.fetcher(allow),
		Client:                   hc,
	})
	if err != nil {
		a.t.Fatal(err)
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "sdk-test"}, nil).Connect(context.Background(),
		&mcp.StreamableClientTransport{Endpoint: a.base + "/mcp", HTTPClient: hc, OAuthHandler: h, DisableStandaloneSSE: true}, nil)
	return cs, rt, err
}

func TestMCPOverHTTPWithTheWholeOAuthFlow(t *testing.T) {
	t.Parallel()
	a := newAppsEnv(t)
	cs, rt, err := a.connectSDK(true)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	req := a.desk.last()
	if req.AppName != "SDK Assistant" || req.Resource != "/mcp" || !req.ReadOnly {
		t.Fatalf("consent shown = %+v", req)
	}
	tok := rt.last()
	a.secrets = append(a.secrets, tok)

	tools, err := cs.ListTools(context.Background(), nil)
	if err != nil || len(tools.Tools) != 4 {
		t.Fatalf("tools: %v %v", tools, err)
	}
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "search", Arguments: map[string]any{"query": "go"}})
	if err != nil || res.IsError {
		t.Fatalf("search: %+v %v", res, err)
	}
	b, _ := json.Marshal(res)
	if !strings.Contains(string(b), "Go basics") || !strings.Contains(string(b), "Go article") {
		t.Fatalf("search result = %s", b)
	}
	res, err = cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "open_course", Arguments: map[string]any{"integration": "docebo", "id": "c2"}})
	if err != nil || res.IsError {
		t.Fatalf("open_course: %+v %v", res, err)
	}
	b, _ = json.Marshal(res)
	if strings.Contains(string(b), "SIGNED-LINK-SECRET") || strings.Contains(string(b), "lms.example") || strings.Contains(string(b), tok) {
		t.Fatalf("open_course returned the link or the token: %s", b)
	}
	if len(a.opened) != 1 || !strings.Contains(a.opened[0], "id=c2") {
		t.Fatalf("opened %v", a.opened)
	}

	// The token is for /mcp: the API refuses it, the proxy too.
	if resp, _ := a.do("GET", "/v1/search?q=go", tok, nil, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("an /mcp token at /v1/search: %d", resp.StatusCode)
	}
	if resp, _ := a.do("GET", "/v1/proxy/docebo/api/x", tok, nil, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("an /mcp token at /v1/proxy: %d", resp.StatusCode)
	}

	// The tool calls are in the audit trail under the app's grant.
	a.srv.FlushAudit()
	grant := a.apps.Grants()[0]
	var tool, fan bool
	for _, e := range a.be.audits() {
		if e.Caller == grant.Subject() && e.Path == "tools/call search" {
			tool = true
		}
		if e.Caller == grant.Subject() && e.Path == "/v1/search" && e.Integration == "docebo" {
			fan = true
		}
	}
	if !tool || !fan {
		t.Fatalf("audit %+v lacks the app's tool call or its search", a.be.audits())
	}

	// Revoked: its token stops at once.
	if err := a.apps.Revoke(context.Background(), grant.ID, "test"); err != nil {
		t.Fatal(err)
	}
	resp, _ := a.do("POST", "/mcp", tok, map[string]string{"Content-Type": "application/json", "Accept": "application/json, text/event-stream"},
		strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a revoked grant's token at /mcp: %d", resp.StatusCode)
	}
}

func TestMCPRefusesWithoutTokenAndNamesTheResourceMetadata(t *testing.T) {
	t.Parallel()
	a := newAppsEnv(t)
	resp, _ := a.do("POST", "/mcp", "", map[string]string{"Content-Type": "application/json"}, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
	want := `Bearer resource_metadata="` + a.base + `/.well-known/oauth-protected-resource/mcp"`
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != want {
		t.Fatalf("%d %q, want 401 %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), want)
	}
	// A local token bound to nothing works; one bound to /v1 does not.
	tok, _, err := a.issuer.MintApp(appToken("g1", "/v1"))
	if err != nil {
		t.Fatal(err)
	}
	a.secrets = append(a.secrets, tok)
	resp, _ = a.do("POST", "/mcp", tok, map[string]string{"Content-Type": "application/json", "Accept": "application/json, text/event-stream"},
		strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a /v1 token at /mcp: %d", resp.StatusCode)
	}
	if resp, _ := a.do("GET", "/v1/search?q=go", tok, nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("a /v1 token at /v1/search: %d", resp.StatusCode)
	}
	// DNS rebinding and foreign pages.
	if resp, _ := a.do("POST", "/mcp", a.mint("*"), map[string]string{"Host": "evil.example:" + strings.Split(a.addr, ":")[1]}, nil); resp.StatusCode != http.StatusMisdirectedRequest {
		t.Fatalf("a rebound Host: %d", resp.StatusCode)
	}
	if resp, _ := a.do("POST", "/mcp", a.mint("*"), map[string]string{"Origin": "https://evil.example"}, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a foreign Origin: %d", resp.StatusCode)
	}
}

func TestDeniedConsentGivesTheSDKNoToken(t *testing.T) {
	t.Parallel()
	a := newAppsEnv(t)
	if cs, _, err := a.connectSDK(false); err == nil {
		cs.Close()
		t.Fatal("connected after a denied consent")
	}
	if len(a.apps.Grants()) != 0 {
		t.Fatal("a denied consent made a grant")
	}
}

func TestSearchIntegrationsParameterNarrowsTheScope(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	resp, body := e.do("GET", "/v1/search?q=go&integrations=document360", e.mint("*"), nil, nil)
	if resp.StatusCode != http.StatusOK || strings.Contains(body, "docebo") || !strings.Contains(body, "Go article") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if resp, _ := e.do("GET", "/v1/search?q=go&integrations=docebo", e.mint("document360"), nil, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("an integration outside the scope: %d", resp.StatusCode)
	}
}

func appToken(grant, resource string) auth.AppToken {
	return auth.AppToken{GrantID: grant, ClientID: "lka_test", Resource: resource, Scope: []string{"*"}, TTL: time.Hour}
}

func TestConsentIsAnsweredByTheMenuOnly(t *testing.T) {
	t.Parallel()
	a := newAppsEnv(t)
	// An app registers and asks.
	resp, body := a.do("POST", "/oauth2/register", "", map[string]string{"Content-Type": "application/json"},
		strings.NewReader(`{"client_name":"Menu Test","redirect_uris":["http://127.0.0.1/cb"]}`))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("register: %d %s", resp.StatusCode, body)
	}
	var reg struct {
		ClientID string `json:"client_id"`
	}
	_ = json.Unmarshal([]byte(body), &reg)
	q := url.Values{"response_type": {"code"}, "client_id": {reg.ClientID}, "redirect_uri": {"http://127.0.0.1:9999/cb"},
		"code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"}, "state": {"s1"}}
	if resp, _ := a.do("GET", "/oauth2/authorize?"+q.Encode(), "", nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("authorize: %d", resp.StatusCode)
	}
	id := a.desk.last().ID
	consentURL := a.srv.NewConsentURL(id)
	if u, _ := url.Parse(consentURL); u.Path != ConsentPage || !strings.Contains(u.Fragment, "consent="+id) || u.RawQuery != "" {
		t.Fatalf("consent URL %q", consentURL)
	}

	decide := func(bearer, session, origin string) (*http.Response, string) {
		req, _ := http.NewRequest("POST", a.base+"/v1/apps/consent/"+id, strings.NewReader(`{"allow":true}`))
		req.Header.Set("Content-Type", "application/json")
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		if session != "" {
			req.Header.Set(wireSessionHeader, session)
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	// A program with a token of the person, or no session: refused.
	if resp, _ := decide(a.mint("*"), "", ""); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a bearer token answered a consent: %d", resp.StatusCode)
	}
	if resp, _ := decide("", "", a.base); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no session answered a consent: %d", resp.StatusCode)
	}
	b := a.openMenu()
	// A page elsewhere, even holding the session, cannot (Origin).
	if resp, _ := decide("", b.session, "http://127.0.0.1:1"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a foreign origin answered a consent: %d", resp.StatusCode)
	}
	if resp, body := b.do("GET", "/v1/apps/consent/"+id); resp.StatusCode != http.StatusOK || !strings.Contains(body, `"app_name":"Menu Test"`) {
		t.Fatalf("the menu reads the consent: %d %s", resp.StatusCode, body)
	}
	resp, body = decide("", b.session, a.base)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `http://127.0.0.1:9999/cb?code=`) || !strings.Contains(body, "state=s1") {
		t.Fatalf("the menu's answer: %d %s", resp.StatusCode, body)
	}
	if resp, _ := decide("", b.session, a.base); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("a consent answered twice: %d", resp.StatusCode)
	}
	// The menu lists apps; a bearer token cannot.
	if resp, body := b.do("GET", "/v1/apps"); resp.StatusCode != http.StatusOK || !strings.Contains(body, `"apps":[]`) {
		t.Fatalf("apps list: %d %s", resp.StatusCode, body)
	}
	if resp, _ := a.do("GET", "/v1/apps", a.mint("*"), nil, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a bearer token listed apps: %d", resp.StatusCode)
	}
}

// TestAppsGetNoSignedInLink: a signed-in link carries a provider token, so
// GET /v1/open gives an app's token neither the link (JSON) nor a redirect
// to it; the app opens courses with open_course, on this desktop.
func TestAppsGetNoSignedInLink(t *testing.T) {
	t.Parallel()
	a := newAppsEnv(t)
	for _, res := range []string{"/v1", ""} {
		tok, _, err := a.issuer.MintApp(appToken("g-open", res))
		if err != nil {
			t.Fatal(err)
		}
		a.secrets = append(a.secrets, tok)
		for _, accept := range []string{"application/json", ""} {
			resp, body := a.do("GET", "/v1/open/docebo/c1", tok, map[string]string{"Accept": accept}, nil)
			if resp.StatusCode != http.StatusForbidden || strings.Contains(body, "SIGNED-LINK-SECRET") ||
				strings.Contains(resp.Header.Get("Location"), "SIGNED-LINK-SECRET") {
				t.Errorf("an app token bound to %q, Accept %q: %d %q, Location %q", res, accept, resp.StatusCode, body, resp.Header.Get("Location"))
			}
		}
	}
	// The person's own callers still get it (a personal local token).
	if resp, body := a.do("GET", "/v1/open/docebo/c1", a.mint("*"), map[string]string{"Accept": "application/json"}, nil); resp.StatusCode != http.StatusOK || !strings.Contains(body, "SIGNED-LINK-SECRET") {
		t.Fatalf("a local token: %d %s", resp.StatusCode, body)
	}
}
