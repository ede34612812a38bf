// Package integrations is the seam between latchkey and the SaaS tools it
// holds tokens for. Each integration (docebo, document360, …) implements
// Integration plus the optional capabilities it has (OAuth, Courses, Search,
// AccountLookup), and is registered by name in a Registry built by the
// daemon. The daemon and the injector know integrations only through this
// package; no integration imports the vault: tokens reach them through the
// Tokens interface, already opened, for the length of one call.
//
// It also owns how a token leaves the process (transport.go): Transport,
// the http.RoundTripper the integrations' API clients send through
// (credential header, one refresh on 401, no redirects, no proxy
// environment), and the pieces the injector's proxy shares with it
// (RefreshRejected, NoteRefused, RetryAfter).
package integrations

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"time"

	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/internal/loopback"
)

// Config is one integration's settings, as the daemon read them from the
// TOML config file and the keychain. Secret is the client secret (from the
// keychain, never from the config file); Settings holds integration-specific
// non-secret values (region, project, version, grant, username, …).
type Config struct {
	Name     string
	BaseURL  string
	ClientID string
	Secret   string
	Settings map[string]string
}

// Factory builds an integration from its configuration. It validates the
// configuration (e.g. base URL https or loopback) and returns a clear error.
type Factory func(Config) (Integration, error)

// Integration is what every integration is.
type Integration interface {
	// Name is the registry name ("docebo"): lower-case, stable, used in
	// routes, CLI arguments, config keys and sealed-record bindings.
	Name() string
	// BaseURL is the only origin the integration's token is ever sent to.
	BaseURL() *url.URL
}

// CredentialInjector is implemented by integrations whose API takes the
// credential some other way than "Authorization: Bearer <token>" (a static
// API key in its own header, say). CredentialHeader names the header and
// the text that goes before the token in its value ("" for the bare token).
type CredentialInjector interface {
	CredentialHeader() (header, prefix string)
}

// CredentialHeaderOf is how in's credential is sent: its CredentialHeader
// when it has one, else "Authorization" with the prefix "Bearer ".
func CredentialHeaderOf(in Integration) (header, prefix string) {
	if ci, ok := in.(CredentialInjector); ok {
		if h, p := ci.CredentialHeader(); h != "" {
			return h, p
		}
	}
	return "Authorization", "Bearer "
}

// Grant names an OAuth grant an integration supports.
type Grant string

const (
	GrantAuthorizationCode Grant = "authorization_code"
	GrantPassword          Grant = "password"
	GrantClientCredentials Grant = "client_credentials"
	GrantRefreshToken      Grant = "refresh_token"
	GrantJWTBearer         Grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	// GrantAPIToken: no OAuth; the user supplies a static API token that is
	// sealed like any token (Document360).
	GrantAPIToken Grant = "api_token"
)

// OAuth is implemented by integrations whose tokens come from an OAuth2
// server. The daemon drives the flows (state, PKCE, loopback redirect,
// sealing); the integration only knows its endpoints and grant details.
type OAuth interface {
	// OAuth2Config returns the client configuration with the given redirect
	// URL (used by the authorization-code grant only).
	OAuth2Config(redirectURL string) *oauth2.Config
	// Grants lists the grants this integration supports.
	Grants() []Grant
}

// The grants an integration may offer beyond the authorization code. The
// daemon finds them by the methods an integration has (no integration is
// special-cased by name) and seals the token each returns.

// PasswordGranter is implemented by integrations that take the resource
// owner password grant (RFC 6749 §4.3): PasswordGrant exchanges the user's
// name and password, used once and never stored, for a token.
type PasswordGranter interface {
	PasswordGrant(ctx context.Context, username, password string) (*oauth2.Token, error)
}

// ClientCredentialsGranter is implemented by integrations that take the
// client credentials grant (RFC 6749 §4.4): ClientCredentialsGrant gets a
// token for the configured client itself, with no user present. The daemon
// also uses it to get a new token when one without a refresh token expires.
type ClientCredentialsGranter interface {
	ClientCredentialsGrant(ctx context.Context) (*oauth2.Token, error)
}

// JWTBearerGranter is implemented by integrations that take the JWT bearer
// grant (RFC 7523): JWTBearerGrant signs an assertion naming username with
// key (the user's signing key, sealed in the vault) and exchanges it for a
// token. The daemon also runs it to renew a token that came without a
// refresh token, and for the short-lived token of a signed-in link.
type JWTBearerGranter interface {
	JWTBearerGrant(ctx context.Context, key *rsa.PrivateKey, username string) (*oauth2.Token, error)
}

