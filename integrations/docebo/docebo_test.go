package docebo_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/integrations"
	"github.com/latchkey/latchkey/integrations/docebo"
	"github.com/latchkey/latchkey/integrations/docebo/sandbox"
)

// ---- helpers ----

// clock is a settable clock shared by the sandbox and the client.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now()} }

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

func startSandbox(t *testing.T, o sandbox.Options) (*sandbox.Server, string) {
	t.Helper()
	sb := sandbox.New(o)
	ts := httptest.NewServer(sb)
	t.Cleanup(ts.Close)
	return sb, ts.URL
}

func newDocebo(t *testing.T, base string, settings map[string]string, o docebo.Options) *docebo.Docebo {
	t.Helper()
	d, err := docebo.New(integrations.Config{
		Name: docebo.Name, BaseURL: base,
		ClientID: sandbox.DefaultClientID, Secret: sandbox.DefaultClientSecret,
		Settings: settings,
	}, o)
	if err != nil {
		t.Fatalf("docebo.New: %v", err)
	}
	return d
}

// memTokens is a test integrations.Tokens: the current token in memory,
// refreshed through an oauth2.TokenSource built from the integration's own
// OAuth2Config (as the daemon does), with rotated refresh tokens kept.
type memTokens struct {
	d *docebo.Docebo

	mu        sync.Mutex
	tok       *oauth2.Token
	refreshes int
}

func (m *memTokens) Token(context.Context) (*oauth2.Token, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.tok == nil {
		return nil, integrations.ErrNotConnected
	}
	t := *m.tok
	return &t, nil
}

func (m *memTokens) Refresh(ctx context.Context, rejected *oauth2.Token) (*oauth2.Token, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if rejected != nil && m.tok.AccessToken != rejected.AccessToken {
		t := *m.tok
		return &t, nil
	}
	cfg := m.d.OAuth2Config("")
	ctx = context.WithValue(ctx, oauth2.HTTPClient, m.d.HTTPClient())
	next, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: m.tok.RefreshToken}).Token()
	if err != nil {
		return nil, docebo.ClassifyTokenError(err)
	}
	m.refreshes++
	m.tok = next
	t := *next
	return &t, nil
}

func (m *memTokens) current() *oauth2.Token { m.mu.Lock(); defer m.mu.Unlock(); t := *m.tok; return &t }

// noRedirect is a client that shows redirects instead of following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func get(t *testing.T, c *http.Client, u string) (int, string, http.Header) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func pkce() (verifier, challenge string) {
	verifier = oauth2.GenerateVerifier()
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// ---- grants ----

