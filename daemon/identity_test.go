package daemon

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/client/apitype"
	"github.com/latchkey/latchkey/integrations/docebo/sandbox"
	oidcsandbox "github.com/latchkey/latchkey/integrations/oidc/sandbox"
	"github.com/latchkey/latchkey/internal/testenv"
	"github.com/latchkey/latchkey/vault/store"
)

// idHarness is the daemon harness plus a real OpenID Provider (zitadel's
// op, in-process on loopback) configured as the organisation identity.
type idHarness struct {
	*harness
	idp *oidcsandbox.Provider
}

const aliceSub = "u-alice-0001"

// localAud is the audience configured for provider JWTs at the injector
// (identity.local_audience), distinct from the client id.
const localAud = "latchkey-local-api"

// newIdentityHarness starts a provider and a daemon configured for it with
// the given client authentication method ("" = client_secret_basic).
func newIdentityHarness(t *testing.T, authMethod string) *idHarness {
	t.Helper()
	idp, err := oidcsandbox.Start("127.0.0.1:0", oidcsandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idp.Close() })
	h := newHarness(t, sandbox.Options{})
	err = SaveFileConfig(h.paths.ConfigFile(), func(c *Config) error {
		c.Identity = IdentityConfig{Issuer: idp.Issuer(), ClientID: oidcsandbox.DefaultClientID, AuthMethod: authMethod, LocalAudience: localAud}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.d.SetClientSecret(identityName, oidcsandbox.DefaultClientSecret); err != nil {
		t.Fatal(err)
	}
	h.restart()
	ih := &idHarness{harness: h, idp: idp}
	ih.registerRedirect(authMethod)
	return ih
}

// registerRedirect registers the daemon's redirect URI (its port is only
// known once it listens) at the provider, matched exactly.
func (h *idHarness) registerRedirect(authMethod string) {
	err := h.idp.SetClient(oidcsandbox.Client{ID: oidcsandbox.DefaultClientID, Secret: oidcsandbox.DefaultClientSecret,
		RedirectURIs: []string{"http://" + h.d.listenAddr + "/identity/connected"}, AuthMethod: authMethod})
	if err != nil {
		h.t.Fatal(err)
	}
}

func (h *idHarness) startLogin() apitype.ConnectResponse {
	h.t.Helper()
	resp, err := h.cl.Login(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	if resp.URL == "" || resp.Flow == "" {
		h.t.Fatalf("login answered %+v", resp)
	}
	return *resp
}

// loginHTTP signs in with a plain HTTP client (cookie jar) that fills the
// provider's form and follows every redirect back to the daemon.
func (h *idHarness) loginHTTP(username, password string) {
	h.t.Helper()
	resp := h.startLogin()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 20 * time.Second}
	r, err := hc.Get(resp.URL)
	if err != nil {
		h.t.Fatal(err)
	}
	io.Copy(io.Discard, r.Body)
	r.Body.Close()
	id := r.Request.URL.Query().Get("authRequestID")
	if r.StatusCode != 200 || id == "" {
		h.t.Fatalf("login page: %d %s", r.StatusCode, r.Request.URL)
	}
	r, err = hc.PostForm(h.idp.Issuer()+"/login", url.Values{"authRequestID": {id}, "username": {username}, "password": {password}})
	if err != nil {
		h.t.Fatal(err)
	}
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != 200 || r.Request.URL.Path != "/identity/connected" {
		h.t.Fatalf("after the form: %d at %s: %s", r.StatusCode, r.Request.URL.Path, body)
	}
	if err := h.cl.WaitFlow(context.Background(), resp.Flow); err != nil {
		h.t.Fatalf("login flow: %v", err)
	}
}

func (h *idHarness) identity() *apitype.IdentityStatus {
	h.t.Helper()
	st, err := h.d.StatusDoc(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	if st.Identity == nil {
		h.t.Fatal("status has no identity")
	}
	return st.Identity
}

func (h *idHarness) identityToken() *oauth2.Token {
	h.t.Helper()
	tok, _, err := h.d.vault.LoadToken(context.Background(), identityName)
	if err != nil {
		h.t.Fatal(err)
	}
	return tok
}

// jwtParts decodes a JWT's header and claims without verifying it.
func jwtParts(t *testing.T, raw string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %d parts", len(parts))
	}
	for i, dst := range []*map[string]any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, dst); err != nil {
			t.Fatal(err)
		}
	}
	return header, claims
}

