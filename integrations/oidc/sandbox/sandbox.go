package sandbox

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/latchkey/latchkey/internal/httpstatus"
	"github.com/latchkey/latchkey/internal/loopback"
)

// The client every sandbox has unless Options.Clients says otherwise.
const (
	DefaultClientID     = "latchkey"
	DefaultClientSecret = "latchkey-oidc-sandbox-secret"
)

// ScopeGroups asks for the groups claim (it also comes with "profile").
const ScopeGroups = "groups"

// Auth methods a Client may be restricted to.
const (
	AuthMethodBasic = string(oidc.AuthMethodBasic) // client_secret_basic
	AuthMethodPost  = string(oidc.AuthMethodPost)  // client_secret_post
)

// User is a person who can sign in.
type User struct {
	ID       string // the sub claim
	Username string // what the login form takes (and preferred_username)
	Password string
	Name     string
	// GivenName and FamilyName default to the halves of Name.
	GivenName, FamilyName string
	Email                 string
	Groups                []string
}

// Client is a registered relying party.
type Client struct {
	ID     string
	Secret string
	// RedirectURIs must match the request's redirect_uri exactly.
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	// AuthMethod restricts the token endpoint to client_secret_basic or
	// client_secret_post; empty accepts both.
	AuthMethod string
	// JWTAccessTokens issues access tokens as JWTs signed like ID tokens
	// (default: opaque).
	JWTAccessTokens bool
}

// Options configure a Provider.
type Options struct {
	Users   []User   // default DefaultUsers()
	Clients []Client // default one DefaultClientID client with no redirect URIs
	// Token lifetimes: access 5m, ID 1h, refresh 24h by default.
	AccessTokenTTL, IDTokenTTL, RefreshTokenTTL time.Duration
	Logger                                      *slog.Logger
}

// DefaultUsers are alice (password "alice-password") and bob ("bob-password").
func DefaultUsers() []User {
	return []User{
		{ID: "u-alice-0001", Username: "alice", Password: "alice-password", Name: "Alice Liddell",
			Email: "alice@example.test", Groups: []string{"staff", "learners"}},
		{ID: "u-bob-0002", Username: "bob", Password: "bob-password", Name: "Bob Marley",
			Email: "bob@example.test", Groups: []string{"learners"}},
	}
}

// Stats counts what the provider saw.
type Stats struct {
	Authorize    int // authorization requests accepted
	Refused      int // authorization requests refused (no PKCE S256, no nonce)
	Logins       int // sign-ins with the password form
	SSOLogins    int // sign-ins by an existing browser session
	FailedLogins int
	TokenBasic   int // token requests authenticated with HTTP Basic
	TokenPost    int // token requests with client_secret in the body
	TokenFailed  int // token requests answered with an error
	Refreshes    int // refresh tokens rotated
	EndSessions  int // end_session requests that reached the storage
}

// AuthRecord is the last authorization request the provider accepted.
type AuthRecord struct {
	ClientID, RedirectURI, State, Nonce, CodeChallengeMethod string
	Scopes                                                   []string
}

// Provider is a running OpenID Provider (an http.Handler).
type Provider struct {
	issuer string
	st     *storage
	op     *op.Provider
	h      http.Handler
	log    *slog.Logger
	srv    *http.Server // set by Start
}

const sessionCookie = "oidc_sandbox_session"