func TestAuthorizationCodeConsentPKCEAndReplay(t *testing.T) {
	t.Parallel()
	sb, base := startSandbox(t, sandbox.Options{})
	d := newDocebo(t, base, nil, docebo.Options{})
	redirect := "http://127.0.0.1:7788/docebo/connected"
	cfg := d.OAuth2Config(redirect)
	verifier, _ := pkce()
	state := "st-" + rand.Text()
	authURL := cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier))
	if !strings.HasPrefix(authURL, base+"/oauth2/authorize?") || !strings.Contains(authURL, "scope=api") {
		t.Fatalf("auth URL %q", authURL)
	}

	// The consent page is a real form with Approve and Deny.
	status, body, _ := get(t, noRedirect, authURL)
	if status != 200 || !strings.Contains(body, `value="approve"`) || !strings.Contains(body, `value="deny"`) {
		t.Fatalf("consent page: %d %s", status, body)
	}
	consent := regexp.MustCompile(`name="consent" value="([0-9a-f]+)"`).FindStringSubmatch(body)
	if consent == nil {
		t.Fatal("no consent id in the page")
	}
	approve := func() (int, *url.URL) {
		resp, err := noRedirect.PostForm(base+"/oauth2/authorize", url.Values{"consent": {consent[1]}, "user": {"grace"}, "decision": {"approve"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, _ := url.Parse(resp.Header.Get("Location"))
		return resp.StatusCode, loc
	}
	st, loc := approve()
	if st != http.StatusFound || loc.Query().Get("state") != state || loc.Query().Get("code") == "" ||
		!strings.HasPrefix(loc.String(), redirect+"?") {
		t.Fatalf("approve: %d %v", st, loc)
	}
	// The consent is single-use.
	if st2, _ := approve(); st2 != http.StatusBadRequest {
		t.Fatalf("second approval of the same consent: %d, want 400", st2)
	}

	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, d.HTTPClient())
	code := loc.Query().Get("code")
	// A wrong verifier is refused (and burns the code).
	tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if tok.RefreshToken == "" || tok.Expiry.IsZero() {
		t.Fatalf("token lacks refresh token or expiry: %+v", tok.Expiry)
	}
	tokens := &memTokens{d: d, tok: tok}
	acct, err := d.Account(context.Background(), tokens)
	if err != nil || acct.Username != "grace" || acct.Name != "Grace Hopper" || acct.ID != "12302" || acct.Email != "grace@example.com" {
		t.Fatalf("account: %+v %v", acct, err)
	}

	// Replaying the code fails with invalid_grant → reconnect needed, and
	// revokes the tokens the first exchange issued.
	_, err = cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err = docebo.ClassifyTokenError(err); !errors.Is(err, integrations.ErrReconnectNeeded) {
		t.Fatalf("code replay: %v, want ErrReconnectNeeded", err)
	}
	if _, err := d.Account(context.Background(), tokens); !errors.Is(err, integrations.ErrReconnectNeeded) {
		t.Fatalf("token of a replayed code still works: %v", err)
	}
	if got := sb.GrantCalls("authorization_code"); got != 2 {
		t.Fatalf("authorization_code grant calls = %d, want 2", got)
	}
}

func TestAuthorizationCodeChecks(t *testing.T) {
	t.Parallel()
	sb, base := startSandbox(t, sandbox.Options{AutoApprove: true})
	d := newDocebo(t, base, nil, docebo.Options{})
	redirect := "http://127.0.0.1:7788/docebo/connected"
	cfg := d.OAuth2Config(redirect)
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, d.HTTPClient())
	codeFor := func(opts ...oauth2.AuthCodeOption) string {
		t.Helper()
		st, _, h := get(t, noRedirect, cfg.AuthCodeURL("s1", opts...))
		loc, _ := url.Parse(h.Get("Location"))
		if st != http.StatusFound || loc.Query().Get("state") != "s1" || loc.Query().Get("code") == "" {
			t.Fatalf("auto-approve: %d %v", st, loc)
		}
		return loc.Query().Get("code")
	}

	t.Run("wrong PKCE verifier", func(t *testing.T) {
		v, _ := pkce()
		code := codeFor(oauth2.S256ChallengeOption(v))
		_, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
		if !errors.Is(docebo.ClassifyTokenError(err), integrations.ErrReconnectNeeded) {
			t.Fatalf("wrong verifier: %v", err)
		}
	})
	t.Run("redirect_uri mismatch", func(t *testing.T) {
		code := codeFor()
		other := d.OAuth2Config("http://127.0.0.1:9999/elsewhere")
		_, err := other.Exchange(ctx, code)
		var pe *integrations.ProviderError
		if !errors.As(docebo.ClassifyTokenError(err), &pe) || pe.Code != "redirect_uri_mismatch" {
			t.Fatalf("redirect mismatch: %v", err)
		}
	})
	t.Run("bad client secret", func(t *testing.T) {
		code := codeFor()
		bad := d.OAuth2Config(redirect)
		bad.ClientSecret = "not-the-secret-0123456789abcdef0123456789"
		_, err := bad.Exchange(ctx, code)
		err = docebo.ClassifyTokenError(err)
		var pe *integrations.ProviderError
		if !errors.As(err, &pe) || pe.Status != 401 || pe.Code != "invalid_client" {
			t.Fatalf("bad secret: %v", err)
		}
		if strings.Contains(err.Error(), bad.ClientSecret) {
			t.Fatal("error echoes the client secret")
		}
	})
	t.Run("foreign redirect refused at authorize", func(t *testing.T) {
		evil := d.OAuth2Config("https://evil.example/cb")
		st, _, h := get(t, noRedirect, evil.AuthCodeURL("s"))
		if st != http.StatusBadRequest || h.Get("Location") != "" {
			t.Fatalf("foreign redirect: %d %q", st, h.Get("Location"))
		}
	})
	t.Run("deny", func(t *testing.T) {
		sb.SetAutoApprove(false)
		defer sb.SetAutoApprove(true)
		_, body, _ := get(t, noRedirect, cfg.AuthCodeURL("s2"))
		id := regexp.MustCompile(`name="consent" value="([0-9a-f]+)"`).FindStringSubmatch(body)[1]
		resp, err := noRedirect.PostForm(base+"/oauth2/authorize", url.Values{"consent": {id}, "decision": {"deny"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if loc.Query().Get("error") != "access_denied" || loc.Query().Get("state") != "s2" || loc.Query().Get("code") != "" {
			t.Fatalf("deny: %v", loc)
		}
	})
}

func TestPasswordGrant(t *testing.T) {
	t.Parallel()
	sb, base := startSandbox(t, sandbox.Options{})
	d := newDocebo(t, base, nil, docebo.Options{})
	ctx := context.Background()
	tok, err := d.PasswordGrant(ctx, "alan", sandbox.DefaultPassword)
	if err != nil || tok.RefreshToken == "" || tok.TokenType != "Bearer" {
		t.Fatalf("password grant: %v", err)
	}
	if tok.Extra("scope") != "api" {
		t.Fatalf("scope = %v", tok.Extra("scope"))
	}
	acct, err := d.Account(ctx, &memTokens{d: d, tok: tok})
	if err != nil || acct.Username != "alan" {
		t.Fatalf("account: %+v %v", acct, err)
	}
	const wrong = "wrong-password-1234567890abcdef1234567890"
	_, err = d.PasswordGrant(ctx, "alan", wrong)
	if !errors.Is(err, integrations.ErrReconnectNeeded) || strings.Contains(err.Error(), wrong) {
		t.Fatalf("wrong password: %v", err)
	}
	if sb.GrantCalls("password") != 2 || sb.TokenCalls() != 2 {
		t.Fatalf("counters: password=%d token=%d", sb.GrantCalls("password"), sb.TokenCalls())
	}
}

func TestClientCredentialsGrant(t *testing.T) {
	t.Parallel()
	sb, base := startSandbox(t, sandbox.Options{})
	d := newDocebo(t, base, nil, docebo.Options{})
	ctx := context.Background()
	tok, err := d.ClientCredentialsGrant(ctx)
	if err != nil {
		t.Fatalf("client credentials: %v", err)
	}
	if tok.RefreshToken != "" {
		t.Fatal("client credentials returned a refresh token")
	}
	tokens := &memTokens{d: d, tok: tok}
	// The app's own token has no user: the session endpoint refuses it…
	_, err = d.Account(ctx, tokens)
	var pe *integrations.ProviderError
	if !errors.As(err, &pe) || pe.Status != http.StatusForbidden || pe.Message == "" {
		t.Fatalf("session with an app token: %v", err)
	}
	// …but the catalog answers.
	res, err := d.Search(ctx, tokens, "kubernetes", 5)
	if err != nil || len(res) != 1 || res[0].Title != "Kubernetes Basics" {
		t.Fatalf("search: %+v %v", res, err)
	}
	if sb.GrantCalls("client_credentials") != 1 {
		t.Fatal("grant not counted")
	}
}

func TestJWTBearerGrant(t *testing.T) {
	t.Parallel()
	clk := newClock()
	sb, base := startSandbox(t, sandbox.Options{Now: clk.Now})
	d := newDocebo(t, base, nil, docebo.Options{Now: clk.Now})
	priv, pubPEM, err := docebo.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(pubPEM), "-----BEGIN PUBLIC KEY-----\n") {
		t.Fatalf("public key PEM: %q", pubPEM[:30])
	}
	if err := sb.AddJWTKeyPEM(pubPEM); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	// The assertion carries the documented claims, in seconds.
	a, err := d.Assertion(priv, "katherine")
	if err != nil {
		t.Fatal(err)
	}
	claims := jwt.MapClaims{}
	if _, err := jwt.ParseWithClaims(a, claims, func(*jwt.Token) (any, error) { return &priv.PublicKey, nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithTimeFunc(clk.Now)); err != nil {
		t.Fatalf("assertion does not verify: %v", err)
	}
	u, _ := url.Parse(base)
	if claims["iss"] != sandbox.DefaultClientID || claims["sub"] != "katherine" || claims["aud"] != u.Host ||
		claims["iat"].(float64) != float64(clk.Now().Unix()) {
		t.Fatalf("claims: %v", claims)
	}

	tok, err := d.JWTBearerGrant(ctx, priv, "katherine")
	if err != nil {
		t.Fatalf("jwt bearer: %v", err)
	}
	acct, err := d.Account(ctx, &memTokens{d: d, tok: tok})
	if err != nil || acct.Username != "katherine" {
		t.Fatalf("account: %+v %v", acct, err)
	}

	reject := func(name string, err error, want string) {
		t.Helper()
		var pe *integrations.ProviderError
		if !errors.Is(err, integrations.ErrReconnectNeeded) || !errors.As(err, &pe) || !strings.Contains(pe.Message, want) {
			t.Fatalf("%s: %v, want invalid_grant mentioning %q", name, err, want)
		}
	}
	other, _, _ := docebo.GenerateKeyPair()
	_, err = d.JWTBearerGrant(ctx, other, "katherine")
	reject("bad signature", err, "signature")

	// Wrong audience: an assertion meant for another platform.
	wrongAud := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"iss": sandbox.DefaultClientID, "sub": "katherine", "aud": "acme.docebosaas.com",
		"iat": clk.Now().Unix(), "exp": clk.Now().Add(time.Minute).Unix(),
	})
	signed, _ := wrongAud.SignedString(priv)
	resp, err := http.PostForm(base+"/oauth2/token", url.Values{
		"grant_type": {string(integrations.GrantJWTBearer)}, "assertion": {signed}, "scope": {"api"},
	})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(body), "invalid_grant") || !strings.Contains(string(body), "audience") {
		t.Fatalf("wrong aud: %d %s", resp.StatusCode, body)
	}

	// Expired: an assertion signed by a client whose clock is an hour late.
	late := newDocebo(t, base, nil, docebo.Options{Now: func() time.Time { return clk.Now().Add(-time.Hour) }})
	_, err = late.JWTBearerGrant(ctx, priv, "katherine")
	reject("expired", err, "expired")

	_, err = d.JWTBearerGrant(ctx, priv, "nobody")
	reject("unknown subject", err, "sub")
	if n := sb.GrantCalls(string(integrations.GrantJWTBearer)); n != 5 {
		t.Fatalf("jwt grant calls %d, want 5", n)
	}
}