func (h *idHarness) checkSignedInAsAlice() {
	h.t.Helper()
	id := h.identity()
	if !id.SignedIn || id.Subject != aliceSub || id.Name != "Alice Liddell" || id.Email != "alice@example.test" ||
		!slices.Equal(id.Groups, []string{"staff", "learners"}) {
		h.t.Fatalf("identity %+v", id)
	}
	groups, err := h.d.store.GetMeta(context.Background(), "identity_groups")
	if err != nil || groups != "staff\nlearners" {
		h.t.Fatalf("groups %q %v", groups, err)
	}
	// The provider saw PKCE S256 and a nonce, and the ID token carries that nonce.
	last := h.idp.LastAuthRequest()
	if last.CodeChallengeMethod != "S256" || last.Nonce == "" || !slices.Contains(last.Scopes, "offline_access") {
		h.t.Fatalf("authorization request %+v", last)
	}
	tok := h.identityToken()
	_, claims := jwtParts(h.t, tok.Extra("id_token").(string))
	if claims["nonce"] != last.Nonce || claims["sub"] != aliceSub {
		h.t.Fatalf("ID token nonce/sub %v/%v", claims["nonce"], claims["sub"])
	}
	if tok.RefreshToken == "" {
		h.t.Fatal("no refresh token stored")
	}
}

func TestLoginBrowser(t *testing.T) {
	deps := testenv.Require(t, testenv.Browser)
	h := newIdentityHarness(t, "")
	first, second := h.startLogin(), h.startLogin()
	res := runLoginScript(t, deps, map[string]string{"url": first.URL, "username": "alice", "password": "alice-password", "again": second.URL})
	if !strings.Contains(res.Text, "connected") || !strings.HasSuffix(res.FinalURL, "/identity/connected") {
		t.Fatalf("browser ended at %q: %q", res.FinalURL, res.Text)
	}
	for _, f := range []apitype.ConnectResponse{first, second} {
		if err := h.cl.WaitFlow(context.Background(), f.Flow); err != nil {
			t.Fatalf("flow %s: %v", f.Flow, err)
		}
	}
	h.checkSignedInAsAlice()
	if st := h.idp.Stats(); st.Logins != 1 || st.SSOLogins != 1 || st.TokenBasic != 2 {
		t.Fatalf("provider stats %+v", st)
	}
	if !strings.Contains(res.AgainText, "connected") {
		t.Fatalf("single sign-on page: %q", res.AgainText)
	}
}

type loginResult struct {
	Steps     []string `json:"steps"`
	FinalURL  string   `json:"finalURL"`
	Text      string   `json:"text"`
	AgainText string   `json:"againText"`
}

func runLoginScript(t *testing.T, deps string, sc map[string]string) loginResult {
	t.Helper()
	if _, err := os.Stat(filepath.Join(deps, "node_modules", "playwright-core", "package.json")); err != nil {
		t.Fatalf("LATCHKEY_TEST_BROWSER=%s has no node_modules/playwright-core (run scripts/browser-deps.sh): %v", deps, err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not installed: %v", err)
	}
	js, _ := json.Marshal(sc)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("testdata", "oidc_login.mjs"))
	cmd.Env = append(os.Environ(), "LK_LOGIN="+string(js), "LATCHKEY_TEST_BROWSER="+deps)
	cmd.WaitDelay = 10 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	runErr := cmd.Run()
	var res loginResult
	sc2 := bufio.NewScanner(&out)
	for sc2.Scan() {
		line := sc2.Text()
		if rest, ok := strings.CutPrefix(line, "RESULT "); ok {
			if err := json.Unmarshal([]byte(rest), &res); err != nil {
				t.Errorf("bad RESULT line: %v", err)
			}
			continue
		}
		t.Log(line)
	}
	if runErr != nil {
		t.Fatalf("oidc_login.mjs failed (%v) after steps %q", runErr, res.Steps)
	}
	return res
}

