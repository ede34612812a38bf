package document360

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/latchkey/latchkey/integrations"
	"github.com/latchkey/latchkey/internal/loopback"
)

// Name is the registry name of the integration.
const Name = "document360"

// API versions (Settings["api"]).
const (
	APIv2 = "v2"
	APIv3 = "v3"
)

// Token validity bounds of the widget JWT, in minutes: Document360's widget
// JWT settings accept 5 to 1440 minutes and move values outside to the
// nearest bound (see docs/document360.md).
const (
	MinTokenValidity     = 5
	MaxTokenValidity     = 1440
	DefaultTokenValidity = 15 // the value of Document360's sample backend
)

// apiHosts are the Document360 API hosts per data centre (all three are in
// Document360's public API reference). The API token is only ever sent to one
// of these, or to a loopback sandbox given as Config.BaseURL.
var apiHosts = map[string]string{
	"eu": "https://apihub.document360.io",
	"us": "https://apihub.us.document360.io",
	"ca": "https://apihub.ca.document360.io",
}

// identityHosts are the identity servers per data centre. The eu and us
// hosts appear in public sources; the ca host is in none: it is guessed from
// the apihub naming (apihub.ca → identity.ca), so Canadian projects may need
// Settings["identity_url"] or widget_token_url.
var identityHosts = map[string]string{
	"eu": "https://identity.document360.io",
	"us": "https://identity.us.document360.io",
	"ca": "https://identity.ca.document360.io", // unconfirmed guess, see above
}

// Defaults of the rate budget and the search cache.
const (
	// DefaultRateLimit is the v2 budget of the Professional and Business
	// plans: 60 requests per minute per api_token.
	DefaultRateLimit      = 60
	rateWindow            = time.Minute
	DefaultSearchCacheTTL = 5 * time.Minute
	searchCacheSize       = 256
)

// Options are the non-configuration dependencies of a Document360.
type Options struct {
	// Logger receives debug and warning logs (never a token or secret).
	// Nil means slog.Default().
	Logger *slog.Logger
	// HTTPClient is used for every request. Nil means
	// integrations.EgressClient with a 30 s timeout (the environment's
	// proxy settings ignored). Redirects are never followed either way: the API token is a
	// custom header that net/http would forward to any redirect target.
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxRateLimitWait caps how long one call waits for a rate-limit window
	// (within the context deadline too). Zero means 10 seconds.
	MaxRateLimitWait time.Duration
}

// Document360 is one configured Document360 knowledge base. It implements
// integrations.Integration, integrations.Searcher and
// integrations.WidgetTokens, and is safe for concurrent use.
type Document360 struct {
	name      string
	base      *url.URL
	identity  *url.URL
	public    *url.URL // public_url, if set
	linkTmpl  string   // article link template ({lang}, {version}, {slug}); "": the article lookup
	verSlug   string   // version_slug setting, may be empty
	showPriv  bool     // show_private: private articles are shown
	widgetURL *url.URL // the widget token endpoint; nil without an identity server
	api       string
	project   string
	version   string // configured version / workspace id, may be empty
	lang      string
	pageSize  int
	widgetID  string
	clientID  string
	secret    string // widget client secret; never logged
	groups    []string
	validity  int // minutes, already clamped
	log       *slog.Logger
	hc        *http.Client
	paced     *pacedTransport // the API's requests, over hc's transport
	now       func() time.Time
	maxWait   time.Duration
	urlCache  *ttlCache[string]
	results   *ttlCache[[]integrations.SearchResult] // nil: not cached
	rateLimit rateState
	pacer     pacer

	mu            sync.Mutex
	discoveredVer string
	discoveredSlg string // slug of the version, for {version}
}

var (
	_ integrations.Integration  = (*Document360)(nil)
	_ integrations.Searcher     = (*Document360)(nil)
	_ integrations.WidgetTokens = (*Document360)(nil)
)

// Factory builds a Document360 integration from its configuration; it is the
// integrations.Factory to register under Name.
func Factory(cfg integrations.Config) (integrations.Integration, error) {
	return New(cfg, Options{})
}

