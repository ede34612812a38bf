package storeserver

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/internal/loopback"
	"github.com/latchkey/latchkey/vault/envelope"
	"github.com/latchkey/latchkey/vault/store"
)

// ConsoleConfig turns on the admin console at /admin: administrators sign
// in with the organisation's identity provider (authorization code + PKCE,
// state and nonce checked) and configure the org integrations.
type ConsoleConfig struct {
	// Issuer is the identity provider (OIDC discovery, done at the first
	// sign-in so the store starts while the provider is down).
	Issuer string
	// ClientID and ClientSecret: the console's client at the provider; its
	// redirect URI is BaseURL + "/admin/callback".
	ClientID     string
	ClientSecret string
	// BaseURL is the store's public URL (https://store.example.com). The
	// session cookie is Secure unless it is http:// on a loopback host.
	BaseURL string
	// AdminClaim and AdminValue: the ID token claim that marks an
	// administrator, as for the API's bearer tokens.
	AdminClaim, AdminValue string
	// Scopes asked for (default openid, profile, email).
	Scopes []string
	// HTTPClient reaches the provider; nil: http.DefaultClient.
	HTTPClient *http.Client
	// SessionTTL is how long a sign-in lasts (default 8h).
	SessionTTL time.Duration
}

//go:embed console
var consoleFS embed.FS

var consoleTmpl = template.Must(template.New("").Funcs(template.FuncMap{
	"join": strings.Join,
	"when": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
}).ParseFS(consoleFS, "console/*.html"))

const (
	sessionCookie = "lk_console_session"
	loginCookie   = "lk_console_login"
	loginTTL      = 10 * time.Minute
)

// console is the admin console's state: configuration and the provider
// found by discovery. Sessions live in sealed cookies, so replicas sharing
// the secrets key file share them.
type console struct {
	s       *Server
	c       ConsoleConfig
	key     []byte
	keyID   string
	secure  bool
	origin  string
	mu      sync.Mutex
	prov    *oidc.Provider
	provErr time.Time
}

