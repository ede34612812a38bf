package docebo

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/integrations"
)

// Name is the registry name of the integration.
const Name = "docebo"

// Scope is the only OAuth2 scope Docebo knows (confirmed; docs/docebo.md).
const Scope = "api"

// Paths on the platform host.
const (
	AuthorizePath   = "/oauth2/authorize"
	TokenPath       = "/oauth2/token"
	SessionPath     = "/manage/v1/user/session"
	EnrollmentsPath = "/learn/v1/enrollments"
	CoursesPath     = "/learn/v1/courses"
	CatalogPath     = "/learn/v1/catalog"
	// DefaultExchangeTokenPath is where the experimental "token_exchange"
	// sign-in asks for a 30-second single-use exchange token. No public
	// source documents such an endpoint (Docebo mints exchange tokens itself
	// inside an identity provider's sign-in): this path is latchkey's guess,
	// which its sandbox serves, and can be changed with the
	// "exchange_token_path" setting.
	DefaultExchangeTokenPath = "/manage/v1/user/exchange_token"
)

// Learner-UI paths of courses and learning plans (confirmed by many public
// links; docs/docebo.md).
const (
	courseUIPath       = "/learn/course/"
	learningPlanUIPath = "/learn/learning-plans/"
)

// LearningPlanPrefix starts the normalised id of a learning plan ("lp-12"):
// Docebo numbers courses and learning plans separately, so course 12 keeps
// the id "12" and learning plan 12 is "lp-12". SignInURL takes either.
const LearningPlanPrefix = "lp-"

// Settings keys (see the package doc).
const (
	SettingSignIn            = "signin"
	SettingExchangeTokenPath = "exchange_token_path"
	SettingPageSize          = "page_size"
	SettingGrants            = "grants"
	SettingJWTAudience       = "jwt_audience"
)

// Sign-in link forms (values of the "signin" setting).
const (
	SignInOAuth2Response = "oauth2_response"
	SignInTokenExchange  = "token_exchange"
)

const (
	defaultPageSize     = 200
	defaultMaxRetryWait = 20 * time.Second
	defaultMaxRetries   = 4
)

// Options tune a Docebo beyond its Config. The zero value is valid: every
// nil or zero field takes the default documented on it.
type Options struct {
	// HTTPClient is used for every request, API and token endpoint alike.
	// If nil, integrations.EgressClient with a 60 s timeout is used: no
	// redirect is followed and the environment's proxy settings are
	// ignored. API calls never follow a redirect, whatever the client.
	HTTPClient *http.Client
	// MaxRetryWait caps the total time spent waiting on 429/503 answers
	// within one call (default 20s; the context deadline caps it too).
	MaxRetryWait time.Duration
	// MaxRetries caps the retries after 429/503 within one call (default 4).
	MaxRetries int
	// Now is the clock (default time.Now); used for token expiry and JWT
	// iat/exp.
	Now func() time.Time
}

// Docebo is one configured Docebo platform. It is safe for concurrent use.
type Docebo struct {
	base         *url.URL
	clientID     string
	secret       string
	grants       []integrations.Grant
	signIn       string
	exchangePath string
	pageSize     int
	jwtAudience  string

	// coursesForbiddenUntil: after a 403 from /learn/v1/courses, Search goes
	// straight to the catalog until then.
	mu                    sync.Mutex
	coursesForbiddenUntil time.Time

	hc           *http.Client
	maxRetryWait time.Duration
	maxRetries   int
	now          func() time.Time
}

var (
	_ integrations.Integration   = (*Docebo)(nil)
	_ integrations.OAuth         = (*Docebo)(nil)
	_ integrations.AccountLookup = (*Docebo)(nil)
	_ integrations.Courses       = (*Docebo)(nil)
	_ integrations.Searcher      = (*Docebo)(nil)
	_ integrations.SignIn        = (*Docebo)(nil)
	_ integrations.Factory       = Factory
)

// Factory builds a Docebo from cfg with default Options.
func Factory(cfg integrations.Config) (integrations.Integration, error) {
	return New(cfg, Options{})
}

// allGrants are the grants an API and SSO app can enable (Docebo's
// authentication help page), in the order the daemon offers them.
var allGrants = []integrations.Grant{
	integrations.GrantAuthorizationCode,
	integrations.GrantPassword,
	integrations.GrantClientCredentials,
	integrations.GrantRefreshToken,
	integrations.GrantJWTBearer,
}