// New builds a Document360 from cfg (see the package documentation for the
// settings) and returns a clear error for a bad configuration.
func New(cfg integrations.Config, opts Options) (*Document360, error) {
	s := func(k string) string { return strings.TrimSpace(cfg.Settings[k]) }
	d := &Document360{
		name:     cfg.Name,
		api:      strings.ToLower(s("api")),
		project:  s("project"),
		version:  s("version"),
		lang:     s("lang"), // as configured: region case matters (pt-BR)
		widgetID: s("widget_id"),
		secret:   cfg.Secret,
		log:      opts.Logger,
		hc:       opts.HTTPClient,
		now:      opts.Now,
		maxWait:  opts.MaxRateLimitWait,
		urlCache: newTTLCache[string](urlCacheSize, urlCacheTTL),
		pageSize: 20,
	}
	if d.name == "" {
		d.name = Name
	}
	if d.api == "" {
		d.api = APIv2
	}
	if d.api != APIv2 && d.api != APIv3 {
		return nil, fmt.Errorf("document360: api %q: want v2 or v3", d.api)
	}
	if d.lang == "" {
		d.lang = "en"
	}
	if !validLang(d.lang) {
		return nil, fmt.Errorf("document360: lang %q is not a language code (e.g. en, de, pt-BR)", d.lang)
	}
	d.verSlug = s("version_slug")
	for k, v := range map[string]string{"project": d.project, "version": d.version, "widget_id": d.widgetID, "version_slug": d.verSlug} {
		if v != "" && !validID(v) {
			return nil, fmt.Errorf("document360: %s %q: only letters, digits, '-' and '_' are allowed", k, v)
		}
	}
	if d.api == APIv3 && d.project == "" {
		return nil, errors.New("document360: the v3 API is project scoped: set project")
	}

	region := strings.ToLower(s("region"))
	if cfg.BaseURL != "" {
		u, err := integrations.CheckBaseURL(cfg.BaseURL)
		if err != nil {
			return nil, fmt.Errorf("document360: %w", err)
		}
		d.base = u
	} else {
		if region == "" {
			return nil, errors.New("document360: set region (eu, us or ca) or a base URL")
		}
		host, ok := apiHosts[region]
		if !ok {
			return nil, fmt.Errorf("document360: region %q: want eu, us or ca", region)
		}
		d.base, _ = url.Parse(host)
	}
	if v := s("identity_url"); v != "" {
		u, err := integrations.CheckBaseURL(v)
		if err != nil {
			return nil, fmt.Errorf("document360: identity_url: %w", err)
		}
		d.identity = u
	} else if host, ok := identityHosts[region]; ok && cfg.BaseURL == "" {
		d.identity, _ = url.Parse(host)
	} else if cfg.BaseURL != "" && loopback.IsHost(d.base.Hostname()) {
		// A loopback sandbox serves the identity endpoint too.
		u := *d.base
		d.identity = &u
	} else if ok {
		d.identity, _ = url.Parse(host)
	}
	if v := s("public_url"); v != "" {
		u, err := integrations.CheckBaseURL(v)
		if err != nil {
			return nil, fmt.Errorf("document360: public_url: %w", err)
		}
		d.public = u
		d.linkTmpl = strings.TrimSuffix(u.String(), "/") + "/docs/{slug}"
	}
	if v := s("article_url"); v != "" {
		if err := checkLinkTemplate(v); err != nil {
			return nil, fmt.Errorf("document360: article_url: %w", err)
		}
		d.linkTmpl = v
	}
	if v := s("show_private"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("document360: show_private %q: want true or false", v)
		}
		d.showPriv = b
	}
	d.pacer.limit = DefaultRateLimit
	if v := s("rate_limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 100000 {
			return nil, fmt.Errorf("document360: rate_limit %q: want requests per minute (0 = no local limit)", v)
		}
		d.pacer.limit = n
	}
	ttl := DefaultSearchCacheTTL
	if v := s("search_cache_ttl"); v != "" {
		t, err := time.ParseDuration(v)
		if v == "0" {
			t, err = 0, nil
		}
		if err != nil || t < 0 || t > 24*time.Hour {
			return nil, fmt.Errorf("document360: search_cache_ttl %q: want a duration such as 10m (0 = no cache, at most 24h)", v)
		}
		ttl = t
	}
	if ttl > 0 {
		d.results = newTTLCache[[]integrations.SearchResult](searchCacheSize, ttl)
	}
	if v := s("page_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return nil, fmt.Errorf("document360: page_size %q: want a number from 1 to 100", v)
		}
		d.pageSize = n
	}

	// Widget: client id is the project id unless told otherwise (the widget
	// JWT documentation: "the client ID will be your project ID").
	d.clientID = s("widget_client_id")
	if d.clientID == "" {
		d.clientID = strings.TrimSpace(cfg.ClientID)
	}
	if d.clientID == "" {
		d.clientID = d.project
	}
	for _, g := range strings.Split(s("reader_groups"), ",") {
		if g = strings.TrimSpace(g); g != "" {
			d.groups = append(d.groups, g)
		}
	}
	if v := s("widget_token_url"); v != "" {
		u, err := integrations.CheckBaseURL(v)
		if err != nil {
			return nil, fmt.Errorf("document360: widget_token_url: %w", err)
		}
		d.widgetURL = u
	} else if d.identity != nil {
		u := *d.identity
		u.Path = d.identity.Path + TokenPath
		u.RawPath = ""
		d.widgetURL = &u
	}
	d.validity = DefaultTokenValidity
	if v := s("token_validity"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, fmt.Errorf("document360: token_validity %q: want a whole number of minutes (5 to 1440)", v)
		}
		d.validity = ClampTokenValidity(n)
	}

	if d.log == nil {
		d.log = slog.Default()
	}
	d.log = d.log.With("integration", d.name)
	if d.hc == nil {
		d.hc = integrations.EgressClient(30 * time.Second)
	}
	// Never follow redirects: api_token / X-API-Key are custom headers that
	// net/http copies to any redirect target, whatever its host.
	hc := *d.hc
	hc.CheckRedirect = integrations.NoRedirect
	d.hc = &hc
	d.paced = &pacedTransport{d: d, base: hc.Transport}
	if d.paced.base == nil {
		d.paced.base = integrations.EgressTransport()
	}
	if d.now == nil {
		d.now = time.Now
	}
	if d.maxWait <= 0 {
		d.maxWait = 10 * time.Second
	}
	return d, nil
}