func (s *Server) mountConsole(c ConsoleConfig) error {
	if s.secrets == nil {
		return errors.New("storeserver: the admin console needs --secrets-key-file (its sessions and the client secrets are sealed with it)")
	}
	if c.Issuer == "" || c.ClientID == "" {
		return errors.New("storeserver: the admin console needs --issuer and --console-client-id")
	}
	if c.AdminClaim == "" {
		return errors.New("storeserver: the admin console needs --admin-claim and --admin-value (who is an administrator)")
	}
	u, err := url.Parse(c.BaseURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.Path != "" && u.Path != "/" {
		return fmt.Errorf("storeserver: --console-url %q: want the store's public URL, e.g. https://store.example.com", c.BaseURL)
	}
	if u.Scheme == "http" && !loopback.IsHost(u.Hostname()) {
		return fmt.Errorf("storeserver: --console-url %q: plain http is for loopback only", c.BaseURL)
	}
	if len(c.Scopes) == 0 {
		c.Scopes = []string{oidc.ScopeOpenID, "profile", "email"}
	}
	if c.SessionTTL <= 0 {
		c.SessionTTL = 8 * time.Hour
	}
	key := s.secrets.sessionKey()
	con := &console{s: s, c: c, key: key, keyID: secretsKeyID(key), secure: u.Scheme == "https",
		origin: u.Scheme + "://" + u.Host}
	s.mux.HandleFunc("GET /admin", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/admin/", http.StatusSeeOther) })
	s.mux.HandleFunc("GET /admin/{$}", con.home)
	s.mux.HandleFunc("GET /admin/console.css", con.css)
	s.mux.HandleFunc("GET /admin/login", con.login)
	s.mux.HandleFunc("GET /admin/callback", con.callback)
	s.mux.HandleFunc("POST /admin/logout", con.logout)
	s.mux.HandleFunc("GET /admin/integrations/{name}", con.configure)
	s.mux.HandleFunc("POST /admin/integrations/{name}", con.save)
	return nil
}

// provider runs discovery once it works (retried at most every 10 s).
func (c *console) provider(ctx context.Context) (*oidc.Provider, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.prov != nil {
		return c.prov, nil
	}
	if time.Since(c.provErr) < 10*time.Second {
		return nil, errors.New("the identity provider did not answer; try again in a few seconds")
	}
	if c.c.HTTPClient != nil {
		ctx = oidc.ClientContext(ctx, c.c.HTTPClient)
	}
	p, err := oidc.NewProvider(ctx, c.c.Issuer)
	if err != nil {
		c.provErr = time.Now()
		return nil, err
	}
	c.prov = p
	return p, nil
}

func (c *console) oauth(p *oidc.Provider) *oauth2.Config {
	return &oauth2.Config{ClientID: c.c.ClientID, ClientSecret: c.c.ClientSecret, Endpoint: p.Endpoint(),
		RedirectURL: c.origin + "/admin/callback", Scopes: c.c.Scopes}
}

// session is what the sealed session cookie holds.
type session struct {
	Subject string    `json:"sub"`
	Name    string    `json:"name"`
	CSRF    string    `json:"csrf"`
	Expires time.Time `json:"exp"`
}

// loginState is what the sealed sign-in cookie holds between /admin/login
// and /admin/callback.
type loginState struct {
	State    string    `json:"state"`
	Nonce    string    `json:"nonce"`
	Verifier string    `json:"verifier"`
	Expires  time.Time `json:"exp"`
}

func (c *console) seal(name string, v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return envelope.Seal(c.key, c.keyID, envelope.Binding{User: "latchkey-store:console", Device: name, Integration: "cookie"}, b)
}

func (c *console) open(r *http.Request, name string, v any) bool {
	ck, err := r.Cookie(name)
	if err != nil || len(ck.Value) > 8<<10 {
		return false
	}
	b, err := envelope.Open(c.key, c.keyID, envelope.Binding{User: "latchkey-store:console", Device: name, Integration: "cookie"}, ck.Value)
	return err == nil && json.Unmarshal(b, v) == nil
}

func (c *console) setCookie(w http.ResponseWriter, name, path, value string, maxAge int, same http.SameSite) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: path, MaxAge: maxAge,
		HttpOnly: true, Secure: c.secure, SameSite: same})
}

func (c *console) session(r *http.Request) (session, bool) {
	var s session
	if !c.open(r, sessionCookie, &s) || time.Now().After(s.Expires) || s.Subject == "" {
		return session{}, false
	}
	return s, true
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// page is what every template gets.
type page struct {
	Title    string
	Session  *session
	Message  string
	Error    string
	Cards    []card
	Form     *configureForm
	History  []OrgChange
	Redirect string
}

type card struct {
	Known       KnownIntegration
	Configured  bool
	Enabled     bool
	DisplayName string
}

type configureForm struct {
	Known           KnownIntegration
	Exists          bool
	Enabled         bool
	URL, ClientID   string
	DisplayName     string
	LogoURL         string
	WidgetTitle     string
	ClientSecretSet bool
	Errors          ValidationError
}

func (c *console) render(w http.ResponseWriter, status int, name string, p page) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin") // no-referrer would make form posts carry Origin: null
	w.WriteHeader(status)
	if err := consoleTmpl.ExecuteTemplate(w, name, p); err != nil {
		c.s.log.Error("console: render", "page", name, "err", err)
	}
}

func (c *console) css(w http.ResponseWriter, r *http.Request) {
	b, _ := consoleFS.ReadFile("console/console.css")
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Write(b)
}

