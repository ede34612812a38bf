package oauthserver

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/latchkey/latchkey/injector/auth"
)

// Resources an app's grant may be bound to (the RFC 8707 resource, as a
// path on the listener).
const (
	ResourceMCP = "/mcp"
	ResourceAPI = "/v1"
)

// Store keeps the server's durable state: one JSON document holding the
// registered clients and the grants (no token, only refresh-token digests).
type Store interface {
	// LoadApps returns what SaveApps last saved, or nil when nothing was.
	LoadApps(ctx context.Context) ([]byte, error)
	// SaveApps replaces the saved document durably.
	SaveApps(ctx context.Context, doc []byte) error
}

// Prompter asks the person whether an app may have what it asks for. It
// must show the consent where only the person can answer (the menu), and
// return once it is shown; the answer comes back through [Server.Decide].
type Prompter interface {
	PromptConsent(ctx context.Context, req ConsentRequest) error
}

// ConsentRequest is what the consent view shows.
type ConsentRequest struct {
	ID           string `json:"id"`
	ClientID     string `json:"client_id"`
	AppName      string `json:"app_name"`
	RedirectHost string `json:"redirect_host"`
	// Program is the program that registered the app, where the OS told
	// (it may differ from the one asking now: a hint, not a proof).
	Program      string    `json:"program,omitempty"`
	Integrations []string  `json:"integrations"`
	Resource     string    `json:"resource,omitempty"`
	ReadOnly     bool      `json:"read_only"`
	Expires      time.Time `json:"expires"`
}