// New builds a Docebo from cfg and opts, validating the configuration.
func New(cfg integrations.Config, opts Options) (*Docebo, error) {
	base, err := integrations.CheckBaseURL(cfg.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("docebo: %w", err)
	}
	if strings.TrimSpace(cfg.ClientID) == "" {
		return nil, fmt.Errorf("docebo: a client id is required (the OAuth2 app's client ID from Admin → API and SSO)")
	}
	d := &Docebo{
		base:         base,
		clientID:     cfg.ClientID,
		secret:       cfg.Secret,
		grants:       allGrants,
		signIn:       SignInOAuth2Response,
		exchangePath: DefaultExchangeTokenPath,
		pageSize:     defaultPageSize,
		hc:           opts.HTTPClient,
		maxRetryWait: opts.MaxRetryWait,
		maxRetries:   opts.MaxRetries,
		now:          opts.Now,
	}
	if d.maxRetryWait <= 0 {
		d.maxRetryWait = defaultMaxRetryWait
	}
	if d.maxRetries <= 0 {
		d.maxRetries = defaultMaxRetries
	}
	if d.now == nil {
		d.now = time.Now
	}
	if d.hc == nil {
		d.hc = integrations.EgressClient(60 * time.Second)
	}
	s := cfg.Settings
	switch v := strings.TrimSpace(s[SettingSignIn]); v {
	case "", SignInOAuth2Response:
	case SignInTokenExchange:
		d.signIn = v
	default:
		return nil, fmt.Errorf("docebo: setting %q must be %q or %q, not %q", SettingSignIn, SignInOAuth2Response, SignInTokenExchange, v)
	}
	if v := strings.TrimSpace(s[SettingExchangeTokenPath]); v != "" {
		if !strings.HasPrefix(v, "/") || strings.Contains(v, "//") || strings.ContainsAny(v, "?#") {
			return nil, fmt.Errorf("docebo: setting %q must be an absolute path on the platform, not %q", SettingExchangeTokenPath, v)
		}
		d.exchangePath = v
	}
	if v := strings.TrimSpace(s[SettingJWTAudience]); v != "" {
		if strings.Contains(v, "://") || strings.ContainsAny(v, "/?#@ ") {
			return nil, fmt.Errorf("docebo: setting %q must be a host name without scheme or path (for example acme.docebosaas.com), not %q", SettingJWTAudience, v)
		}
		d.jwtAudience = v
	}
	if v := strings.TrimSpace(s[SettingPageSize]); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return nil, fmt.Errorf("docebo: setting %q must be a number from 1 to 1000, not %q", SettingPageSize, v)
		}
		d.pageSize = n
	}
	if v := strings.TrimSpace(s[SettingGrants]); v != "" {
		var gs []integrations.Grant
		for _, f := range strings.Split(v, ",") {
			g, ok := parseGrant(strings.TrimSpace(f))
			if !ok {
				return nil, fmt.Errorf("docebo: setting %q: unknown grant %q (known: authorization_code, password, client_credentials, refresh_token, jwt_bearer)", SettingGrants, f)
			}
			gs = append(gs, g)
		}
		d.grants = gs
	}
	return d, nil
}

func parseGrant(s string) (integrations.Grant, bool) {
	switch s {
	case "jwt_bearer", "jwt-bearer", "jwt":
		return integrations.GrantJWTBearer, true
	}
	for _, g := range allGrants {
		if string(g) == s {
			return g, true
		}
	}
	return "", false
}

// Name implements integrations.Integration.
func (d *Docebo) Name() string { return Name }

// BaseURL implements integrations.Integration: the platform origin, the only
// place a token is sent. The returned URL is a copy.
func (d *Docebo) BaseURL() *url.URL { u := *d.base; return &u }

// Grants implements integrations.OAuth.
func (d *Docebo) Grants() []integrations.Grant {
	return append([]integrations.Grant(nil), d.grants...)
}

// OAuth2Config implements integrations.OAuth: /oauth2/authorize and
// /oauth2/token on the platform, scope "api", the client secret sent in the
// request body (AuthStyleInParams, as every Docebo client seen does).
func (d *Docebo) OAuth2Config(redirectURL string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     d.clientID,
		ClientSecret: d.secret,
		Endpoint: oauth2.Endpoint{
			AuthURL:   d.url(AuthorizePath),
			TokenURL:  d.url(TokenPath),
			AuthStyle: oauth2.AuthStyleInParams,
		},
		RedirectURL: redirectURL,
		Scopes:      []string{Scope},
	}
}

// HTTPClient is the client the integration uses; callers running the
// authorization-code exchange may put it in the context (oauth2.HTTPClient)
// so token requests share its timeouts and pool.
func (d *Docebo) HTTPClient() *http.Client { return d.hc }

// url joins path to the base URL.
func (d *Docebo) url(path string) string {
	return d.base.String() + path
}