func (c *console) home(w http.ResponseWriter, r *http.Request) {
	s, ok := c.session(r)
	if !ok {
		c.render(w, http.StatusOK, "signin.html", page{Title: "Sign in"})
		return
	}
	all, err := c.s.backend.ListOrgIntegrations(r.Context())
	if err != nil {
		c.fail(w, r, err)
		return
	}
	byName := map[string]OrgIntegration{}
	for _, o := range all {
		byName[o.Name] = o
	}
	var cards []card
	for _, k := range KnownIntegrations {
		o, ok := byName[k.Name]
		cards = append(cards, card{Known: k, Configured: ok, Enabled: o.Enabled, DisplayName: o.DisplayName})
	}
	c.render(w, http.StatusOK, "integrations.html", page{Title: "Integrations", Session: &s, Cards: cards})
}

func (c *console) fail(w http.ResponseWriter, r *http.Request, err error) {
	c.s.m.dbErrors.Inc()
	c.s.log.Error("console: database error", "path", r.URL.Path, "err", err)
	c.render(w, http.StatusServiceUnavailable, "error.html", page{Title: "Unavailable", Error: "The database does not answer; try again in a moment."})
}

func (c *console) login(w http.ResponseWriter, r *http.Request) {
	p, err := c.provider(r.Context())
	if err != nil {
		c.s.log.Warn("console: identity provider discovery failed", "issuer", c.c.Issuer, "err", err)
		c.render(w, http.StatusBadGateway, "error.html", page{Title: "Sign-in unavailable", Error: "The identity provider does not answer; try again in a few seconds."})
		return
	}
	st := loginState{State: randomToken(), Nonce: randomToken(), Verifier: oauth2.GenerateVerifier(), Expires: time.Now().Add(loginTTL)}
	v, err := c.seal(loginCookie, st)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	// Lax, not Strict: the provider's redirect back is a cross-site
	// navigation, and this cookie only binds it to this browser.
	c.setCookie(w, loginCookie, "/admin/callback", v, int(loginTTL/time.Second), http.SameSiteLaxMode)
	http.Redirect(w, r, c.oauth(p).AuthCodeURL(st.State, oidc.Nonce(st.Nonce), oauth2.S256ChallengeOption(st.Verifier)), http.StatusFound)
}

func (c *console) refuse(w http.ResponseWriter, status int, title, msg string) {
	c.render(w, status, "error.html", page{Title: title, Error: msg})
}