func TestLoginHTTPBothAuthMethods(t *testing.T) {
	t.Parallel()
	for _, method := range []string{oidcsandbox.AuthMethodBasic, oidcsandbox.AuthMethodPost} {
		t.Run(method, func(t *testing.T) {
			h := newIdentityHarness(t, method)
			if id := h.identity(); id.SignedIn || id.Issuer != h.idp.Issuer() {
				t.Fatalf("before login: %+v", id)
			}
			h.loginHTTP("alice", "alice-password")
			h.checkSignedInAsAlice()
			st := h.idp.Stats()
			if method == oidcsandbox.AuthMethodBasic && (st.TokenBasic != 1 || st.TokenPost != 0) ||
				method == oidcsandbox.AuthMethodPost && (st.TokenPost != 1 || st.TokenBasic != 0) {
				t.Fatalf("%s: provider saw %+v", method, st)
			}
			// The identity is the bearer for latchkey-store: its ID token.
			bearer, err := h.d.storeBearer(context.Background())
			if err != nil || bearer != h.identityToken().Extra("id_token") {
				t.Fatalf("store bearer: %v", err)
			}
			// The widget reader is the signed-in person.
			if r := h.d.Reader(context.Background()); r.Email != "alice@example.test" || r.FirstName != "Alice" || r.LastName != "Liddell" {
				t.Fatalf("reader %+v", r)
			}
			tok := h.identityToken()
			for _, secret := range []string{tok.RefreshToken, tok.AccessToken, tok.Extra("id_token").(string), oidcsandbox.DefaultClientSecret} {
				if strings.Contains(h.logs.String(), secret) {
					t.Fatal("a token or the client secret appeared in the logs")
				}
				assertNotOnDisk(t, h.dir, secret) // sealed in the vault, the secret in the (encrypted) keychain
			}
		})
	}
}