// Name is the registry name ("document360" unless configured otherwise).
func (d *Document360) Name() string { return d.name }

// BaseURL is the API host, the only origin the API token is sent to.
func (d *Document360) BaseURL() *url.URL { u := *d.base; return &u }

// API is the configured API version, APIv2 or APIv3.
func (d *Document360) API() string { return d.api }

// ClampTokenValidity moves a widget token validity (minutes) into
// [MinTokenValidity, MaxTokenValidity], as Document360 does: 1 → 5,
// 5000 → 1440.
func ClampTokenValidity(minutes int) int {
	return min(max(minutes, MinTokenValidity), MaxTokenValidity)
}

func validID(s string) bool {
	if len(s) > 128 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// validLang accepts language codes such as en, de, pt-BR or zh-Hans: letters
// and '-', kept in the case configured.
func validLang(s string) bool {
	if len(s) < 2 || len(s) > 10 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '-') {
			return false
		}
	}
	return true
}

// Placeholders of the article link template.
var linkPlaceholders = []string{"{lang}", "{version}", "{slug}"}

// checkLinkTemplate checks an article_url template: an absolute https URL
// (http only on loopback) whose path holds {slug} and, optionally, {lang}
// and {version}; no other braces, none in the host, no query.
func checkLinkTemplate(t string) error {
	if !strings.Contains(t, "{slug}") {
		return fmt.Errorf("%q has no {slug}", t)
	}
	rest := t
	for _, p := range linkPlaceholders {
		rest = strings.ReplaceAll(rest, p, "x")
	}
	if strings.ContainsAny(rest, "{}") {
		return fmt.Errorf("%q: only {lang}, {version} and {slug} may be used", t)
	}
	if _, err := integrations.CheckBaseURL(rest); err != nil {
		return err
	}
	if h, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(t, "https://"), "http://"), "/"); strings.Contains(h, "{") {
		return fmt.Errorf("%q: placeholders belong in the path, not the host", t)
	}
	return nil
}