func (c *console) callback(w http.ResponseWriter, r *http.Request) {
	var st loginState
	ok := c.open(r, loginCookie, &st)
	c.setCookie(w, loginCookie, "/admin/callback", "", -1, http.SameSiteLaxMode)
	q := r.URL.Query()
	if !ok || time.Now().After(st.Expires) {
		c.refuse(w, http.StatusBadRequest, "Sign-in failed", "This sign-in was not started here or took too long. Sign in again.")
		return
	}
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(st.State)) != 1 {
		c.refuse(w, http.StatusBadRequest, "Sign-in failed", "The sign-in answer does not match the request (state). Sign in again.")
		return
	}
	if e := q.Get("error"); e != "" {
		c.refuse(w, http.StatusForbidden, "Sign-in failed", "The identity provider refused the sign-in ("+e+").")
		return
	}
	p, err := c.provider(r.Context())
	if err != nil {
		c.refuse(w, http.StatusBadGateway, "Sign-in unavailable", "The identity provider does not answer; try again in a few seconds.")
		return
	}
	ctx := r.Context()
	if c.c.HTTPClient != nil {
		ctx = context.WithValue(ctx, oauth2.HTTPClient, c.c.HTTPClient)
	}
	tok, err := c.oauth(p).Exchange(ctx, q.Get("code"), oauth2.VerifierOption(st.Verifier))
	if err != nil {
		c.s.log.Warn("console: code exchange failed", "err", err)
		c.refuse(w, http.StatusBadGateway, "Sign-in failed", "The identity provider did not accept the sign-in code. Sign in again.")
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := p.Verifier(&oidc.Config{ClientID: c.c.ClientID, SupportedSigningAlgs: AllowedAlgs}).Verify(ctx, raw)
	if err != nil {
		c.s.log.Warn("console: ID token refused", "reason", err.Error())
		c.refuse(w, http.StatusForbidden, "Sign-in failed", "The identity provider's ID token did not verify.")
		return
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(st.Nonce)) != 1 {
		c.refuse(w, http.StatusForbidden, "Sign-in failed", "The ID token does not answer this sign-in (nonce). Sign in again.")
		return
	}
	var claims map[string]json.RawMessage
	if err := idt.Claims(&claims); err != nil || !validUser(idt.Subject) {
		c.refuse(w, http.StatusForbidden, "Sign-in failed", "The ID token has no usable subject.")
		return
	}
	name := idt.Subject
	for _, k := range []string{"preferred_username", "email", "name"} {
		var v string
		if json.Unmarshal(claims[k], &v) == nil && v != "" {
			name = v
			break
		}
	}
	if !claimHas(claims[c.c.AdminClaim], c.c.AdminValue) {
		c.s.m.authFail.WithLabelValues("403").Inc()
		c.s.log.Info("console: sign-in refused, not an administrator", "sub", idt.Subject)
		c.refuse(w, http.StatusForbidden, "Not an administrator",
			"You signed in as "+name+", who is not an administrator of latchkey-store. Ask for the "+c.c.AdminValue+" "+c.c.AdminClaim+" at your identity provider.")
		return
	}
	s := session{Subject: idt.Subject, Name: name, CSRF: randomToken(), Expires: time.Now().Add(c.c.SessionTTL)}
	v, err := c.seal(sessionCookie, s)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.setCookie(w, sessionCookie, "/admin", v, int(c.c.SessionTTL/time.Second), http.SameSiteStrictMode)
	c.s.log.Info("console: administrator signed in", "sub", idt.Subject)
	// A page of ours moves on to /admin/: a redirect would still count as
	// the provider's cross-site navigation, which carries no Strict cookie.
	c.render(w, http.StatusOK, "signedin.html", page{Title: "Signed in", Redirect: "/admin/"})
}

// checkForm refuses a state-changing request that did not come from a page
// of the console: it needs the session (a SameSite=Strict cookie), its
// CSRF token in the form, and no foreign Origin.
func (c *console) checkForm(w http.ResponseWriter, r *http.Request) (session, bool) {
	if o := r.Header.Get("Origin"); o != "" && o != c.origin {
		c.refuse(w, http.StatusForbidden, "Refused", "This form was posted from another site ("+o+"); nothing was changed.")
		return session{}, false
	}
	if sf := r.Header.Get("Sec-Fetch-Site"); sf != "" && sf != "same-origin" && sf != "none" {
		c.refuse(w, http.StatusForbidden, "Refused", "This form was posted from another site; nothing was changed.")
		return session{}, false
	}
	s, ok := c.session(r)
	if !ok {
		c.refuse(w, http.StatusForbidden, "Refused", "You are not signed in (or your session ended); nothing was changed. Sign in again.")
		return session{}, false
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil || subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(s.CSRF)) != 1 {
		c.refuse(w, http.StatusForbidden, "Refused", "This form is stale or was not sent by the console; nothing was changed. Reload the page and try again.")
		return session{}, false
	}
	return s, true
}

func (c *console) logout(w http.ResponseWriter, r *http.Request) {
	if _, ok := c.checkForm(w, r); !ok {
		return
	}
	c.setCookie(w, sessionCookie, "/admin", "", -1, http.SameSiteStrictMode)
	http.Redirect(w, r, "/admin/", http.StatusSeeOther)
}

// integration finds the known integration named in the path (or one the
// API configured), else answers 404.
func (c *console) integration(w http.ResponseWriter, r *http.Request, s *session) (KnownIntegration, OrgIntegration, bool, bool) {
	name := r.PathValue("name")
	k, known := knownIntegration(name)
	o, err := c.s.backend.GetOrgIntegration(r.Context(), name)
	exists := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		c.fail(w, r, err)
		return k, o, false, false
	}
	if !known && !exists {
		c.render(w, http.StatusNotFound, "error.html", page{Title: "Not found", Session: s, Error: "latchkey knows no integration called " + name + "."})
		return k, o, false, false
	}
	if !known {
		k = KnownIntegration{Name: name, Title: name, URLLabel: "Base URL"}
	}
	return k, o, exists, true
}