// New builds a provider whose issuer is issuer (http:// on loopback).
func New(issuer string, o Options) (*Provider, error) {
	if err := checkLoopbackURL(issuer); err != nil {
		return nil, err
	}
	if o.Users == nil {
		o.Users = DefaultUsers()
	}
	if o.Clients == nil {
		o.Clients = []Client{{ID: DefaultClientID, Secret: DefaultClientSecret}}
	}
	if o.AccessTokenTTL <= 0 {
		o.AccessTokenTTL = 5 * time.Minute
	}
	if o.IDTokenTTL <= 0 {
		o.IDTokenTTL = time.Hour
	}
	if o.RefreshTokenTTL <= 0 {
		o.RefreshTokenTTL = 24 * time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	key, err := newSigningKey()
	if err != nil {
		return nil, err
	}
	st := &storage{
		o: o, now: time.Now,
		users: map[string]*User{}, clients: map[string]*Client{}, authReqs: map[string]*authRequest{},
		codes: map[string]string{}, access: map[string]*accessToken{}, refresh: map[string]*refreshToken{},
		sessions: map[string]*browserSession{}, keys: []*signingKey{key},
	}
	for _, u := range o.Users {
		if u.ID == "" || u.Username == "" {
			return nil, errors.New("oidc sandbox: a user needs an ID and a Username")
		}
		if u.GivenName == "" && u.FamilyName == "" {
			u.GivenName, u.FamilyName, _ = strings.Cut(u.Name, " ")
		}
		u.Groups = slices.Clone(u.Groups)
		st.users[u.ID] = &u
	}
	for _, c := range o.Clients {
		if err := st.setClient(c); err != nil {
			return nil, err
		}
	}
	var cryptoKey [32]byte
	if _, err := rand.Read(cryptoKey[:]); err != nil {
		return nil, err
	}
	cfg := &op.Config{
		CryptoKey:                cryptoKey,
		DefaultLogoutRedirectURI: "/logged-out",
		CodeMethodS256:           true,
		AuthMethodPost:           true,
		GrantTypeRefreshToken:    true,
	}
	prov, err := op.NewProvider(cfg, st, op.StaticIssuer(issuer), op.WithAllowInsecure(), op.WithLogger(o.Logger))
	if err != nil {
		return nil, fmt.Errorf("oidc sandbox: %w", err)
	}
	p := &Provider{issuer: issuer, st: st, op: prov, log: o.Logger}
	mux := http.NewServeMux()
	intercept := op.NewIssuerInterceptor(prov.IssuerFromRequest)
	mux.Handle("GET /login", intercept.HandlerFunc(p.loginPage))
	mux.Handle("POST /login", intercept.HandlerFunc(p.loginSubmit))
	mux.HandleFunc("GET /logged-out", func(w http.ResponseWriter, r *http.Request) {
		render(w, http.StatusOK, pageData{Title: "Signed out", Message: "You are signed out of the sandbox identity provider."})
	})
	mux.Handle("/", p.tokenGuard(prov))
	p.h = mux
	return p, nil
}

// Start listens on addr (loopback only; "127.0.0.1:0" picks a port) and
// serves a new provider whose issuer is http://addr.
func Start(addr string, o Options) (*Provider, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("oidc sandbox: listen address %q: %w", addr, err)
	}
	if !loopback.IsHost(host) {
		return nil, fmt.Errorf("oidc sandbox: refusing to listen on %s: loopback addresses only", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	issuer := "http://" + ln.Addr().String()
	p, err := New(issuer, o)
	if err != nil {
		ln.Close()
		return nil, err
	}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go p.srv.Serve(ln)
	return p, nil
}

// Close stops a provider made by Start.
func (p *Provider) Close() error {
	if p.srv == nil {
		return nil
	}
	return p.srv.Close()
}

// Issuer is the issuer URL (discovery is at Issuer()+"/.well-known/openid-configuration").
func (p *Provider) Issuer() string { return p.issuer }

func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Frame-Options", "DENY")
	p.h.ServeHTTP(w, r)
}

// SetClient adds or replaces a client (e.g. to register the redirect URI of
// a relying party that picked its port after the provider started).
func (p *Provider) SetClient(c Client) error { return p.st.setClient(c) }

func (s *storage) setClient(c Client) error {
	if c.ID == "" || c.Secret == "" {
		return errors.New("oidc sandbox: a client needs an ID and a Secret")
	}
	switch c.AuthMethod {
	case "", AuthMethodBasic, AuthMethodPost:
	default:
		return fmt.Errorf("oidc sandbox: client auth method %q: use %s or %s", c.AuthMethod, AuthMethodBasic, AuthMethodPost)
	}
	c.RedirectURIs = slices.Clone(c.RedirectURIs)
	c.PostLogoutRedirectURIs = slices.Clone(c.PostLogoutRedirectURIs)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clients[c.ID] = &c
	return nil
}

// Rotate makes a new signing key (a new kid) that signs from now on. With
// keepOld the previous keys stay in the JWKS, so tokens they signed still
// verify; without, they are dropped at once. It returns the new kid.
func (p *Provider) Rotate(keepOld bool) (string, error) {
	k, err := newSigningKey()
	if err != nil {
		return "", err
	}
	p.st.mu.Lock()
	defer p.st.mu.Unlock()
	if keepOld {
		p.st.keys = append([]*signingKey{k}, p.st.keys...)
	} else {
		p.st.keys = []*signingKey{k}
	}
	return k.id, nil
}

// KeyIDs lists the kids in the JWKS, the signing one first.
func (p *Provider) KeyIDs() []string {
	p.st.mu.Lock()
	defer p.st.mu.Unlock()
	out := make([]string, len(p.st.keys))
	for i, k := range p.st.keys {
		out[i] = k.id
	}
	return out
}

// Sign signs claims with the current signing key (RS256, its kid in the
// header): for tests of relying parties that need tokens the provider would
// never issue (wrong audience, expired…).
func (p *Provider) Sign(claims map[string]any) (string, error) {
	p.st.mu.Lock()
	k := p.st.keys[0]
	p.st.mu.Unlock()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: k.key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", k.id))
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(b)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// Stats returns the counters.
func (p *Provider) Stats() Stats {
	p.st.mu.Lock()
	defer p.st.mu.Unlock()
	return p.st.stats
}

// LastAuthRequest is the last authorization request accepted.
func (p *Provider) LastAuthRequest() AuthRecord {
	p.st.mu.Lock()
	defer p.st.mu.Unlock()
	r := p.st.last
	r.Scopes = slices.Clone(r.Scopes)
	return r
}

// SessionActive reports whether the user with this sub still has a session
// at the provider: a browser session or a live refresh token.
func (p *Provider) SessionActive(sub string) bool { return p.st.sessionActive(sub) }

// User returns the user with this username.
func (p *Provider) User(username string) (User, bool) {
	p.st.mu.Lock()
	defer p.st.mu.Unlock()
	for _, u := range p.st.users {
		if u.Username == username {
			cp := *u
			cp.Groups = slices.Clone(u.Groups)
			return cp, true
		}
	}
	return User{}, false
}

// tokenGuard counts token requests by client authentication method and
// enforces a client's AuthMethod restriction; everything else goes to the OP.
func (p *Provider) tokenGuard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/oauth/token" {
			next.ServeHTTP(w, r)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			tokenError(w, http.StatusBadRequest, "invalid_request", "the body must be a form")
			return
		}
		id, _, basic := r.BasicAuth()
		post := r.PostForm.Get("client_secret") != ""
		if !basic {
			id = r.PostForm.Get("client_id")
		}
		p.st.mu.Lock()
		c := p.st.clients[id]
		switch {
		case basic:
			p.st.stats.TokenBasic++
		case post:
			p.st.stats.TokenPost++
		}
		p.st.mu.Unlock()
		if c != nil && ((c.AuthMethod == AuthMethodBasic && !basic) || (c.AuthMethod == AuthMethodPost && !post)) {
			p.st.count(func(s *Stats) { s.TokenFailed++ })
			tokenError(w, http.StatusUnauthorized, "invalid_client", "this client must authenticate with "+c.AuthMethod)
			return
		}
		rec := httpstatus.NewRecorder(w)
		next.ServeHTTP(rec, r)
		if rec.Status() >= 400 {
			p.st.count(func(s *Stats) { s.TokenFailed++ })
		}
	})
}