// TestJWTAudienceSetting: a platform on a custom domain may expect its
// docebosaas.com host as "aud"; the jwt_audience setting says which.
func TestJWTAudienceSetting(t *testing.T) {
	t.Parallel()
	sb, base := startSandbox(t, sandbox.Options{Audience: "acme.docebosaas.com"})
	priv, pubPEM, err := docebo.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.AddJWTKeyPEM(pubPEM); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// By default the aud is the configured host, which this platform refuses.
	plain := newDocebo(t, base, nil, docebo.Options{})
	if _, err := plain.JWTBearerGrant(ctx, priv, "ada"); !errors.Is(err, integrations.ErrReconnectNeeded) || !strings.Contains(err.Error(), "audience") {
		t.Fatalf("default aud: %v", err)
	}
	d := newDocebo(t, base, map[string]string{docebo.SettingJWTAudience: "acme.docebosaas.com"}, docebo.Options{})
	if d.Audience() != "acme.docebosaas.com" {
		t.Fatalf("Audience() = %q", d.Audience())
	}
	a, err := d.Assertion(priv, "ada")
	if err != nil {
		t.Fatal(err)
	}
	claims := jwt.MapClaims{}
	if _, err := jwt.ParseWithClaims(a, claims, func(*jwt.Token) (any, error) { return &priv.PublicKey, nil }, jwt.WithValidMethods([]string{"RS256"})); err != nil || claims["aud"] != "acme.docebosaas.com" {
		t.Fatalf("assertion aud %v: %v", claims["aud"], err)
	}
	tok, err := d.JWTBearerGrant(ctx, priv, "ada")
	if err != nil {
		t.Fatalf("with jwt_audience: %v", err)
	}
	if acct, err := d.Account(ctx, &memTokens{d: d, tok: tok}); err != nil || acct.Username != "ada" {
		t.Fatalf("account: %+v %v", acct, err)
	}
	for _, bad := range []string{"https://acme.docebosaas.com", "acme.docebosaas.com/x", "a b"} {
		_, err := docebo.New(integrations.Config{BaseURL: base, ClientID: "c", Settings: map[string]string{docebo.SettingJWTAudience: bad}}, docebo.Options{})
		if err == nil || !strings.Contains(err.Error(), "jwt_audience") {
			t.Errorf("jwt_audience %q: %v", bad, err)
		}
	}
}