func (c *console) configurePage(w http.ResponseWriter, r *http.Request, status int, s *session, f configureForm, msg string) {
	h, err := c.s.backend.OrgHistory(r.Context(), f.Known.Name, 50)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, status, "configure.html", page{Title: "Configure " + f.Known.Title, Session: s, Form: &f, History: h, Message: msg})
}

func formOf(k KnownIntegration, o OrgIntegration, exists bool) configureForm {
	return configureForm{Known: k, Exists: exists, Enabled: o.Enabled, URL: o.URL, ClientID: o.ClientID,
		DisplayName: o.DisplayName, LogoURL: o.LogoURL, WidgetTitle: o.WidgetTitle, ClientSecretSet: o.SealedSecret != ""}
}

func (c *console) configure(w http.ResponseWriter, r *http.Request) {
	s, ok := c.session(r)
	if !ok {
		http.Redirect(w, r, "/admin/", http.StatusSeeOther)
		return
	}
	k, o, exists, ok := c.integration(w, r, &s)
	if !ok {
		return
	}
	msg := ""
	switch r.URL.Query().Get("saved") {
	case "enable":
		msg = k.Title + " is saved and enabled for the organisation. Devices pick it up at their next pull."
	case "disable":
		msg = k.Title + " is disabled. Devices disconnect it at their next pull."
	}
	c.configurePage(w, r, http.StatusOK, &s, formOf(k, o, exists), msg)
}

func (c *console) save(w http.ResponseWriter, r *http.Request) {
	s, ok := c.checkForm(w, r)
	if !ok {
		return
	}
	k, o, exists, ok := c.integration(w, r, &s)
	if !ok {
		return
	}
	f := r.PostForm
	var p orgPatch
	action := f.Get("action")
	switch action {
	case "enable":
		t := true
		str := func(key string) *string { v := f.Get(key); return &v }
		p = orgPatch{Enabled: &t, URL: str("url"), ClientID: str("client_id"), DisplayName: str("display_name"),
			LogoURL: str("logo_url"), WidgetTitle: str("widget_title")}
		if sec := f.Get("client_secret"); sec != "" {
			p.ClientSecret = &sec
		}
	case "disable":
		if !exists {
			c.refuse(w, http.StatusBadRequest, "Nothing to disable", k.Title+" is not configured.")
			return
		}
		fls := false
		p = orgPatch{Enabled: &fls}
	default:
		c.refuse(w, http.StatusBadRequest, "Unknown action", "The form asked for neither Save and enable nor Disable.")
		return
	}
	_, _, err := c.s.SaveOrgIntegration(r.Context(), s.Subject, k.Name, p)
	var verr ValidationError
	switch {
	case errors.As(err, &verr):
		form := formOf(k, o, exists)
		// Show what was typed (never the secret) with the errors.
		form.URL, form.ClientID = strings.TrimSpace(f.Get("url")), strings.TrimSpace(f.Get("client_id"))
		form.DisplayName, form.LogoURL, form.WidgetTitle = f.Get("display_name"), f.Get("logo_url"), f.Get("widget_title")
		form.Errors = verr
		c.configurePage(w, r, http.StatusUnprocessableEntity, &s, form, "")
		return
	case errors.Is(err, ErrNoSecretsKey), errors.Is(err, store.ErrConflict):
		c.refuse(w, http.StatusConflict, "Not saved", "Another administrator changed "+k.Title+" meanwhile; reload and try again.")
		return
	case err != nil:
		c.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/admin/integrations/"+url.PathEscape(k.Name)+"?saved="+action, http.StatusSeeOther)
}