func tokenError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

// ---- login page ----

// loginPage shows the username/password form, or signs the request in at
// once when the browser already has a session here (single sign-on).
func (p *Provider) loginPage(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("authRequestID")
	if id == "" {
		render(w, http.StatusBadRequest, pageData{Title: "Sign-in failed", Message: "This page is reached from an application's sign-in link."})
		return
	}
	if c, err := r.Cookie(sessionCookie); err == nil {
		if uid, ok := p.st.sessionUser(c.Value); ok {
			if err := p.st.completeAuth(id, uid, true); err != nil {
				render(w, http.StatusBadRequest, pageData{Title: "Sign-in failed", Message: err.Error()})
				return
			}
			http.Redirect(w, r, op.AuthCallbackURL(p.op)(r.Context(), id), http.StatusFound)
			return
		}
	}
	render(w, http.StatusOK, pageData{Title: "Sign in", AuthRequestID: id, Form: true})
}

func (p *Provider) loginSubmit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		render(w, http.StatusBadRequest, pageData{Title: "Sign-in failed", Message: "The form could not be read."})
		return
	}
	id := r.PostForm.Get("authRequestID")
	u, ok := p.st.checkPassword(r.PostForm.Get("username"), r.PostForm.Get("password"))
	if !ok {
		render(w, http.StatusUnauthorized, pageData{Title: "Sign in", AuthRequestID: id, Form: true,
			Username: r.PostForm.Get("username"), Error: "Wrong username or password."})
		return
	}
	if err := p.st.completeAuth(id, u.ID, false); err != nil {
		render(w, http.StatusBadRequest, pageData{Title: "Sign-in failed", Message: err.Error()})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: p.st.newSession(u.ID), Path: "/",
		HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, op.AuthCallbackURL(p.op)(r.Context(), id), http.StatusFound)
}

type pageData struct {
	Title, Message, Error, AuthRequestID, Username string
	Form                                           bool
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}} · OIDC sandbox</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;max-width:26rem;margin:3rem auto;padding:0 1rem;color:#1a1a1a}
label{display:block;margin-top:1rem}input{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box}
button{margin-top:1.25rem;padding:.6rem 1.2rem;font-size:1rem;background:#1d4ed8;color:#fff;border:0;border-radius:4px}
.error{color:#a40000;font-weight:600}</style></head>
<body><h1>{{.Title}}</h1>
{{if .Message}}<p>{{.Message}}</p>{{end}}
{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{end}}
{{if .Form}}<form method="post" action="/login">
<input type="hidden" name="authRequestID" value="{{.AuthRequestID}}">
<label for="username">Username</label><input id="username" name="username" autocomplete="username" value="{{.Username}}" required autofocus>
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>{{end}}
</body></html>`))

func render(w http.ResponseWriter, status int, d pageData) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.WriteHeader(status)
	_ = pageTmpl.Execute(w, d)
}

func checkLoopbackURL(issuer string) error {
	rest, ok := strings.CutPrefix(issuer, "http://")
	if !ok {
		return fmt.Errorf("oidc sandbox: issuer %q must be http:// on a loopback address", issuer)
	}
	host, _, err := net.SplitHostPort(strings.SplitN(rest, "/", 2)[0])
	if err != nil {
		return fmt.Errorf("oidc sandbox: issuer %q: %w", issuer, err)
	}
	if !loopback.IsHost(host) {
		return fmt.Errorf("oidc sandbox: issuer %q is not on loopback", issuer)
	}
	return nil
}