// Config configures a Server.
type Config struct {
	// Issuer mints the access tokens. Required.
	Issuer *auth.Issuer
	// Store keeps clients and grants. Required.
	Store Store
	// Prompter shows the consent. Required.
	Prompter Prompter
	// Integrations returns the integrations an app may ask for. Required.
	Integrations func() []string
	// ProgramOf, when set, names the program that sent a registration
	// request (its executable, where the OS tells), shown in the consent.
	ProgramOf func(r *http.Request) string
	// OnRevoke is told the subjects whose tokens must stop now.
	OnRevoke func(subjects ...string)
	// AccessTTL is the access tokens' life; default 15 minutes.
	AccessTTL time.Duration
	// RefreshTTL is how long a grant unused lives; default 30 days.
	RefreshTTL time.Duration
	// CodeTTL is an authorization code's life; default 60 seconds.
	CodeTTL time.Duration
	// ConsentTTL is how long a consent waits for its answer; default 10 minutes.
	ConsentTTL time.Duration
	// MaxClients bounds the registered clients; default 256.
	MaxClients int
	// HTTPClient fetches client ID metadata documents; default a client
	// with a 10 s timeout that connects to public addresses only, without
	// the proxy environment.
	HTTPClient *http.Client
	// Logger; default slog.Default(). Nothing logged holds a code or a token.
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Client is a registered app.
type Client struct {
	ID           string    `json:"client_id"`
	Name         string    `json:"client_name"`
	RedirectURIs []string  `json:"redirect_uris"`
	CreatedAt    time.Time `json:"created_at"`
	// Document: the client id is the URL of its metadata document.
	Document bool `json:"document,omitempty"`
	// Program is the program that registered it, where the OS told.
	Program string `json:"program,omitempty"`
}

// Grant is what the person allowed an app.
type Grant struct {
	ID           string    `json:"id"`
	ClientID     string    `json:"client_id"`
	AppName      string    `json:"app_name"`
	Integrations []string  `json:"integrations"`
	Resource     string    `json:"resource,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	LastUsedAt   time.Time `json:"last_used_at"`
	RevokedAt    time.Time `json:"revoked_at,omitzero"`
	RevokeReason string    `json:"revoke_reason,omitempty"`
	// RefreshHash is the hex SHA-256 of the current refresh token; Spent
	// those of the refresh tokens already used (a second use is theft).
	RefreshHash string   `json:"refresh_hash,omitempty"`
	Spent       []string `json:"spent,omitempty"`
}

// Subject is the sub of the grant's access tokens.
func (g Grant) Subject() string { return auth.SourceAppPrefix + g.ID }

// Live reports whether the grant still works at now.
func (g Grant) Live(now time.Time, refreshTTL time.Duration) bool {
	return g.RevokedAt.IsZero() && now.Before(g.LastUsedAt.Add(refreshTTL))
}

type state struct {
	Clients map[string]*Client `json:"clients"`
	Grants  map[string]*Grant  `json:"grants"`
}

type pendingConsent struct {
	req         ConsentRequest
	redirectURI string
	state       string
	challenge   string
	issuer      string
}

type authCode struct {
	clientID, redirectURI, challenge, resource string
	scope                                      []string
	appName                                    string
	expires                                    time.Time
}

// Server is the authorization server. Create it with New.
type Server struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	st       state
	byHash   map[string]string // refresh hash (current or spent) → grant id
	pending  map[string]*pendingConsent
	codes    map[[32]byte]*authCode // sha256(code) → code
	usedCode map[[32]byte]string    // sha256(spent code) → grant id it made
}

// New loads the saved state and returns a server.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Issuer == nil || cfg.Store == nil || cfg.Prompter == nil || cfg.Integrations == nil {
		return nil, errors.New("oauthserver: Issuer, Store, Prompter and Integrations are required")
	}
	if cfg.AccessTTL <= 0 {
		cfg.AccessTTL = 15 * time.Minute
	}
	if cfg.RefreshTTL <= 0 {
		cfg.RefreshTTL = 30 * 24 * time.Hour
	}
	if cfg.CodeTTL <= 0 {
		cfg.CodeTTL = 60 * time.Second
	}
	if cfg.ConsentTTL <= 0 {
		cfg.ConsentTTL = 10 * time.Minute
	}
	if cfg.MaxClients <= 0 {
		cfg.MaxClients = 256
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second, Transport: documentTransport()}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.OnRevoke == nil {
		cfg.OnRevoke = func(...string) {}
	}
	s := &Server{
		cfg: cfg, log: cfg.Logger,
		st:       state{Clients: map[string]*Client{}, Grants: map[string]*Grant{}},
		byHash:   map[string]string{},
		pending:  map[string]*pendingConsent{},
		codes:    map[[32]byte]*authCode{},
		usedCode: map[[32]byte]string{},
	}
	doc, err := cfg.Store.LoadApps(ctx)
	if err != nil {
		return nil, fmt.Errorf("oauthserver: load apps: %w", err)
	}
	if len(doc) > 0 {
		if err := json.Unmarshal(doc, &s.st); err != nil {
			return nil, fmt.Errorf("oauthserver: the saved apps do not parse: %w", err)
		}
		if s.st.Clients == nil {
			s.st.Clients = map[string]*Client{}
		}
		if s.st.Grants == nil {
			s.st.Grants = map[string]*Grant{}
		}
	}
	for id, g := range s.st.Grants {
		if g.RefreshHash != "" {
			s.byHash[g.RefreshHash] = id
		}
		for _, h := range g.Spent {
			s.byHash[h] = id
		}
	}
	return s, nil
}

// save writes the state; s.mu is held.
func (s *Server) save(ctx context.Context) error {
	b, err := json.Marshal(&s.st)
	if err != nil {
		return err
	}
	return s.cfg.Store.SaveApps(context.WithoutCancel(ctx), b)
}

func randomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("oauthserver: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashHex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// Grants lists the grants, newest first.
func (s *Server) Grants() []Grant {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Grant, 0, len(s.st.Grants))
	for _, g := range s.st.Grants {
		c := *g
		c.RefreshHash, c.Spent = "", nil
		c.Integrations = slices.Clone(g.Integrations)
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.After(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// GrantState says whether a grant is "active", "expired" or "revoked".
func (s *Server) GrantState(g Grant) string {
	switch {
	case !g.RevokedAt.IsZero():
		return "revoked"
	case !g.Live(s.cfg.Now(), s.cfg.RefreshTTL):
		return "expired"
	}
	return "active"
}

// ErrNoGrant: no grant has that id.
var ErrNoGrant = errors.New("no such grant")

// Revoke revokes a grant at once: its refresh token stops and so do the
// access tokens already out (Config.OnRevoke).
func (s *Server) Revoke(ctx context.Context, id, reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.st.Grants[id]
	if !ok {
		return ErrNoGrant
	}
	return s.revokeLocked(ctx, g, reason)
}

func (s *Server) revokeLocked(ctx context.Context, g *Grant, reason string) error {
	if g.RevokedAt.IsZero() {
		g.RevokedAt = s.cfg.Now().UTC()
		g.RevokeReason = reason
	}
	s.cfg.OnRevoke(g.Subject())
	return s.save(ctx)
}

// RevokedSubjects lists the subjects of every grant that no longer works
// (revoked or expired), for a restarted daemon to refuse their tokens.
func (s *Server) RevokedSubjects() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	var out []string
	for _, g := range s.st.Grants {
		if !g.Live(now, s.cfg.RefreshTTL) {
			out = append(out, g.Subject())
		}
	}
	sort.Strings(out)
	return out
}

// Live reports whether the grant behind an app token's subject still
// works, and returns it.
func (s *Server) Live(subject string) (Grant, bool) {
	id, ok := cutPrefix(subject, auth.SourceAppPrefix)
	if !ok {
		return Grant{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.st.Grants[id]
	if !ok || !g.Live(s.cfg.Now(), s.cfg.RefreshTTL) {
		return Grant{}, false
	}
	c := *g
	c.RefreshHash, c.Spent = "", nil
	return c, true
}

func cutPrefix(s, p string) (string, bool) {
	if len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):], true
	}
	return "", false
}

// Pending returns the consent request id, while it waits for an answer.
func (s *Server) Pending(id string) (ConsentRequest, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked()
	p, ok := s.pending[id]
	if !ok {
		return ConsentRequest{}, false
	}
	return p.req, true
}

// ErrNoConsent: the consent request is unknown, answered or expired.
var ErrNoConsent = errors.New("this consent request is unknown, already answered or expired")

// Decide answers consent request id and returns where the person's browser
// goes next: the app's redirect URI with a code (allow) or with
// error=access_denied (deny), state and iss in both.
func (s *Server) Decide(id string, allow bool) (redirect string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked()
	p, ok := s.pending[id]
	if !ok {
		return "", ErrNoConsent
	}
	delete(s.pending, id)
	if !allow {
		s.log.Info("app consent denied", "client_id", p.req.ClientID, "app", p.req.AppName)
		return redirectWith(p.redirectURI, map[string]string{
			"error": "access_denied", "error_description": "the person denied the request",
			"state": p.state, "iss": p.issuer,
		}), nil
	}
	code := randomString(32)
	s.codes[sha256.Sum256([]byte(code))] = &authCode{
		clientID: p.req.ClientID, redirectURI: p.redirectURI, challenge: p.challenge,
		resource: p.req.Resource, scope: slices.Clone(p.req.Integrations), appName: p.req.AppName,
		expires: s.cfg.Now().Add(s.cfg.CodeTTL),
	}
	s.log.Info("app consent allowed", "client_id", p.req.ClientID, "app", p.req.AppName)
	return redirectWith(p.redirectURI, map[string]string{"code": code, "state": p.state, "iss": p.issuer}), nil
}

// expireLocked drops expired consents and codes; s.mu is held.
func (s *Server) expireLocked() {
	now := s.cfg.Now()
	for id, p := range s.pending {
		if !now.Before(p.req.Expires) {
			delete(s.pending, id)
		}
	}
	for k, c := range s.codes {
		if !now.Before(c.expires) {
			delete(s.codes, k)
		}
	}
	if len(s.usedCode) > 4096 {
		clear(s.usedCode)
	}
}

// tokenResponse is an RFC 6749 §5.1 answer.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
}

// issueLocked mints an access token and a fresh refresh token for g,
// rotating its refresh token; s.mu is held.
func (s *Server) issueLocked(ctx context.Context, g *Grant) (tokenResponse, error) {
	now := s.cfg.Now()
	tok, exp, err := s.cfg.Issuer.MintApp(auth.AppToken{
		GrantID: g.ID, ClientID: g.ClientID, Resource: g.Resource, Scope: g.Integrations, TTL: s.cfg.AccessTTL,
	})
	if err != nil {
		return tokenResponse{}, err
	}
	refresh := "lkr_" + randomString(32)
	if g.RefreshHash != "" {
		g.Spent = append(g.Spent, g.RefreshHash)
		if len(g.Spent) > 64 {
			for _, h := range g.Spent[:len(g.Spent)-64] {
				delete(s.byHash, h)
			}
			g.Spent = slices.Clone(g.Spent[len(g.Spent)-64:])
		}
	}
	g.RefreshHash = hashHex(refresh)
	s.byHash[g.RefreshHash] = g.ID
	g.LastUsedAt = now.UTC()
	if err := s.save(ctx); err != nil {
		return tokenResponse{}, err
	}
	scope := ""
	for i, n := range g.Integrations {
		if i > 0 {
			scope += " "
		}
		scope += n
	}
	return tokenResponse{
		AccessToken: tok, TokenType: "Bearer", RefreshToken: refresh, Scope: scope,
		ExpiresIn: int(exp.Sub(now.Truncate(time.Second)).Seconds()),
	}, nil
}

// GrantInfo is a grant as listed: what the person allowed, and its state
// ("active", "expired" or "revoked").
type GrantInfo struct {
	Grant
	State string `json:"state"`
}

// List lists the grants with their state, newest first.
func (s *Server) List() []GrantInfo {
	gs := s.Grants()
	out := make([]GrantInfo, len(gs))
	for i, g := range gs {
		out[i] = GrantInfo{Grant: g, State: s.GrantState(g)}
	}
	return out
}

// Touch notes that the grant behind an app token's subject was used now.
func (s *Server) Touch(subject string) {
	id, ok := cutPrefix(subject, auth.SourceAppPrefix)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if g, ok := s.st.Grants[id]; ok && g.RevokedAt.IsZero() {
		g.LastUsedAt = s.cfg.Now().UTC()
	}
}

// Lookup returns the grant behind an app token's subject, live or not.
func (s *Server) Lookup(subject string) (Grant, bool) {
	id, ok := cutPrefix(subject, auth.SourceAppPrefix)
	if !ok {
		return Grant{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.st.Grants[id]
	if !ok {
		return Grant{}, false
	}
	c := *g
	c.RefreshHash, c.Spent = "", nil
	return c, true
}