// TokenRenewer is implemented by integrations that renew their tokens
// themselves instead of by the OAuth refresh of their OAuth2Config (the
// organisation identity: an OpenID Connect refresh whose new ID token is
// verified like the first). RenewToken returns the token that replaces
// cur, or an error wrapping ErrReconnectNeeded when the user must sign in
// again.
type TokenRenewer interface {
	RenewToken(ctx context.Context, cur *oauth2.Token) (*oauth2.Token, error)
}

// Disconnector is implemented by integrations for which disconnecting is
// more than forgetting the sealed token (the organisation identity: signing
// out at the provider and re-binding the records). The daemon calls
// Disconnect instead of deleting the token itself.
type Disconnector interface {
	Disconnect(ctx context.Context) error
}

// Account is who a token belongs to at the provider.
type Account struct {
	ID       string `json:"id"`
	Username string `json:"username,omitempty"`
	Name     string `json:"name,omitempty"`
	Email    string `json:"email,omitempty"`
}

// Course is one entry of the "My Courses" feed.
type Course struct {
	Integration string   `json:"integration"`
	ID          string   `json:"id"`
	Title       string   `json:"title"`
	URL         string   `json:"url"`
	Type        string   `json:"type,omitempty"`
	Status      string   `json:"status,omitempty"`   // not_started | in_progress | completed | other provider word
	Progress    *float64 `json:"progress,omitempty"` // 0..100 when known
	Thumbnail   string   `json:"thumbnail,omitempty"`
}

// SearchResult is one hit of enterprise search.
type SearchResult struct {
	Integration string  `json:"integration"`
	Kind        string  `json:"kind"` // course | article | …
	ID          string  `json:"id"`
	Title       string  `json:"title"`
	URL         string  `json:"url"`
	Snippet     string  `json:"snippet,omitempty"`
	Score       float64 `json:"score"` // 0..1, comparable across integrations
}

// Tokens gives an API client the current token of one integration. It is
// implemented by the daemon on top of the vault: Token opens the sealed
// record (refreshing it first when expired); Refresh is called after the
// provider rejected tok (HTTP 401) and refreshes once for all concurrent
// callers, returning the new token (or the already-refreshed one). Refresh
// returns a token with rejected's own access token when there is nothing to
// refresh: a static API token, or a token the upstream refused right after a
// refresh produced it (RefusedTokens). The caller then hands the 401 on
// instead of retrying.
type Tokens interface {
	Token(ctx context.Context) (*oauth2.Token, error)
	Refresh(ctx context.Context, rejected *oauth2.Token) (*oauth2.Token, error)
}

// RefusedTokens is implemented by Tokens that can be told that the upstream
// refused, again, the token Refresh had just handed out (the retry got a 401
// too): that 401 is not about the token, so a later 401 on it goes back to
// the caller without another refresh (one refresh per token).
type RefusedTokens interface {
	Refused(tok *oauth2.Token)
}

// NoteRefused tells tokens, when it is a RefusedTokens, that the retry with
// tok, which a Refresh just returned, was answered 401 as well.
func NoteRefused(tokens Tokens, tok *oauth2.Token) {
	if rt, ok := tokens.(RefusedTokens); ok && tok != nil {
		rt.Refused(tok)
	}
}

// CallTokens is implemented by Tokens that can open just what one API call
// needs: CallToken returns the access token with its type and expiry
// (refreshed first when expired), and never copies out the refresh token
// or the provider's extras. The injector's proxy and the API clients of the
// integrations use it when they can (AccessTokenFor).
type CallTokens interface {
	CallToken(ctx context.Context) (*oauth2.Token, error)
}

// AccessTokenFor returns the token for one call: tokens' CallToken when it
// has one, else its Token.
func AccessTokenFor(ctx context.Context, tokens Tokens) (*oauth2.Token, error) {
	if ct, ok := tokens.(CallTokens); ok {
		return ct.CallToken(ctx)
	}
	return tokens.Token(ctx)
}

// AccountLookup: the account a token belongs to.
type AccountLookup interface {
	Account(ctx context.Context, tokens Tokens) (Account, error)
}

// Courses: the user's enrollments, every page.
type Courses interface {
	Courses(ctx context.Context, tokens Tokens) ([]Course, error)
}

// Article is one knowledge-base article as plain text.
type Article struct {
	Integration string `json:"integration"`
	ID          string `json:"id"`
	Title       string `json:"title"`
	URL         string `json:"url,omitempty"`
	Text        string `json:"text"` // HTML removed
}