func TestLoginStateIsSingleUseAndNonceChecked(t *testing.T) {
	t.Parallel()
	h := newIdentityHarness(t, "")
	jar, _ := cookiejar.New(nil)
	daemonPrefix := "http://" + h.d.listenAddr + "/"
	// Stops at the redirect to the daemon, so the test can replay it.
	hc := &http.Client{Jar: jar, Timeout: 20 * time.Second, CheckRedirect: func(r *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(r.URL.String(), daemonPrefix) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	redirectFor := func(consent, username, password string) string {
		r, err := hc.Get(consent)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode == 200 { // the form
			r, err = hc.PostForm(h.idp.Issuer()+"/login", url.Values{"authRequestID": {r.Request.URL.Query().Get("authRequestID")},
				"username": {username}, "password": {password}})
			if err != nil {
				t.Fatal(err)
			}
			r.Body.Close()
		}
		loc := r.Header.Get("Location")
		if r.StatusCode != http.StatusFound || !strings.HasPrefix(loc, daemonPrefix+"identity/connected?") {
			t.Fatalf("provider answered %d to %q", r.StatusCode, loc)
		}
		return loc
	}
	get := func(u string) int {
		r, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
		return r.StatusCode
	}

	resp := h.startLogin()
	redirect := redirectFor(resp.URL, "alice", "alice-password")
	if code := get(redirect); code != 200 {
		t.Fatalf("first redirect: %d", code)
	}
	if err := h.cl.WaitFlow(context.Background(), resp.Flow); err != nil {
		t.Fatal(err)
	}
	if code := get(redirect); code != 400 {
		t.Fatalf("replayed state: %d", code)
	}
	tokenCalls := h.idp.Stats().TokenBasic
	// A forged state is refused without reaching the provider.
	u, _ := url.Parse(redirect)
	q := u.Query()
	q.Set("state", "forged")
	u.RawQuery = q.Encode()
	if code := get(u.String()); code != 400 || h.idp.Stats().TokenBasic != tokenCalls {
		t.Fatalf("forged state: %d", code)
	}

	// A nonce that does not match the ID token's is refused. The flow's
	// nonce is changed under the flow table's lock (the redirect handler
	// takes the flow under the same lock).
	resp = h.startLogin()
	h.d.flows.mu.Lock()
	f := h.d.flows.byID[resp.Flow]
	f.nonce = "not-the-nonce-sent"
	h.d.flows.mu.Unlock()
	before := h.identityToken().AccessToken
	if code := get(redirectFor(resp.URL, "", "")); code != 400 {
		t.Fatalf("nonce mismatch: %d", code)
	}
	if err := h.cl.WaitFlow(context.Background(), resp.Flow); err == nil || !strings.Contains(err.Error(), "nonce") {
		t.Fatalf("nonce mismatch flow: %v", err)
	}
	if h.identityToken().AccessToken != before {
		t.Fatal("a refused sign-in replaced the stored identity")
	}
}

func TestVerifyIDTokenRefusesWrongAudIssExpired(t *testing.T) {
	t.Parallel()
	h := newIdentityHarness(t, "")
	other, err := oidcsandbox.Start("127.0.0.1:0", oidcsandbox.Options{}) // another provider's key
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	ctx := context.Background()
	p, err := h.d.oidcProvider(ctx)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	good := func() map[string]any {
		return map[string]any{"iss": h.idp.Issuer(), "aud": oidcsandbox.DefaultClientID, "sub": aliceSub,
			"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "name": "Alice Liddell", "groups": []string{"staff"}}
	}
	sign := func(by *oidcsandbox.Provider, edit func(map[string]any)) *oauth2.Token {
		c := good()
		if edit != nil {
			edit(c)
		}
		raw, err := by.Sign(c)
		if err != nil {
			t.Fatal(err)
		}
		return (&oauth2.Token{AccessToken: "a"}).WithExtra(map[string]any{"id_token": raw})
	}
	idt, claims, err := h.d.verifyIDToken(ctx, p, sign(h.idp, nil))
	if err != nil || idt.Subject != aliceSub || claims.Name != "Alice Liddell" || !slices.Equal(claims.Groups, []string{"staff"}) {
		t.Fatalf("good token: %v %+v", err, claims)
	}
	for name, tok := range map[string]*oauth2.Token{
		"wrong aud":     sign(h.idp, func(c map[string]any) { c["aud"] = "someone-else" }),
		"wrong iss":     sign(h.idp, func(c map[string]any) { c["iss"] = "http://127.0.0.1:1" }),
		"expired":       sign(h.idp, func(c map[string]any) { c["exp"] = now.Add(-time.Minute).Unix() }),
		"foreign key":   sign(other, nil),
		"no id_token":   {AccessToken: "a"},
		"not a JWT":     (&oauth2.Token{}).WithExtra(map[string]any{"id_token": "abc.def"}),
		"tampered body": tamper(t, sign(h.idp, nil)),
		"alg none":      unsigned(t, good()),
	} {
		if _, _, err := h.d.verifyIDToken(ctx, p, tok); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// unsigned makes an alg=none token of claims.
func unsigned(t *testing.T, claims map[string]any) *oauth2.Token {
	b, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	raw := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + base64.RawURLEncoding.EncodeToString(b) + "."
	return (&oauth2.Token{}).WithExtra(map[string]any{"id_token": raw})
}

// tamper changes the sub of a signed ID token without re-signing it.
func tamper(t *testing.T, tok *oauth2.Token) *oauth2.Token {
	parts := strings.Split(tok.Extra("id_token").(string), ".")
	_, claims := jwtParts(t, tok.Extra("id_token").(string))
	claims["sub"] = "mallory"
	b, _ := json.Marshal(claims)
	parts[1] = base64.RawURLEncoding.EncodeToString(b)
	return tok.WithExtra(map[string]any{"id_token": strings.Join(parts, ".")})
}

// expireIdentity makes the stored identity token look expired, so the next
// Token call refreshes.
func (h *idHarness) expireIdentity() {
	h.t.Helper()
	tok := h.identityToken()
	tok.Expiry = time.Now().Add(-time.Minute)
	if err := h.d.saveToken(context.Background(), identityName, tok, nil); err != nil {
		h.t.Fatal(err)
	}
}

func TestKeyRotationMidSessionWithoutRestart(t *testing.T) {
	t.Parallel()
	for _, keepOld := range []bool{true, false} {
		name := map[bool]string{true: "old key kept", false: "old key dropped"}[keepOld]
		t.Run(name, func(t *testing.T) {
			h := newIdentityHarness(t, "")
			h.loginHTTP("alice", "alice-password")
			old := h.identityToken()
			oldHeader, _ := jwtParts(t, old.Extra("id_token").(string))
			newKid, err := h.idp.Rotate(keepOld)
			if err != nil {
				t.Fatal(err)
			}
			if oldHeader["kid"] == newKid {
				t.Fatal("rotation kept the kid")
			}
			h.expireIdentity()
			tok, err := h.d.tokens(identityName).Token(context.Background())
			if err != nil {
				t.Fatalf("refresh after rotation: %v", err)
			}
			header, claims := jwtParts(t, tok.Extra("id_token").(string))
			if header["kid"] != newKid || claims["sub"] != aliceSub {
				t.Fatalf("refreshed ID token kid %v sub %v (want kid %s)", header["kid"], claims["sub"], newKid)
			}
			if tok.RefreshToken == old.RefreshToken || h.idp.Stats().Refreshes != 1 {
				t.Fatalf("refresh token not rotated (stats %+v)", h.idp.Stats())
			}
			// Persisted: what the vault holds now is the new token.
			if stored := h.identityToken(); stored.Extra("id_token") != tok.Extra("id_token") {
				t.Fatal("the refreshed identity was not stored")
			}
			if id := h.identity(); !id.SignedIn || id.Subject != aliceSub {
				t.Fatalf("identity after rotation %+v", id)
			}
		})
	}
}

func TestLogoutEndsTheProviderSession(t *testing.T) {
	t.Parallel()
	h := newIdentityHarness(t, "")
	h.loginHTTP("alice", "alice-password")
	refresh := h.identityToken().RefreshToken
	if !h.idp.SessionActive(aliceSub) {
		t.Fatal("no provider session after login")
	}
	res, err := h.cl.Logout(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !res.ProviderSession || !res.RefreshRevoked || h.idp.Stats().EndSessions != 1 {
		t.Fatalf("logout %+v, provider stats %+v", res, h.idp.Stats())
	}
	if h.idp.SessionActive(aliceSub) {
		t.Fatal("the provider session survived logout")
	}
	if id := h.identity(); id.SignedIn {
		t.Fatalf("still signed in: %+v", id)
	}
	if _, _, err := h.d.vault.LoadToken(context.Background(), identityName); err == nil {
		t.Fatal("identity tokens still in the vault")
	}
	// The old refresh token is dead at the provider too.
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}
	req, _ := http.NewRequest("POST", h.idp.Issuer()+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(oidcsandbox.DefaultClientID, oidcsandbox.DefaultClientSecret)
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 400 {
		t.Fatalf("refresh after logout: %d", r.StatusCode)
	}
	// Logging out again has nothing to end and says so.
	if res, err = h.cl.Logout(context.Background()); err != nil {
		t.Fatal(err)
	}
	if res.ProviderSession || res.Note == "" {
		t.Fatalf("second logout %+v", res)
	}
}

func TestNoIdentityProviderKeepsWorking(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sandbox.Options{})
	if _, _, err := h.d.StartLogin(context.Background()); err == nil || !strings.Contains(err.Error(), "latchkey configure identity") {
		t.Fatalf("login without a provider: %v", err)
	}
	st, err := h.d.StatusDoc(context.Background())
	if err != nil || st.Identity != nil {
		t.Fatalf("status identity %+v %v", st.Identity, err)
	}
	if r := h.d.Reader(context.Background()); r.Username != "alice" {
		t.Fatalf("reader without identity %+v", r)
	}
	h.connect()
	if code := h.api("GET", "/v1/courses", nil); code != 200 {
		t.Fatalf("courses without identity: %d", code)
	}
}

func TestProviderJWTsAtTheInjector(t *testing.T) {
	t.Parallel()
	h := newIdentityHarness(t, "")
	// Configured by its metadata URL rather than the issuer.
	err := SaveFileConfig(h.paths.ConfigFile(), func(c *Config) error {
		c.Identity.Issuer = h.idp.Issuer() + "/.well-known/openid-configuration"
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	h.restart()
	h.registerRedirect("")
	now := time.Now()
	signed := func(sub, aud string) string {
		raw, err := h.idp.Sign(map[string]any{"iss": h.idp.Issuer(), "aud": aud, "sub": sub,
			"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()})
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	// Nobody signed in: no provider JWT opens the injector.
	if code := h.bearerGet(signed(aliceSub, localAud), "/v1/status"); code != 401 {
		t.Fatalf("provider JWT before any login: %d", code)
	}
	h.loginHTTP("alice", "alice-password")
	h.checkSignedInAsAlice()
	// No restart: the injector asks for the signed-in subject per request.
	forLocal := signed(aliceSub, localAud)
	if code := h.bearerGet(forLocal, "/v1/status"); code != 200 {
		t.Fatalf("the signed-in person's JWT for the local API: %d", code)
	}
	idToken := h.identityToken().Extra("id_token").(string)
	for name, tok := range map[string]string{
		"the ID token latchkey got at login": idToken,
		"another person":                     signed("u-bob-0002", localAud),
		"another client":                     signed(aliceSub, "someone-else"),
		"the client id":                      signed(aliceSub, oidcsandbox.DefaultClientID),
	} {
		if code := h.bearerGet(tok, "/v1/status"); code != 401 {
			t.Errorf("%s: %d", name, code)
		}
	}
	// Signing out stops the (cached) JWT at once.
	if _, err := h.d.Logout(context.Background()); err != nil {
		t.Fatal(err)
	}
	if code := h.bearerGet(forLocal, "/v1/status"); code != 401 {
		t.Fatalf("the JWT after logout: %d", code)
	}
}

func TestLogoutAfterTheHintKeyWasDropped(t *testing.T) {
	t.Parallel()
	h := newIdentityHarness(t, oidcsandbox.AuthMethodPost)
	h.loginHTTP("alice", "alice-password")
	refresh := h.identityToken().RefreshToken
	if _, err := h.idp.Rotate(false); err != nil {
		t.Fatal(err)
	}
	res, err := h.d.Logout(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// The provider no longer knows the key of the id_token_hint and refuses
	// the end-session request, but the refresh token was revoked anyway.
	if res.ProviderSession || !res.RefreshRevoked || !strings.Contains(res.Note, "HTTP 400") {
		t.Fatalf("logout %+v", res)
	}
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh},
		"client_id": {oidcsandbox.DefaultClientID}, "client_secret": {oidcsandbox.DefaultClientSecret}}
	r, err := http.PostForm(h.idp.Issuer()+"/oauth/token", form)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 400 {
		t.Fatalf("refresh after logout: %d", r.StatusCode)
	}
	if h.identity().SignedIn {
		t.Fatal("still signed in")
	}
}

// Signed in, the vault binds every sealed record to the identity's subject;
// signed out, back to the OS user. Tokens keep working across both.
func TestRecordsBoundToTheSignedInSubject(t *testing.T) {
	t.Parallel()
	h := newIdentityHarness(t, "")
	h.connect()
	ctx := context.Background()
	if got := h.d.vault.BindingUser(); got != "alice" {
		t.Fatalf("binding before login %q", got)
	}
	h.loginHTTP("alice", "alice-password")
	if got := h.d.vault.BindingUser(); got != aliceSub {
		t.Fatalf("binding after login %q, want %q", got, aliceSub)
	}
	for _, name := range []string{"docebo", identityName} {
		if _, err := h.d.store.GetRecord(ctx, store.Key{User: aliceSub, Device: h.d.vault.Device(), Integration: name}); err != nil {
			t.Fatalf("%s is not bound to the subject: %v", name, err)
		}
		if _, err := h.d.store.GetRecord(ctx, store.Key{User: "alice", Device: h.d.vault.Device(), Integration: name}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("%s still under the OS user: %v", name, err)
		}
	}
	if code := h.api("GET", "/v1/proxy/docebo/manage/v1/user/session", nil); code != 200 {
		t.Fatalf("proxy after login: %d", code)
	}
	st, _ := h.d.StatusDoc(ctx)
	if st.BoundTo != aliceSub || st.User != "alice" {
		t.Fatalf("status user %q bound_to %q", st.User, st.BoundTo)
	}
	// The binding survives a restart.
	h.restart()
	if got := h.d.vault.BindingUser(); got != aliceSub {
		t.Fatalf("binding after restart %q", got)
	}
	if _, err := h.d.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	if got := h.d.vault.BindingUser(); got != "alice" {
		t.Fatalf("binding after logout %q", got)
	}
	if code := h.api("GET", "/v1/proxy/docebo/manage/v1/user/session", nil); code != 200 {
		t.Fatalf("proxy after logout: %d", code)
	}
}
