package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

const testRedirect = "http://127.0.0.1:1/cb" // never dialled: redirects are not followed there

type rp struct {
	t   *testing.T
	p   *Provider
	cfg *oauth2.Config
	hc  *http.Client // cookie jar, stops at the redirect URI
	ctx context.Context
}

func newRP(t *testing.T, o Options, style oauth2.AuthStyle) *rp {
	t.Helper()
	if o.Clients == nil {
		o.Clients = []Client{{ID: DefaultClientID, Secret: DefaultClientSecret, RedirectURIs: []string{testRedirect}}}
	}
	p, err := Start("127.0.0.1:0", o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(r *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(r.URL.String(), testRedirect) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	ctx := oidc.ClientContext(context.Background(), hc)
	prov, err := oidc.NewProvider(ctx, p.Issuer())
	if err != nil {
		t.Fatal(err)
	}
	ep := prov.Endpoint()
	ep.AuthStyle = style
	return &rp{t: t, p: p, hc: hc, ctx: context.WithValue(ctx, oauth2.HTTPClient, hc), cfg: &oauth2.Config{
		ClientID: DefaultClientID, ClientSecret: DefaultClientSecret, Endpoint: ep, RedirectURL: testRedirect,
		Scopes: []string{oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess},
	}}
}

// authorize opens the authorization URL and, when the login form shows,
// submits username/password; it returns the redirect's query.
func (r *rp) authorize(authURL, username, password string) (url.Values, bool) {
	r.t.Helper()
	resp, err := r.hc.Get(authURL)
	if err != nil {
		r.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	sawForm := false
	if resp.StatusCode == http.StatusOK && strings.Contains(string(body), `name="password"`) {
		sawForm = true
		id := resp.Request.URL.Query().Get("authRequestID")
		resp, err = r.hc.PostForm(r.p.Issuer()+"/login", url.Values{"authRequestID": {id}, "username": {username}, "password": {password}})
		if err != nil {
			r.t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if resp.StatusCode != http.StatusFound {
		r.t.Fatalf("authorize ended with %d: %s", resp.StatusCode, body)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(loc.String(), testRedirect) {
		r.t.Fatalf("redirect to %q", resp.Header.Get("Location"))
	}
	return loc.Query(), sawForm
}

// login runs the code flow and returns the token response.
func (r *rp) login(username, password string) (*oauth2.Token, string) {
	r.t.Helper()
	verifier, nonce := oauth2.GenerateVerifier(), "n-"+randomID(8)
	q, _ := r.authorize(r.cfg.AuthCodeURL("st-1", oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), username, password)
	if q.Get("state") != "st-1" || q.Get("code") == "" {
		r.t.Fatalf("redirect query %v", q)
	}
	tok, err := r.cfg.Exchange(r.ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		r.t.Fatalf("exchange: %v", err)
	}
	return tok, nonce
}

func (r *rp) verify(tok *oauth2.Token) *oidc.IDToken {
	r.t.Helper()
	raw, _ := tok.Extra("id_token").(string)
	prov, err := oidc.NewProvider(r.ctx, r.p.Issuer())
	if err != nil {
		r.t.Fatal(err)
	}
	idt, err := prov.Verifier(&oidc.Config{ClientID: DefaultClientID}).Verify(r.ctx, raw)
	if err != nil {
		r.t.Fatalf("verify ID token: %v", err)
	}
	return idt
}

func oauthCode(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return ""
}

func TestDiscovery(t *testing.T) {
	t.Parallel()
	r := newRP(t, Options{}, oauth2.AuthStyleInHeader)
	resp, err := http.Get(r.p.Issuer() + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d struct {
		Issuer      string   `json:"issuer"`
		JWKS        string   `json:"jwks_uri"`
		EndSession  string   `json:"end_session_endpoint"`
		AuthMethods []string `json:"token_endpoint_auth_methods_supported"`
		PKCE        []string `json:"code_challenge_methods_supported"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		t.Fatal(err)
	}
	if d.Issuer != r.p.Issuer() || d.JWKS == "" || d.EndSession == "" ||
		!slices.Contains(d.AuthMethods, "client_secret_basic") || !slices.Contains(d.AuthMethods, "client_secret_post") ||
		!slices.Contains(d.PKCE, "S256") {
		t.Fatalf("discovery %+v", d)
	}
}

func TestCodeFlowClaimsAndSSO(t *testing.T) {
	t.Parallel()
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
		r := newRP(t, Options{}, style)
		tok, nonce := r.login("alice", "alice-password")
		idt := r.verify(tok)
		var c struct {
			Name   string   `json:"name"`
			Email  string   `json:"email"`
			Groups []string `json:"groups"`
		}
		if err := idt.Claims(&c); err != nil {
			t.Fatal(err)
		}
		if idt.Subject != "u-alice-0001" || idt.Nonce != nonce || c.Name != "Alice Liddell" || c.Email != "alice@example.test" ||
			!slices.Equal(c.Groups, []string{"staff", "learners"}) {
			t.Fatalf("ID token sub=%s nonce=%s claims=%+v", idt.Subject, idt.Nonce, c)
		}
		if tok.RefreshToken == "" {
			t.Fatal("no refresh token for offline_access")
		}
		st := r.p.Stats()
		if style == oauth2.AuthStyleInHeader && (st.TokenBasic != 1 || st.TokenPost != 0) ||
			style == oauth2.AuthStyleInParams && (st.TokenPost != 1 || st.TokenBasic != 0) {
			t.Fatalf("auth style %v counted %+v", style, st)
		}
		if la := r.p.LastAuthRequest(); la.CodeChallengeMethod != "S256" || la.Nonce != nonce {
			t.Fatalf("last auth request %+v", la)
		}
		// The browser session signs the next request in without the form.
		_, sawForm := r.authorize(r.cfg.AuthCodeURL("st-2", oidc.Nonce("n2"), oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), "", "")
		if sawForm || r.p.Stats().SSOLogins != 1 {
			t.Fatalf("second sign-in: form shown=%v stats %+v", sawForm, r.p.Stats())
		}
	}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	r := newRP(t, Options{}, oauth2.AuthStyleInHeader)
	// No PKCE, then PKCE "plain", then no nonce: refused at the authorization endpoint.
	for i, opts := range [][]oauth2.AuthCodeOption{
		{oidc.Nonce("n")},
		{oidc.Nonce("n"), oauth2.SetAuthURLParam("code_challenge", "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrs"), oauth2.SetAuthURLParam("code_challenge_method", "plain")},
		{oauth2.S256ChallengeOption(oauth2.GenerateVerifier())},
	} {
		resp, err := r.hc.Get(r.cfg.AuthCodeURL("s", opts...))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusFound || loc == nil || loc.Query().Get("error") != "invalid_request" {
			t.Fatalf("case %d: %d %q", i, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	if st := r.p.Stats(); st.Refused < 2 || st.Authorize != 0 {
		t.Fatalf("stats %+v", st)
	}

	// A wrong code_verifier, then a reused code.
	verifier := oauth2.GenerateVerifier()
	q, _ := r.authorize(r.cfg.AuthCodeURL("s", oidc.Nonce("n"), oauth2.S256ChallengeOption(verifier)), "bob", "bob-password")
	if _, err := r.cfg.Exchange(r.ctx, q.Get("code"), oauth2.VerifierOption(oauth2.GenerateVerifier())); oauthCode(err) != "invalid_grant" {
		t.Fatalf("wrong verifier: %v", err)
	}
	q, _ = r.authorize(r.cfg.AuthCodeURL("s", oidc.Nonce("n"), oauth2.S256ChallengeOption(verifier)), "", "")
	if _, err := r.cfg.Exchange(r.ctx, q.Get("code"), oauth2.VerifierOption(verifier)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.cfg.Exchange(r.ctx, q.Get("code"), oauth2.VerifierOption(verifier)); oauthCode(err) != "invalid_grant" {
		t.Fatalf("reused code: %v", err)
	}

	// A wrong client secret.
	bad := *r.cfg
	bad.ClientSecret = "wrong"
	q, _ = r.authorize(r.cfg.AuthCodeURL("s", oidc.Nonce("n"), oauth2.S256ChallengeOption(verifier)), "", "")
	if _, err := bad.Exchange(r.ctx, q.Get("code"), oauth2.VerifierOption(verifier)); oauthCode(err) != "invalid_client" {
		t.Fatalf("wrong secret: %v", err)
	}
}

func TestWrongPasswordShowsFormAgain(t *testing.T) {
	t.Parallel()
	r := newRP(t, Options{}, oauth2.AuthStyleInHeader)
	resp, err := r.hc.Get(r.cfg.AuthCodeURL("s", oidc.Nonce("n"), oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	id := resp.Request.URL.Query().Get("authRequestID")
	resp, err = r.hc.PostForm(r.p.Issuer()+"/login", url.Values{"authRequestID": {id}, "username": {"alice"}, "password": {"nope"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(b), "Wrong username or password") || r.p.Stats().FailedLogins != 1 {
		t.Fatalf("wrong password: %d %s", resp.StatusCode, b)
	}
}

func TestAuthMethodRestriction(t *testing.T) {
	t.Parallel()
	o := Options{Clients: []Client{{ID: DefaultClientID, Secret: DefaultClientSecret, RedirectURIs: []string{testRedirect}, AuthMethod: AuthMethodPost}}}
	r := newRP(t, o, oauth2.AuthStyleInHeader)
	verifier := oauth2.GenerateVerifier()
	q, _ := r.authorize(r.cfg.AuthCodeURL("s", oidc.Nonce("n"), oauth2.S256ChallengeOption(verifier)), "alice", "alice-password")
	if _, err := r.cfg.Exchange(r.ctx, q.Get("code"), oauth2.VerifierOption(verifier)); oauthCode(err) != "invalid_client" {
		t.Fatalf("basic on a post-only client: %v", err)
	}
	r.cfg.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	if _, err := r.cfg.Exchange(r.ctx, q.Get("code"), oauth2.VerifierOption(verifier)); err != nil {
		t.Fatalf("post: %v", err)
	}
}

func TestRefreshRotatesAndKeyRotation(t *testing.T) {
	t.Parallel()
	for _, keepOld := range []bool{true, false} {
		r := newRP(t, Options{}, oauth2.AuthStyleInHeader)
		tok, _ := r.login("alice", "alice-password")
		oldKid := r.p.KeyIDs()[0]
		newKid, err := r.p.Rotate(keepOld)
		if err != nil {
			t.Fatal(err)
		}
		if want := map[bool]int{true: 2, false: 1}[keepOld]; len(r.p.KeyIDs()) != want || r.p.KeyIDs()[0] != newKid || newKid == oldKid {
			t.Fatalf("keepOld=%v: kids %v", keepOld, r.p.KeyIDs())
		}
		next, err := r.cfg.TokenSource(r.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		if err != nil {
			t.Fatal(err)
		}
		if next.RefreshToken == "" || next.RefreshToken == tok.RefreshToken {
			t.Fatal("the refresh token was not rotated")
		}
		idt := r.verify(next) // a fresh remote key set: finds the new kid
		if idt.Subject != "u-alice-0001" {
			t.Fatalf("sub %q", idt.Subject)
		}
		if _, err := r.cfg.TokenSource(r.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); oauthCode(err) != "invalid_grant" {
			t.Fatalf("reused refresh token: %v", err)
		}
	}
}

func TestEndSessionEndsTheSession(t *testing.T) {
	t.Parallel()
	r := newRP(t, Options{}, oauth2.AuthStyleInHeader)
	tok, _ := r.login("alice", "alice-password")
	if !r.p.SessionActive("u-alice-0001") {
		t.Fatal("no session after login")
	}
	form := url.Values{"id_token_hint": {tok.Extra("id_token").(string)}, "client_id": {DefaultClientID}}
	resp, err := r.hc.Do(mustReq(t, "POST", r.p.Issuer()+"/end_session", form))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 400 || r.p.Stats().EndSessions != 1 {
		t.Fatalf("end_session: %d", resp.StatusCode)
	}
	if r.p.SessionActive("u-alice-0001") {
		t.Fatal("session still active after end_session")
	}
	if _, err := r.cfg.TokenSource(r.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); oauthCode(err) != "invalid_grant" {
		t.Fatalf("refresh after logout: %v", err)
	}
	// The browser must type the password again.
	_, sawForm := r.authorize(r.cfg.AuthCodeURL("s", oidc.Nonce("n"), oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), "alice", "alice-password")
	if !sawForm {
		t.Fatal("signed in without the form after logout")
	}
}

func TestSignAndLoopbackOnly(t *testing.T) {
	t.Parallel()
	if _, err := Start("0.0.0.0:0", Options{}); err == nil {
		t.Fatal("listened on a non-loopback address")
	}
	if _, err := New("https://idp.example.com", Options{}); err == nil {
		t.Fatal("accepted a non-loopback issuer")
	}
	r := newRP(t, Options{}, oauth2.AuthStyleInHeader)
	raw, err := r.p.Sign(map[string]any{"iss": r.p.Issuer(), "aud": DefaultClientID, "sub": "x",
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Minute).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	if idt := r.verify((&oauth2.Token{AccessToken: "a"}).WithExtra(map[string]any{"id_token": raw})); idt.Subject != "x" {
		t.Fatalf("signed token sub %q", idt.Subject)
	}
}

func mustReq(t *testing.T, method, u string, form url.Values) *http.Request {
	req, err := http.NewRequest(method, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}