// Articles: one article's text, by the id search returned.
type Articles interface {
	Article(ctx context.Context, tokens Tokens, id string) (Article, error)
}

// Searcher: search the integration's content.
type Searcher interface {
	Search(ctx context.Context, tokens Tokens, query string, limit int) ([]SearchResult, error)
}

// Errors integrations return (wrapped) so callers can react without parsing
// provider messages.
var (
	// ErrReconnectNeeded: the provider refused the refresh token
	// (invalid_grant) or the grant is gone; the user must connect again.
	ErrReconnectNeeded = errors.New("reconnect needed")
	// ErrNotConnected: there is no token for this integration.
	ErrNotConnected = errors.New("not connected")
)

// RateLimitError is returned when the provider answered 429 (rate limited)
// or 503 (unavailable; Error says which) and the
// client's bounded retries ran out.
type RateLimitError struct {
	Status     int
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string {
	if e.Status == http.StatusServiceUnavailable {
		// Only 429 is rate limiting; a 503 is the provider being down.
		return fmt.Sprintf("provider unavailable (HTTP %d, retry after %s)", e.Status, e.RetryAfter)
	}
	return fmt.Sprintf("rate limited by provider (HTTP %d, retry after %s)", e.Status, e.RetryAfter)
}

// ProviderError is an error response of the provider, with its HTTP status
// and a message read defensively from the body (never a token).
type ProviderError struct {
	Status  int
	Code    string
	Message string
}

func (e *ProviderError) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("provider error (HTTP %d, %s): %s", e.Status, e.Code, e.Message)
	}
	return fmt.Sprintf("provider error (HTTP %d): %s", e.Status, e.Message)
}

// Registry maps integration names to factories. Build one with NewRegistry;
// there is no global registry.
type Registry struct {
	factories map[string]Factory
}

// NewRegistry returns a registry of the given factories by name.
func NewRegistry(byName map[string]Factory) *Registry {
	r := &Registry{factories: make(map[string]Factory, len(byName))}
	for n, f := range byName {
		r.factories[n] = f
	}
	return r
}

// Names lists the registered names, sorted.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.factories))
	for n := range r.factories {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// New builds the named integration from cfg.
func (r *Registry) New(cfg Config) (Integration, error) {
	f, ok := r.factories[cfg.Name]
	if !ok {
		return nil, fmt.Errorf("unknown integration %q (known: %v)", cfg.Name, r.Names())
	}
	return f(cfg)
}

// Has reports whether name is registered.
func (r *Registry) Has(name string) bool { _, ok := r.factories[name]; return ok }

// CheckBaseURL validates an integration base URL: https, or http only on a
// loopback host (127.0.0.0/8, [::1], localhost) for sandboxes; no userinfo,
// query or fragment. It returns the URL without a trailing slash.
func CheckBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("base URL %q is not an absolute URL", raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("base URL %q must not carry credentials, a query or a fragment", raw)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !loopback.IsHost(u.Hostname()) {
			return nil, fmt.Errorf("base URL %q must use https (http is allowed only for loopback sandboxes)", raw)
		}
	default:
		return nil, fmt.Errorf("base URL %q must use https", raw)
	}
	for len(u.Path) > 0 && u.Path[len(u.Path)-1] == '/' {
		u.Path = u.Path[:len(u.Path)-1]
	}
	u.RawPath = ""
	return u, nil
}

// Reader is the signed-in person, as an integration's widget needs them
// (from the organisation identity when there is one, else the local user).
type Reader struct {
	Username  string `json:"username"`
	FirstName string `json:"firstName"`
	LastName  string `json:"lastName"`
	Email     string `json:"emailId"`
}

// WidgetToken is a short-lived token for an embedded widget, in the shape the
// widget expects.
type WidgetToken struct {
	AccessToken string `json:"accessToken"`
	ExpiresIn   int    `json:"expiresIn"` // seconds
}

// WidgetTokens: integrations with an embeddable widget that authenticates
// readers through "your backend" (Document360's JWT widget). The daemon plays
// that backend; only an authenticated menu session may ask.
type WidgetTokens interface {
	WidgetToken(ctx context.Context, reader Reader) (WidgetToken, error)
}

// SignIn: integrations that can open a page for the user already signed in,
// with a freshly obtained short-lived credential in the URL (never the
// long-lived token from the vault). target is a course id or a path.
type SignIn interface {
	SignInURL(ctx context.Context, tokens Tokens, target string) (string, error)
}