func TestTokenBodiesMultipartAndJSON(t *testing.T) {
	t.Parallel()
	_, base := startSandbox(t, sandbox.Options{})
	// Multipart, as the vendor's curl -F sample.
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range map[string]string{
		"client_id": sandbox.DefaultClientID, "client_secret": sandbox.DefaultClientSecret,
		"grant_type": "password", "scope": "api", "username": "ada", "password": sandbox.DefaultPassword,
	} {
		if err := mw.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	mw.Close()
	resp, err := http.Post(base+"/oauth2/token", mw.FormDataContentType(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"refresh_token"`) {
		t.Fatalf("multipart: %d %s", resp.StatusCode, b)
	}
	// JSON.
	resp, err = http.Post(base+"/oauth2/token", "application/json", strings.NewReader(
		`{"client_id":"`+sandbox.DefaultClientID+`","client_secret":"`+sandbox.DefaultClientSecret+`","grant_type":"client_credentials","scope":"api"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"access_token"`) {
		t.Fatalf("json: %d %s", resp.StatusCode, b)
	}
}

// ---- refresh ----

func TestExpiredTokenRefreshedOn401(t *testing.T) {
	t.Parallel()
	sb, base := startSandbox(t, sandbox.Options{})
	d := newDocebo(t, base, nil, docebo.Options{})
	ctx := context.Background()
	tok, err := d.PasswordGrant(ctx, "ada", sandbox.DefaultPassword)
	if err != nil {
		t.Fatal(err)
	}
	tokens := &memTokens{d: d, tok: tok}
	sb.ExpireAccessTokens()
	courses, err := d.Courses(ctx, tokens)
	if err != nil || len(courses) != 30 {
		t.Fatalf("courses after expiry: %d %v", len(courses), err)
	}
	if tokens.refreshes != 1 || sb.GrantCalls("refresh_token") != 1 {
		t.Fatalf("refreshes = %d (sandbox %d), want 1", tokens.refreshes, sb.GrantCalls("refresh_token"))
	}
	// Without rotation the refresh answer has no refresh_token; the old one
	// is kept and still works.
	if tokens.current().RefreshToken != tok.RefreshToken {
		t.Fatal("refresh token changed without rotation")
	}
	if _, err := d.RefreshGrant(ctx, tok.RefreshToken); err != nil {
		t.Fatalf("second refresh with the same token: %v", err)
	}
}

func TestRotatedRefreshTokenReuseRevokesFamily(t *testing.T) {
	t.Parallel()
	sb, base := startSandbox(t, sandbox.Options{RotateRefresh: true})
	d := newDocebo(t, base, nil, docebo.Options{})
	ctx := context.Background()
	tok, err := d.PasswordGrant(ctx, "ada", sandbox.DefaultPassword)
	if err != nil {
		t.Fatal(err)
	}
	tokens := &memTokens{d: d, tok: tok}
	sb.ExpireAccessTokens()
	if _, err := d.Account(ctx, tokens); err != nil {
		t.Fatalf("account after refresh: %v", err)
	}
	rotated := tokens.current()
	if rotated.RefreshToken == tok.RefreshToken || rotated.RefreshToken == "" {
		t.Fatal("refresh token not rotated")
	}
	// The persisted rotated token works for the next refresh…
	next, err := d.RefreshGrant(ctx, rotated.RefreshToken)
	if err != nil {
		t.Fatalf("refresh with rotated token: %v", err)
	}
	// …reusing the first one is theft: invalid_grant, family revoked.
	_, err = d.RefreshGrant(ctx, tok.RefreshToken)
	if !errors.Is(err, integrations.ErrReconnectNeeded) {
		t.Fatalf("reuse: %v, want ErrReconnectNeeded", err)
	}
	if _, err := d.RefreshGrant(ctx, next.RefreshToken); !errors.Is(err, integrations.ErrReconnectNeeded) {
		t.Fatalf("family not revoked: %v", err)
	}
	if _, err := d.Account(ctx, &memTokens{d: d, tok: next}); !errors.Is(err, integrations.ErrReconnectNeeded) {
		t.Fatalf("access token of a revoked family still works: %v", err)
	}
}

// ---- API ----

func TestEnrollmentsAcrossPages(t *testing.T) {
	t.Parallel()
	sb, base := startSandbox(t, sandbox.Options{})
	d := newDocebo(t, base, map[string]string{docebo.SettingPageSize: "10"}, docebo.Options{})
	ctx := context.Background()
	tok, err := d.PasswordGrant(ctx, "ada", sandbox.DefaultPassword)
	if err != nil {
		t.Fatal(err)
	}
	before := sb.APICalls()
	courses, err := d.Courses(ctx, &memTokens{d: d, tok: tok})
	if err != nil {
		t.Fatal(err)
	}
	if len(courses) != 30 {
		t.Fatalf("got %d courses, want 30", len(courses))
	}
	if calls := sb.APICalls() - before; calls != 4 {
		t.Fatalf("API calls = %d, want 1 session + 3 pages", calls)
	}
	statuses := map[string]int{}
	for _, c := range courses {
		statuses[c.Status]++
		if c.Integration != "docebo" || c.ID == "" || c.Title == "" || c.Thumbnail == "" {
			t.Fatalf("incomplete course %+v", c)
		}
		if lp, ok := strings.CutPrefix(c.ID, "lp-"); ok {
			if c.Type != "learning_plan" || !strings.HasPrefix(c.URL, base+"/learn/learning-plans/"+lp+"/") {
				t.Fatalf("learning plan %+v", c)
			}
		} else if !strings.HasPrefix(c.URL, base+"/learn/course/"+c.ID) && !strings.HasPrefix(c.URL, base+"/learn/courses/"+c.ID+"/") {
			t.Fatalf("course URL %q", c.URL)
		}
		switch c.Status {
		case "not_started":
			if c.Progress == nil || *c.Progress != 0 {
				t.Fatalf("not started progress %v", c.Progress)
			}
		case "completed":
			if c.Progress == nil || *c.Progress != 100 {
				t.Fatalf("completed progress %v", c.Progress)
			}
		case "in_progress":
			if c.Progress == nil || *c.Progress <= 0 || *c.Progress >= 100 {
				t.Fatalf("in-progress progress %v", c.Progress)
			}
		}
	}
	for _, s := range []string{"not_started", "in_progress", "completed", "suspended"} {
		if statuses[s] == 0 {
			t.Fatalf("no %s course in %v", s, statuses)
		}
	}
	if courses[0].Title != "Go Fundamentals" || courses[0].URL != base+"/learn/course/1001/go-fundamentals" {
		t.Fatalf("first course %+v", courses[0])
	}
}

func TestRetryAfterThenSuccess(t *testing.T) {
	sb, base := startSandbox(t, sandbox.Options{RetryAfter: time.Second})
	d := newDocebo(t, base, nil, docebo.Options{})
	ctx := context.Background()
	tok, err := d.PasswordGrant(ctx, "ada", sandbox.DefaultPassword)
	if err != nil {
		t.Fatal(err)
	}
	tokens := &memTokens{d: d, tok: tok}
	sb.FailNext(1, http.StatusTooManyRequests)
	before := sb.APICalls()
	start := time.Now()
	res, err := d.Search(ctx, tokens, "go", 10)
	if err != nil {
		t.Fatalf("search after 429: %v", err)
	}
	if waited := time.Since(start); waited < time.Second {
		t.Fatalf("retried after %v, before Retry-After (1s)", waited)
	}
	if len(res) == 0 || sb.APICalls()-before != 1 {
		t.Fatalf("results %d, handler calls %d", len(res), sb.APICalls()-before)
	}

	// Retries run out: RateLimitError carrying the status.
	short := newDocebo(t, base, nil, docebo.Options{MaxRetryWait: 1500 * time.Millisecond})
	sb.FailNext(5, http.StatusServiceUnavailable)
	_, err = short.Search(ctx, tokens, "go", 10)
	var rl *integrations.RateLimitError
	if !errors.As(err, &rl) || rl.Status != 503 || rl.RetryAfter != time.Second {
		t.Fatalf("exhausted retries: %v", err)
	}

	// A context deadline shorter than Retry-After gives up at once.
	sb.FailNext(5, http.StatusTooManyRequests)
	dctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_, err = d.Search(dctx, tokens, "go", 10)
	if !errors.As(err, &rl) || rl.Status != 429 {
		t.Fatalf("deadline: %v", err)
	}
	sb.FailNext(0, 0)

	// The sandbox's rate-limit mode answers 429 with Retry-After too.
	sb.SetRateLimit(1, time.Hour)
	if _, err = short.Search(ctx, tokens, "go", 10); err != nil {
		t.Fatalf("first search within the limit: %v", err)
	}
	_, err = short.Search(ctx, tokens, "go", 10)
	if !errors.As(err, &rl) || rl.Status != 429 || rl.RetryAfter < time.Minute {
		t.Fatalf("rate-limit mode: %v", err)
	}
}

func TestSearchRanking(t *testing.T) {
	t.Parallel()
	_, base := startSandbox(t, sandbox.Options{})
	d := newDocebo(t, base, nil, docebo.Options{})
	ctx := context.Background()
	tok, err := d.PasswordGrant(ctx, "ada", sandbox.DefaultPassword)
	if err != nil {
		t.Fatal(err)
	}
	res, err := d.Search(ctx, &memTokens{d: d, tok: tok}, "Go", 50)
	if err != nil {
		t.Fatal(err)
	}
	rank := map[string]int{}
	for i, r := range res {
		if r.Kind != "course" || r.Integration != "docebo" || r.Score <= 0 || r.Score > 1 || r.URL == "" {
			t.Fatalf("bad result %+v", r)
		}
		if i > 0 && res[i-1].Score < r.Score {
			t.Fatal("results not sorted by score")
		}
		rank[r.Title] = i
	}
	gf, ok1 := rank["Go Fundamentals"]
	gw, ok2 := rank["Google Workspace Tips"]
	if !ok1 || !ok2 || gf > gw {
		t.Fatalf("Go Fundamentals (%d) should rank above Google Workspace Tips (%d)", gf, gw)
	}
	if strings.Contains(res[0].Snippet, "<p>") {
		t.Fatalf("snippet keeps HTML: %q", res[0].Snippet)
	}
	if r, _ := d.Search(ctx, &memTokens{d: d, tok: tok}, "  ", 5); len(r) != 0 {
		t.Fatal("blank query returned results")
	}
}

// TestLearningPlansShareIDsWithCourses: Docebo numbers courses and
// learning plans separately, so ada's course 1001 and learning plan 1001 are
// two enrollments; both are listed, the plan as "lp-1001" linking to the
// learning-plan page, and a sign-in link to it lands there.
func TestLearningPlansShareIDsWithCourses(t *testing.T) {
	t.Parallel()
	sb, base := startSandbox(t, sandbox.Options{})
	d := newDocebo(t, base, nil, docebo.Options{})
	ctx := context.Background()
	tok, err := d.PasswordGrant(ctx, "ada", sandbox.DefaultPassword)
	if err != nil {
		t.Fatal(err)
	}
	mt := &memTokens{d: d, tok: tok}
	courses, err := d.Courses(ctx, mt)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]integrations.Course{}
	for _, c := range courses {
		if _, dup := byID[c.ID]; dup {
			t.Fatalf("id %q twice", c.ID)
		}
		byID[c.ID] = c
	}
	if len(courses) != 30 {
		t.Fatalf("got %d enrollments, want 30 (course 1001 and learning plan 1001 are two)", len(courses))
	}
	if c := byID["1001"]; c.Title != "Go Fundamentals" || c.URL != base+"/learn/course/1001/go-fundamentals" {
		t.Fatalf("course 1001: %+v", c)
	}
	lp := byID["lp-1001"]
	if lp.Title != "Go Developer Path" || lp.Type != "learning_plan" || lp.URL != base+"/learn/learning-plans/1001/go-developer-path" {
		t.Fatalf("learning plan 1001: %+v", lp)
	}
	// The plan's own url, when the platform sends one, is kept.
	if lp2 := byID["lp-1002"]; lp2.Title != "Security Champion Path" || lp2.URL != base+"/learn/learning-plans/1002/security-champion-path" {
		t.Fatalf("learning plan 1002: %+v", lp2)
	}
	if d.CourseURL("lp-1001", "") != base+"/learn/learning-plans/1001" || d.CourseURL("1001", "") != base+"/learn/course/1001" {
		t.Fatalf("CourseURL: %s %s", d.CourseURL("lp-1001", ""), d.CourseURL("1001", ""))
	}

	// Signed-in links: the plan's id opens the plan, the course's the course.
	priv, pubPEM, err := docebo.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.AddJWTKeyPEM(pubPEM); err != nil {
		t.Fatal(err)
	}
	src := jwtSignIn{mt, func(ctx context.Context) (*oauth2.Token, error) { return d.JWTBearerGrant(ctx, priv, "ada") }}
	for id, want := range map[string][2]string{
		"lp-1001": {"/learn/learning-plans/1001;type=oauth2_response;", "Learning plan 1001"},
		"1001":    {"/learn/course/1001;type=oauth2_response;", "Course 1001"},
	} {
		link, err := d.SignInURL(ctx, src, id)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(link, base+want[0]) {
			t.Fatalf("%s: link %q", id, strings.SplitN(link, "access_token=", 2)[0])
		}
		if st, body, _ := get(t, http.DefaultClient, link); st != 200 || !strings.Contains(body, want[1]) {
			t.Fatalf("%s: %d %s", id, st, body)
		}
	}
	if _, err := d.SignInURL(ctx, src, "lp-"); err == nil {
		t.Fatal(`target "lp-" accepted`)
	}
}

// TestSearchFallsBackToCatalog: a learner's token may get 403 on
// /learn/v1/courses; search then uses the learner's own catalogs, with
// learning plans, and only what the user may open.
func TestSearchFallsBackToCatalog(t *testing.T) {
	t.Parallel()
	clk := newClock()
	sb, base := startSandbox(t, sandbox.Options{ForbidLearnerCourseList: true, Now: clk.Now})
	d := newDocebo(t, base, nil, docebo.Options{Now: clk.Now})
	ctx := context.Background()
	search := func(user, q string) map[string]integrations.SearchResult {
		t.Helper()
		tok, err := d.PasswordGrant(ctx, user, sandbox.DefaultPassword)
		if err != nil {
			t.Fatal(err)
		}
		res, err := d.Search(ctx, &memTokens{d: d, tok: tok}, q, 50)
		if err != nil {
			t.Fatalf("search as %s: %v", user, err)
		}
		byTitle := map[string]integrations.SearchResult{}
		for i, r := range res {
			if r.Integration != "docebo" || r.Score <= 0 || r.Score > 1 || (i > 0 && res[i-1].Score < r.Score) {
				t.Fatalf("bad or unsorted result %+v", r)
			}
			if !strings.Contains(strings.ToLower(r.Title+" "+r.Snippet), strings.ToLower(q)) {
				t.Fatalf("result %q does not match %q", r.Title, q)
			}
			byTitle[r.Title] = r
		}
		return byTitle
	}
	before := sb.APICalls()
	got := search("ada", "go")
	if r := got["Go Fundamentals"]; r.ID != "1001" || r.Kind != "course" || r.URL != base+"/learn/course/1001" {
		t.Fatalf("Go Fundamentals: %+v in %v", r, got)
	}
	if r := got["Go Developer Path"]; r.ID != "lp-1001" || r.Kind != "course" || r.URL != base+"/learn/learning-plans/1001" {
		t.Fatalf("Go Developer Path: %+v", r)
	}
	if _, ok := got["Going Global: Cross-Cultural Communication"]; ok {
		t.Fatal("a course of a catalog not assigned to ada was found")
	}
	if _, ok := got["Go Internals (draft)"]; ok {
		t.Fatal("an unpublished course was found")
	}
	if n := sb.APICalls() - before; n != 2 {
		t.Fatalf("first search: %d API calls, want 2 (the 403, then the catalog)", n)
	}
	// The 403 is remembered: the next search asks the catalog alone.
	before = sb.APICalls()
	if got := search("grace", "go"); got["Going Global: Cross-Cultural Communication"].ID != "1048" {
		t.Fatalf("grace's Managers catalog not searched: %v", got)
	}
	if n := sb.APICalls() - before; n != 1 {
		t.Fatalf("second search: %d API calls, want 1", n)
	}
	// Once the platform lets learners list courses again, it is used again.
	sb.SetForbidLearnerCourseList(false)
	clk.Advance(11 * time.Minute)
	if got := search("ada", "go"); got["Go Fundamentals"].URL != base+"/learn/course/1001/go-fundamentals" {
		t.Fatalf("course list not used again: %v", got["Go Fundamentals"])
	}
}

// TestSearchSkipsUnpublished: an admin's course list holds unpublished
// courses; search does not offer them.
func TestSearchSkipsUnpublished(t *testing.T) {
	t.Parallel()
	_, base := startSandbox(t, sandbox.Options{})
	d := newDocebo(t, base, nil, docebo.Options{})
	ctx := context.Background()
	tok, err := d.PasswordGrant(ctx, "admin", sandbox.DefaultPassword)
	if err != nil {
		t.Fatal(err)
	}
	res, err := d.Search(ctx, &memTokens{d: d, tok: tok}, "Go", 50)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range res {
		if r.ID == "1051" {
			t.Fatalf("unpublished course offered: %+v", r)
		}
		found = found || r.Title == "Go Fundamentals"
	}
	if !found {
		t.Fatalf("Go Fundamentals not found in %v", res)
	}
}

// ---- sign-in links ----

// jwtSignIn mints sign-in tokens with the JWT-bearer grant, leaving the
// stored token alone.
type jwtSignIn struct {
	*memTokens
	mint func(context.Context) (*oauth2.Token, error)
}

func (j jwtSignIn) SignInToken(ctx context.Context) (*oauth2.Token, error) { return j.mint(ctx) }

func TestSignInTokenExchange(t *testing.T) {
	t.Parallel()
	clk := newClock()
	_, base := startSandbox(t, sandbox.Options{Now: clk.Now})
	d := newDocebo(t, base, map[string]string{docebo.SettingSignIn: docebo.SignInTokenExchange}, docebo.Options{Now: clk.Now})
	ctx := context.Background()
	tok, err := d.PasswordGrant(ctx, "ada", sandbox.DefaultPassword)
	if err != nil {
		t.Fatal(err)
	}
	tokens := &memTokens{d: d, tok: tok}
	link, err := d.SignInURL(ctx, tokens, "1002")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(link, base+"/learn/signin;type=token_exchange;exchange_token=") || strings.Contains(link, tok.AccessToken) || strings.Contains(link, "?") {
		t.Fatalf("link %q", link)
	}
	st, body, _ := get(t, http.DefaultClient, link)
	if st != 200 || !strings.Contains(body, "Signed in as Ada Lovelace (ada)") || !strings.Contains(body, "Concurrency in Go") {
		t.Fatalf("first use: %d %s", st, body)
	}
	if st, _, _ := get(t, http.DefaultClient, link); st != http.StatusUnauthorized {
		t.Fatalf("second use: %d, want 401", st)
	}
	// Unused for more than 30 seconds: refused.
	link2, err := d.SignInURL(ctx, tokens, "")
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(31 * time.Second)
	if st, body, _ := get(t, http.DefaultClient, link2); st != http.StatusUnauthorized || !strings.Contains(body, "expired") {
		t.Fatalf("expired exchange token: %d %s", st, body)
	}
}

// TestSignInTokenExchangeNotOffered: the exchange-token endpoint is
// latchkey's guess; a platform without it answers 404, and the error says
// what to set instead.
func TestSignInTokenExchangeNotOffered(t *testing.T) {
	t.Parallel()
	_, base := startSandbox(t, sandbox.Options{DisableExchangeToken: true})
	d := newDocebo(t, base, map[string]string{docebo.SettingSignIn: docebo.SignInTokenExchange}, docebo.Options{})
	ctx := context.Background()
	tok, err := d.PasswordGrant(ctx, "ada", sandbox.DefaultPassword)
	if err != nil {
		t.Fatal(err)
	}
	link, err := d.SignInURL(ctx, &memTokens{d: d, tok: tok}, "1002")
	if err == nil {
		t.Fatalf("link %q from a platform without the endpoint", link)
	}
	var pe *integrations.ProviderError
	msg := err.Error()
	if !errors.Is(err, docebo.ErrExchangeUnsupported) || !errors.As(err, &pe) || pe.Status != 404 ||
		!strings.Contains(msg, "does not offer exchange tokens") || !strings.Contains(msg, "set signin = oauth2_response") ||
		strings.Contains(msg, "\n") || strings.Contains(msg, tok.AccessToken) {
		t.Fatalf("error: %v", err)
	}
}

func TestSignInOAuth2Response(t *testing.T) {
	t.Parallel()
	sb, base := startSandbox(t, sandbox.Options{})
	d := newDocebo(t, base, nil, docebo.Options{})
	ctx := context.Background()
	priv, pubPEM, err := docebo.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.AddJWTKeyPEM(pubPEM); err != nil {
		t.Fatal(err)
	}
	stored, err := d.PasswordGrant(ctx, "ada", sandbox.DefaultPassword)
	if err != nil {
		t.Fatal(err)
	}
	mt := &memTokens{d: d, tok: stored}

	if _, err := d.SignInURL(ctx, mt, "1001"); !errors.Is(err, docebo.ErrSignInUnavailable) {
		t.Fatalf("without a SignInTokenSource: %v", err)
	}
	reuse := jwtSignIn{mt, func(context.Context) (*oauth2.Token, error) { return mt.current(), nil }}
	if _, err := d.SignInURL(ctx, reuse, "1001"); err == nil {
		t.Fatal("the stored token was put in a link")
	}

	src := jwtSignIn{mt, func(ctx context.Context) (*oauth2.Token, error) { return d.JWTBearerGrant(ctx, priv, "ada") }}
	link, err := d.SignInURL(ctx, src, base+"/learn/course/1001/go-fundamentals")
	if err != nil {
		t.Fatal(err)
	}
	prefix := base + "/learn/course/1001/go-fundamentals;type=oauth2_response;access_token="
	if !strings.HasPrefix(link, prefix) || !strings.HasSuffix(link, ";token_type=Bearer;scope=api") ||
		!regexp.MustCompile(`;expires_in=\d+;`).MatchString(link) || strings.Contains(link, stored.AccessToken) {
		t.Fatalf("link %q", link)
	}
	st, body, _ := get(t, http.DefaultClient, link)
	if st != 200 || !strings.Contains(body, "Signed in as Ada Lovelace (ada)") || !strings.Contains(body, "Go Fundamentals") {
		t.Fatalf("sign-in page: %d %s", st, body)
	}
	bad := strings.Replace(link, "access_token=", "access_token=0", 1)
	if st, _, _ := get(t, http.DefaultClient, bad); st != http.StatusUnauthorized {
		t.Fatalf("bad token: %d", st)
	}
	for _, target := range []string{"https://evil.example/learn/x", "/admin", "1;x", "/learn/../admin"} {
		if _, err := d.SignInURL(ctx, src, target); err == nil {
			t.Fatalf("target %q accepted", target)
		}
	}
}

// ---- configuration ----

func TestFactoryValidation(t *testing.T) {
	t.Parallel()
	good := integrations.Config{Name: "docebo", BaseURL: "https://acme.docebosaas.com/", ClientID: "c", Secret: "s"}
	in, err := docebo.Factory(good)
	if err != nil {
		t.Fatal(err)
	}
	d := in.(*docebo.Docebo)
	if d.BaseURL().String() != "https://acme.docebosaas.com" || d.Audience() != "acme.docebosaas.com" || d.Name() != "docebo" {
		t.Fatalf("base %v aud %v", d.BaseURL(), d.Audience())
	}
	cfg := d.OAuth2Config("http://127.0.0.1:7788/docebo/connected")
	if cfg.Endpoint.AuthURL != "https://acme.docebosaas.com/oauth2/authorize" || cfg.Endpoint.TokenURL != "https://acme.docebosaas.com/oauth2/token" ||
		cfg.Endpoint.AuthStyle != oauth2.AuthStyleInParams || len(cfg.Scopes) != 1 || cfg.Scopes[0] != "api" || cfg.ClientSecret != "s" {
		t.Fatalf("oauth2 config %+v", cfg.Endpoint)
	}
	if len(d.Grants()) != 5 {
		t.Fatalf("grants %v", d.Grants())
	}
	bad := []integrations.Config{
		{BaseURL: "http://acme.docebosaas.com", ClientID: "c"},
		{BaseURL: "https://acme.docebosaas.com", ClientID: ""},
		{BaseURL: "https://acme.docebosaas.com", ClientID: "c", Settings: map[string]string{"signin": "cookie"}},
		{BaseURL: "https://acme.docebosaas.com", ClientID: "c", Settings: map[string]string{"page_size": "0"}},
		{BaseURL: "https://acme.docebosaas.com", ClientID: "c", Settings: map[string]string{"grants": "password,implicit"}},
		{BaseURL: "https://acme.docebosaas.com", ClientID: "c", Settings: map[string]string{"exchange_token_path": "http://x/y"}},
	}
	for _, c := range bad {
		if _, err := docebo.Factory(c); err == nil {
			t.Errorf("config %+v accepted", c)
		}
	}
	d2, err := docebo.New(integrations.Config{BaseURL: "http://localhost:8801", ClientID: "c",
		Settings: map[string]string{"grants": "authorization_code, jwt_bearer"}}, docebo.Options{})
	if err != nil || len(d2.Grants()) != 2 || d2.Grants()[1] != integrations.GrantJWTBearer {
		t.Fatalf("grants setting: %v %v", d2, err)
	}
}

func TestNormalizeStatus(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"subscribed": "not_started", "Enrolled": "not_started", "waiting": "not_started", "not_started": "not_started",
		"in_progress": "in_progress", "In Progress": "in_progress", "1": "in_progress",
		"completed": "completed", "2": "completed", "suspended": "suspended", "overbooking": "overbooking",
	} {
		if got := docebo.NormalizeStatus(in); got != want {
			t.Errorf("NormalizeStatus(%q) = %q, want %q", in, got, want)
		}
	}
}

func BenchmarkCourses(b *testing.B) {
	sb := sandbox.New(sandbox.Options{})
	ts := httptest.NewServer(sb)
	defer ts.Close()
	d, err := docebo.New(integrations.Config{BaseURL: ts.URL, ClientID: sandbox.DefaultClientID, Secret: sandbox.DefaultClientSecret,
		Settings: map[string]string{docebo.SettingPageSize: "10"}}, docebo.Options{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	tok, err := d.PasswordGrant(ctx, "ada", sandbox.DefaultPassword)
	if err != nil {
		b.Fatal(err)
	}
	tokens := &memTokens{d: d, tok: tok}
	b.ReportAllocs()
	for b.Loop() {
		if cs, err := d.Courses(ctx, tokens); err != nil || len(cs) != 30 {
			b.Fatalf("%d %v", len(cs), err)
		}
	}
}

// refusedTokens is memTokens that records what the client reports as
// refused after a refresh (integrations.RefusedTokens).
type refusedTokens struct {
	*memTokens
	refused []string
}

func (r *refusedTokens) Refused(tok *oauth2.Token) { r.refused = append(r.refused, tok.AccessToken) }

// A path that answers 401 to every token costs one refresh, and the client
// reports the refreshed token as refused too, so the daemon's token manager
// does not refresh again for the next call (one refresh per token).
func TestAlways401ReportsTheRefreshedTokenRefused(t *testing.T) {
	t.Parallel()
	sb, base := startSandbox(t, sandbox.Options{RotateRefresh: true})
	d := newDocebo(t, base, nil, docebo.Options{})
	tok, err := d.PasswordGrant(context.Background(), "ada", sandbox.DefaultPassword)
	if err != nil {
		t.Fatal(err)
	}
	tokens := &refusedTokens{memTokens: &memTokens{d: d, tok: tok}}
	before := sb.GrantCalls("refresh_token")
	if err := d.GetForTest(context.Background(), tokens, "/manage/v1/sandbox/refused"); err == nil {
		t.Fatal("an always-401 path answered without an error")
	}
	if got := sb.GrantCalls("refresh_token") - before; got != 1 {
		t.Fatalf("refreshes: %d, want 1", got)
	}
	if len(tokens.refused) != 1 || tokens.refused[0] != tokens.tok.AccessToken {
		t.Fatalf("the refreshed token was not reported refused (%d reports)", len(tokens.refused))
	}
}

// staticTokens always hands out one token and has nothing to refresh it
// with (Refresh gives it back), counting the refreshes asked for.
type staticTokens struct {
	tok       string
	refreshes atomic.Int32
}

func (s *staticTokens) Token(context.Context) (*oauth2.Token, error) {
	return &oauth2.Token{AccessToken: s.tok}, nil
}

func (s *staticTokens) Refresh(_ context.Context, rejected *oauth2.Token) (*oauth2.Token, error) {
	s.refreshes.Add(1)
	return rejected, nil
}

// The API client follows no redirect, same origin or not: the bearer token
// never reaches the redirect's target, and the 3xx is the answer.
func TestAPIClientFollowsNoRedirect(t *testing.T) {
	t.Parallel()
	var reached atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/elsewhere", func(w http.ResponseWriter, r *http.Request) { reached.Add(1) })
	mux.HandleFunc("/manage/v1/moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	d := newDocebo(t, srv.URL, nil, docebo.Options{})
	err := d.GetForTest(context.Background(), &staticTokens{tok: "tok-1234"}, "/manage/v1/moved")
	var pe *integrations.ProviderError
	if !errors.As(err, &pe) || pe.Status != http.StatusFound {
		t.Fatalf("redirect: %v, want a ProviderError 302", err)
	}
	if reached.Load() != 0 {
		t.Fatal("the API client followed a redirect")
	}
}

// A 401 on a token that Refresh hands back unchanged goes back after one
// request: there is nothing new to retry with.
func TestAPIClientDoesNotResendARefusedTokenItCannotRefresh(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"message":"Invalid token"}`)
	}))
	defer srv.Close()
	d := newDocebo(t, srv.URL, nil, docebo.Options{})
	tokens := &staticTokens{tok: "tok-1234"}
	err := d.GetForTest(context.Background(), tokens, "/manage/v1/user/session")
	var pe *integrations.ProviderError
	if !errors.As(err, &pe) || pe.Status != http.StatusUnauthorized {
		t.Fatalf("err %v, want a ProviderError 401", err)
	}
	if calls.Load() != 1 || tokens.refreshes.Load() != 1 {
		t.Fatalf("%d requests and %d refreshes, want 1 and 1", calls.Load(), tokens.refreshes.Load())
	}
}
