package sandbox

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Defaults of Options.
const (
	DefaultProjectID   = "5d1f4b6a-8c2e-4f0a-9b7d-3e6a1c9f0b21"
	DefaultVersionID   = "0e7b9c3d-1a2f-4d5e-8f6a-7b8c9d0e1f2a"
	DefaultWorkspaceID = DefaultVersionID
	DefaultLang        = "en"
	DefaultRateWindow  = time.Minute
	// DefaultWidgetTokenPath is the default path of the widget token
	// endpoint (the identity server's OAuth token endpoint).
	DefaultWidgetTokenPath = "/connect/token"
	// WidgetTokenAudience is the aud claim of the sandbox's widget JWTs.
	WidgetTokenAudience = "document360-widget"
	// WidgetTokenIssuer is the iss claim of the sandbox's widget JWTs.
	WidgetTokenIssuer = "document360-sandbox"
)

// Options configure a sandbox Server.
type Options struct {
	// APIToken is the v2 api_token accepted by the /v2 routes (required; an
	// empty APIToken accepts nothing).
	APIToken string
	// APIKey is the v3 X-API-Key accepted by the /v3 routes; empty refuses
	// every v3 call (v2 tokens do not work on v3).
	APIKey string
	// ProjectID, VersionID (= the v3 workspace id) and Lang of the single
	// project; defaults DefaultProjectID, DefaultVersionID, DefaultLang.
	ProjectID, VersionID, Lang string
	// ClientID and ClientSecret authenticate the widget token request
	// (HTTP Basic). ClientID defaults to ProjectID; an empty ClientSecret
	// refuses every widget token request.
	ClientID, ClientSecret string
	// WidgetID, when set, must match the payload's widgetId.
	WidgetID string
	// WidgetTokenPath is where the widget token endpoint is served
	// (Document360 shows the URL in the widget's JWT settings); default
	// DefaultWidgetTokenPath.
	WidgetTokenPath string
	// RateLimit is the number of API requests per RateWindow and token
	// (Document360: 60 or 100 per minute); 0 means unlimited.
	RateLimit  int
	RateWindow time.Duration
	// Articles is the knowledge base; nil means SeedArticles().
	Articles []Article
	// PublicURL is the KB site base of articles' data.url; empty means this
	// server ("http://" + the request's Host), which serves /docs/{slug}.
	PublicURL string
	// SigningKey signs widget JWTs (HS256); nil means a random key.
	SigningKey []byte
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger logs requests (never a token); nil discards.
	Logger *slog.Logger
}

// WidgetRequest is what the identity endpoint received (no secret).
type WidgetRequest struct {
	Username, FirstName, LastName, Email string
	ReaderGroupIDs                       []string
	RequestedValidity                    int // minutes as sent
	GrantedValidity                      int // minutes after clamping
	WidgetID, ProjectID                  string
	Form                                 bool // grant_type=Widget form (else a JSON body)
}

// Stats counts the requests the sandbox answered.
type Stats struct {
	Search, Article, Versions, Widget, RateLimited, Failed, Unauthorized int
}

// Server is a Document360-compatible HTTP server: v2 and v3 article search
// and lookup, project versions, the rate limits with their X-RateLimit-*
// headers, the widget token endpoint of the identity server, and the KB
// site's article pages. Faults can be injected for tests.
type Server struct {
	opts     Options
	key      []byte
	articles []*indexed
	byID     map[string]*indexed
	bySlug   map[string]*indexed
	mux      *http.ServeMux
	log      *slog.Logger

	mu          sync.Mutex
	latency     time.Duration
	down        bool
	failN       int
	failStatus  int
	limitN      int
	limitAfter  time.Duration
	windowStart time.Time
	used        map[string]int // per token in the current window
	stats       Stats
	widgetReqs  []WidgetRequest
}

type indexed struct {
	Article
	text       string   // plain text of HTML
	titleWords []string // lower-case words
	textWords  []string
	segs       []segment
}

// New returns a sandbox server.
func New(opts Options) *Server {
	if opts.ProjectID == "" {
		opts.ProjectID = DefaultProjectID
	}
	if opts.VersionID == "" {
		opts.VersionID = DefaultVersionID
	}
	if opts.Lang == "" {
		opts.Lang = DefaultLang
	}
	if opts.ClientID == "" {
		opts.ClientID = opts.ProjectID
	}
	if opts.WidgetTokenPath == "" {
		opts.WidgetTokenPath = DefaultWidgetTokenPath
	}
	if opts.RateWindow <= 0 {
		opts.RateWindow = DefaultRateWindow
	}
	if opts.Articles == nil {
		opts.Articles = SeedArticles()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{
		opts:   opts,
		key:    opts.SigningKey,
		byID:   map[string]*indexed{},
		bySlug: map[string]*indexed{},
		used:   map[string]int{},
		log:    opts.Logger,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if len(s.key) == 0 {
		s.key = make([]byte, 32)
		_, _ = rand.Read(s.key)
	}
	for _, a := range opts.Articles {
		segs := segmentHTML(a.HTML)
		x := &indexed{Article: a, segs: segs, text: segmentsText(segs)}
		x.titleWords = words(a.Title)
		x.textWords = words(x.text)
		s.articles = append(s.articles, x)
		s.byID[a.ID] = x
		s.bySlug[a.Slug] = x
	}
	m := http.NewServeMux()
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	m.HandleFunc("GET /v2/ProjectVersions", s.api(v2, s.v2Versions))
	m.HandleFunc("GET /v2/ProjectVersions/{versionId}/{lang}", s.api(v2, s.v2Search))
	m.HandleFunc("GET /v2/Articles/{id}/{lang}", s.api(v2, s.v2Article))
	m.HandleFunc("GET /v3/projects/{project}/workspaces", s.api(v3, s.v3Workspaces))
	m.HandleFunc("GET /v3/projects/{project}/workspaces/{ws}/search", s.api(v3, s.v3Search))
	m.HandleFunc("GET /v3/projects/{project}/articles/{id}", s.api(v3, s.v3Article))
	m.HandleFunc("POST "+opts.WidgetTokenPath, s.faulty(s.widgetToken))
	m.HandleFunc("GET /docs/{slug}", s.page)
	s.mux = m
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// FailNext makes the next n API or identity requests fail with status (a
// 5xx, say) and a provider error body.
func (s *Server) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failN, s.failStatus = n, status
}

// RateLimitNext answers the next n API requests with 429, Retry-After and
// X-RateLimit-Reset of retryAfter (whole seconds, at least 1).
func (s *Server) RateLimitNext(n int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limitN, s.limitAfter = n, retryAfter
}

// SetLatency delays every answer by d (until the client gives up).
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// SetDown makes the server drop every connection without an answer, like an
// unreachable host.
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// Stats returns the request counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// WidgetRequests returns the widget token requests received so far.
func (s *Server) WidgetRequests() []WidgetRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]WidgetRequest(nil), s.widgetReqs...)
}

// ParseWidgetToken verifies a widget JWT this sandbox issued (HS256, issuer,
// audience, expiry) and returns its claims.
func (s *Server) ParseWidgetToken(tok string) (jwt.MapClaims, error) {
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) { return s.key, nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithIssuer(WidgetTokenIssuer),
		jwt.WithAudience(WidgetTokenAudience), jwt.WithTimeFunc(s.opts.Now), jwt.WithExpirationRequired())
	if err != nil {
		return nil, err
	}
	return claims, nil
}

// ---- middleware ----------------------------------------------------------

type apiVersion int

const (
	v2 apiVersion = 2
	v3 apiVersion = 3
)

// faulty applies the injected faults: down, latency, FailNext.
func (s *Server) faulty(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		down, lat := s.down, s.latency
		fail := 0
		if !down && s.failN > 0 {
			s.failN--
			fail = s.failStatus
			s.stats.Failed++
		}
		s.mu.Unlock()
		s.log.Debug("document360 sandbox: request", "method", r.Method, "path", r.URL.Path,
			"down", down, "latency", lat, "fail", fail)
		if down {
			if hj, ok := w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					_ = c.Close()
					return
				}
			}
			panic(http.ErrAbortHandler)
		}
		if lat > 0 {
			t := time.NewTimer(lat)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		if fail != 0 {
			writeV2Error(w, fail, "Injected failure: the service is unavailable.")
			return
		}
		next(w, r)
	}
}

// api checks the token header of the API version, then the rate limits.
func (s *Server) api(ver apiVersion, next http.HandlerFunc) http.HandlerFunc {
	return s.faulty(func(w http.ResponseWriter, r *http.Request) {
		var tok string
		if ver == v2 {
			tok = r.Header.Get("api_token")
			if !equal(tok, s.opts.APIToken) {
				s.count(func(st *Stats) { st.Unauthorized++ })
				// The v2 body shape of a 401 is not in the stored spec; the
				// envelope of its documented 400 is used.
				writeV2Error(w, http.StatusUnauthorized, "Unauthorized. The supplied api_token is missing or invalid.")
				return
			}
		} else {
			tok = r.Header.Get("X-API-Key")
			if !equal(tok, s.opts.APIKey) {
				s.count(func(st *Stats) { st.Unauthorized++ })
				w.Header().Set("WWW-Authenticate", "Bearer")
				w.WriteHeader(http.StatusUnauthorized) // v3: empty body
				return
			}
			if r.PathValue("project") != s.opts.ProjectID {
				writeProblem(w, http.StatusForbidden, "FORBIDDEN", "The API key has no access to this project.")
				return
			}
		}
		if !s.rateLimit(w, tok) {
			return
		}
		next(w, r)
	})
}

func equal(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

func (s *Server) count(f func(*Stats)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.stats)
}

// rateLimit sets the X-RateLimit-* headers and answers 429 when the token's
// window is used up (or RateLimitNext says so). Remaining is always sent
// while a limit is configured; Limit and Reset once it is reached.
func (s *Server) rateLimit(w http.ResponseWriter, tok string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	if s.limitN > 0 {
		s.limitN--
		s.stats.RateLimited++
		secs := max(int(math.Ceil(s.limitAfter.Seconds())), 1)
		limit := max(s.opts.RateLimit, 60)
		h := w.Header()
		h.Set("X-RateLimit-Limit", strconv.Itoa(limit))
		h.Set("X-RateLimit-Remaining", "0")
		h.Set("X-RateLimit-Reset", strconv.Itoa(secs))
		h.Set("Retry-After", strconv.Itoa(secs))
		writeV2Error(w, http.StatusTooManyRequests, "Rate limit exceeded. Try again later.")
		return false
	}
	if s.opts.RateLimit <= 0 {
		return true
	}
	if now.Sub(s.windowStart) >= s.opts.RateWindow || now.Before(s.windowStart) {
		s.windowStart = now
		clear(s.used)
	}
	reset := s.windowStart.Add(s.opts.RateWindow).Sub(now)
	secs := max(int(math.Ceil(reset.Seconds())), 1)
	h := w.Header()
	if s.used[tok] >= s.opts.RateLimit {
		s.stats.RateLimited++
		h.Set("X-RateLimit-Limit", strconv.Itoa(s.opts.RateLimit))
		h.Set("X-RateLimit-Remaining", "0")
		h.Set("X-RateLimit-Reset", strconv.Itoa(secs))
		h.Set("Retry-After", strconv.Itoa(secs))
		writeV2Error(w, http.StatusTooManyRequests, "Rate limit exceeded. Try again later.")
		return false
	}
	s.used[tok]++
	rem := s.opts.RateLimit - s.used[tok]
	h.Set("X-RateLimit-Remaining", strconv.Itoa(rem))
	if rem == 0 {
		h.Set("X-RateLimit-Limit", strconv.Itoa(s.opts.RateLimit))
		h.Set("X-RateLimit-Reset", strconv.Itoa(secs))
	}
	return true
}

// ---- responses -----------------------------------------------------------

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// v2OK is the v2 success envelope.
func v2OK(data any) map[string]any {
	return map[string]any{"data": data, "extension_data": nil, "success": true,
		"errors": []any{}, "warnings": []any{}, "information": []any{}}
}

// writeV2Error writes the v2 error envelope (errors[].description, the shape
// of the v2 reference's 400 answer).
func writeV2Error(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"extension_data": nil, "success": false,
		"errors": []any{map[string]any{"extension_data": nil, "stack_trace": nil,
			"description": msg, "error_code": strconv.Itoa(status), "custom_data": nil}},
		"warnings": []any{}, "information": []any{}})
}

// writeProblem writes a v3 RFC 7807 problem.
func writeProblem(w http.ResponseWriter, status int, code, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"type": "about:blank", "title": http.StatusText(status), "status": status,
		"detail": detail, "trace_id": newID(),
		"errors": []any{map[string]any{"code": code, "message": detail}},
	})
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// ---- v2 ------------------------------------------------------------------

func (s *Server) v2Versions(w http.ResponseWriter, r *http.Request) {
	s.count(func(st *Stats) { st.Versions++ })
	writeJSON(w, http.StatusOK, v2OK([]any{map[string]any{
		"id": s.opts.VersionID, "version_number": 1, "base_version_number": 0,
		"version_code_name": "v1", "is_main_version": true, "is_beta": false, "is_public": true,
		"is_deprecated": false, "created_at": "2024-01-15T09:00:00Z", "modified_at": "2025-06-01T12:00:00Z",
		"slug": "v1", "order": 0, "version_type": 0,
		"language_versions": []any{map[string]any{"id": newID(), "name": "English", "code": s.opts.Lang,
			"set_as_default": true, "is_rtl": false}},
	}}))
}

func (s *Server) v2Search(w http.ResponseWriter, r *http.Request) {
	s.count(func(st *Stats) { st.Search++ })
	if r.PathValue("versionId") != s.opts.VersionID {
		writeV2Error(w, http.StatusBadRequest, fmt.Sprintf("The supplied project version id %s does not exist in your project.", r.PathValue("versionId")))
		return
	}
	if r.PathValue("lang") != s.opts.Lang {
		writeV2Error(w, http.StatusBadRequest, "The supplied language code is not enabled for this project version.")
		return
	}
	q := r.URL.Query()
	page, err1 := intParam(q, "page", 0)
	per, err2 := intParam(q, "hitsPerPage", 10)
	if err1 != nil || err2 != nil || page < 0 || per < 1 || per > 1000 {
		writeV2Error(w, http.StatusBadRequest, "page must be 0 or more and hitsPerPage 1 to 1000.")
		return
	}
	query := q.Get("searchQuery")
	ms := s.search(query, true)
	nbPages := (len(ms) + per - 1) / per
	lo, hi := min(page*per, len(ms)), min(page*per+per, len(ms))
	hits := make([]any, 0, hi-lo)
	for _, m := range ms[lo:hi] {
		a := m.a
		snippet := a.snippet(m.terms)
		hits = append(hits, map[string]any{
			"objectID": a.ID, "article_id": a.ID, "title": a.Title, "content": truncate(a.text, 500),
			"slug": a.Slug, "category_id": a.CategoryID, "version": 1, "tags": a.Tags,
			"is_hidden": a.Hidden, "is_draft": a.Draft, "is_private": a.Private, "exclude": a.Excluded,
			"is_deleted": a.Deleted, "is_category": a.Category, "is_category_hidden": false, "lang_code": s.opts.Lang,
			"breadcrumb": a.Tags, "updated_on_timestamp": 1735689600,
			"_snippet_result": map[string]any{"content": map[string]any{"value": snippet, "match_level": m.contentLevel}},
			"_highlight_result": map[string]any{
				"title":   map[string]any{"value": highlight(a.Title, m.terms), "match_level": m.titleLevel, "matched_words": m.titleMatched},
				"content": map[string]any{"value": snippet, "match_level": m.contentLevel, "matched_words": m.contentMatched},
			},
		})
	}
	writeJSON(w, http.StatusOK, v2OK(map[string]any{
		"hits": hits, "nb_hits": len(ms), "page": page, "nb_pages": nbPages, "hits_per_page": per,
		"processing_time_ms": 1, "query": query, "exhaustive_nb_hits": true, "params": r.URL.RawQuery,
	}))
}

func (s *Server) articleURL(r *http.Request, slug string) string {
	base := s.opts.PublicURL
	if base == "" {
		base = "http://" + r.Host
	}
	return strings.TrimRight(base, "/") + "/docs/" + url.PathEscape(slug)
}

// articleJSON is the article as the lookup returns it: its latest version,
// or with published its latest published one. An article with a DraftSlug
// has a draft as its latest version (status 0, the draft's slug and URL).
func (s *Server) articleJSON(r *http.Request, a *indexed, published bool) map[string]any {
	if a.DraftSlug != "" && !published {
		return map[string]any{
			"id": a.ID, "title": a.Title + " (draft)", "content": a.text, "html_content": a.HTML,
			"category_id": a.CategoryID, "project_version_id": s.opts.VersionID,
			"version_number": 2, "public_version": 1, "latest_version": 2, "enable_rtl": false,
			"hidden": a.Hidden, "status": 0, "order": 0, "slug": a.DraftSlug, "url": s.articleURL(r, a.DraftSlug),
			"lang_code": s.opts.Lang, "content_type": "wysiwyg", "description": "",
			"created_at": "2024-01-15T09:00:00Z", "modified_at": "2025-06-01T12:00:00Z",
		}
	}
	return map[string]any{
		"id": a.ID, "title": a.Title, "content": a.text, "html_content": a.HTML,
		"category_id": a.CategoryID, "project_version_id": s.opts.VersionID,
		"version_number": 1, "public_version": 1, "latest_version": 1, "enable_rtl": false,
		"hidden": a.Hidden, "status": 3, "order": 0, "slug": a.Slug, "url": s.articleURL(r, a.Slug),
		"lang_code": s.opts.Lang, "content_type": "wysiwyg", "description": "",
		"created_at": "2024-01-15T09:00:00Z", "modified_at": "2025-06-01T12:00:00Z",
	}
}

func (s *Server) v2Article(w http.ResponseWriter, r *http.Request) {
	s.count(func(st *Stats) { st.Article++ })
	a, ok := s.byID[r.PathValue("id")]
	if !ok || r.PathValue("lang") != s.opts.Lang {
		writeV2Error(w, http.StatusNotFound, "The article does not exist in your project.")
		return
	}
	writeJSON(w, http.StatusOK, v2OK(s.articleJSON(r, a, r.URL.Query().Get("isPublished") == "true")))
}

// ---- v3 ------------------------------------------------------------------

func v3OK(data any, pagination any) map[string]any {
	m := map[string]any{"data": data, "success": true, "request_id": newID(), "errors": []any{}}
	if pagination != nil {
		m["pagination"] = pagination
	}
	return m
}

func (s *Server) v3Workspaces(w http.ResponseWriter, r *http.Request) {
	s.count(func(st *Stats) { st.Versions++ })
	writeJSON(w, http.StatusOK, v3OK([]any{map[string]any{
		"id": s.opts.VersionID, "name": "v1", "slug": "v1", "order": 0, "is_default": true,
		"workspace_type": "kb", "created_at": "2024-01-15T09:00:00Z", "modified_at": "2025-06-01T12:00:00Z",
	}}, map[string]any{"page": 1, "page_size": 25, "total_count": 1, "has_more": false, "next_cursor": nil}))
}

func (s *Server) v3Search(w http.ResponseWriter, r *http.Request) {
	s.count(func(st *Stats) { st.Search++ })
	if r.PathValue("ws") != s.opts.VersionID {
		writeProblem(w, http.StatusNotFound, "NOT_FOUND", "The workspace does not exist.")
		return
	}
	q := r.URL.Query()
	page, err1 := intParam(q, "page", 1)
	per, err2 := intParam(q, "page_size", 25)
	if err1 != nil || err2 != nil || page < 1 || per < 1 || per > 100 {
		writeProblem(w, http.StatusBadRequest, "VALIDATION_ERROR", "page must be 1 or more and page_size 1 to 100.")
		return
	}
	if l := q.Get("lang_code"); l != "" && l != s.opts.Lang {
		writeProblem(w, http.StatusBadRequest, "VALIDATION_ERROR", "Unknown lang_code.")
		return
	}
	ms := s.search(q.Get("query"), false)
	lo, hi := min((page-1)*per, len(ms)), min(page*per, len(ms))
	data := make([]any, 0, hi-lo)
	for _, m := range ms[lo:hi] {
		data = append(data, map[string]any{"article_id": m.a.ID, "title": m.a.Title,
			"category_id": m.a.CategoryID, "slug": m.a.Slug, "version": 1})
	}
	writeJSON(w, http.StatusOK, v3OK(data, map[string]any{"page": page, "page_size": per,
		"total_count": len(ms), "has_more": hi < len(ms), "next_cursor": nil}))
}

func (s *Server) v3Article(w http.ResponseWriter, r *http.Request) {
	s.count(func(st *Stats) { st.Article++ })
	a, ok := s.byID[r.PathValue("id")]
	if !ok {
		writeProblem(w, http.StatusNotFound, "NOT_FOUND", "The article does not exist.")
		return
	}
	m := s.articleJSON(r, a, r.URL.Query().Get("published") == "true")
	m["preview_url"] = m["url"]
	writeJSON(w, http.StatusOK, v3OK(m, nil))
}

// ---- widget token (identity server) --------------------------------------

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="document360-sandbox"`)
	}
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

// widgetToken serves POST /connect/token with grant_type=Widget: HTTP Basic
// client authentication, the reader payload (form parameter "payload", or a
// JSON body of the same shape), tokenValidity clamped to 5..1440 minutes,
// at least one reader group. It answers an OAuth token response with an
// HS256 JWT.
func (s *Server) widgetToken(w http.ResponseWriter, r *http.Request) {
	s.count(func(st *Stats) { st.Widget++ })
	id, secret, ok := r.BasicAuth()
	if ok {
		// RFC 6749 §2.3.1 form-encodes both before Basic.
		if u, err := url.QueryUnescape(id); err == nil {
			id = u
		}
		if u, err := url.QueryUnescape(secret); err == nil {
			secret = u
		}
	}
	if !ok || !equal(id, s.opts.ClientID) || !equal(secret, s.opts.ClientSecret) {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "Client authentication failed.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	var (
		p    payload
		form bool
	)
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "application/x-www-form-urlencoded":
		form = true
		if err := r.ParseForm(); err != nil {
			oauthError(w, http.StatusBadRequest, "invalid_request", "Malformed form body.")
			return
		}
		if gt := r.PostForm.Get("grant_type"); gt != "Widget" {
			oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type must be Widget.")
			return
		}
		if pid := r.PostForm.Get("id"); pid != "" && pid != s.opts.ClientID {
			oauthError(w, http.StatusBadRequest, "invalid_request", "id must be the client id.")
			return
		}
		if err := json.Unmarshal([]byte(r.PostForm.Get("payload")), &p); err != nil {
			oauthError(w, http.StatusBadRequest, "invalid_request", "payload must be the reader JSON.")
			return
		}
	case "application/json":
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			oauthError(w, http.StatusBadRequest, "invalid_request", "Malformed JSON body.")
			return
		}
	default:
		oauthError(w, http.StatusBadRequest, "invalid_request", "Unsupported content type.")
		return
	}
	var groups []string
	for _, g := range p.ReaderGroupIDs {
		if g = strings.TrimSpace(g); g != "" {
			groups = append(groups, g)
		}
	}
	switch {
	case strings.TrimSpace(p.Username) == "":
		oauthError(w, http.StatusBadRequest, "invalid_request", "username is required.")
		return
	case len(groups) == 0:
		oauthError(w, http.StatusBadRequest, "invalid_request", "readerGroupIds: at least one reader group id is required.")
		return
	case p.ProjectID != s.opts.ProjectID && p.ProjectID != s.opts.ClientID:
		oauthError(w, http.StatusBadRequest, "invalid_request", "projectId does not match the client.")
		return
	case s.opts.WidgetID != "" && p.WidgetID != s.opts.WidgetID:
		oauthError(w, http.StatusBadRequest, "invalid_request", "widgetId is unknown.")
		return
	}
	granted := min(max(p.TokenValidity, 5), 1440) // moved to the nearest valid value, like Document360
	now := s.opts.Now()
	claims := jwt.MapClaims{
		"iss": WidgetTokenIssuer, "aud": WidgetTokenAudience, "sub": p.Username,
		"email": p.EmailID, "given_name": p.FirstName, "family_name": p.LastName,
		"reader_group_ids": groups, "widget_id": p.WidgetID, "project_id": p.ProjectID,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Duration(granted) * time.Minute).Unix(),
		"jti": newID(),
	}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(s.key)
	if err != nil {
		oauthError(w, http.StatusInternalServerError, "server_error", "Signing failed.")
		return
	}
	s.mu.Lock()
	s.widgetReqs = append(s.widgetReqs, WidgetRequest{
		Username: p.Username, FirstName: p.FirstName, LastName: p.LastName, Email: p.EmailID,
		ReaderGroupIDs: groups, RequestedValidity: p.TokenValidity, GrantedValidity: granted,
		WidgetID: p.WidgetID, ProjectID: p.ProjectID, Form: form,
	})
	s.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": signed, "expires_in": granted * 60, "token_type": "Bearer", "scope": "widget",
	})
}

type payload struct {
	Username       string   `json:"username"`
	FirstName      string   `json:"firstName"`
	LastName       string   `json:"lastName"`
	EmailID        string   `json:"emailId"`
	ReaderGroupIDs []string `json:"readerGroupIds"`
	TokenValidity  int      `json:"tokenValidity"`
	WidgetID       string   `json:"widgetId"`
	ProjectID      string   `json:"projectId"`
}

// ---- KB site -------------------------------------------------------------

// page serves the public article page that data.url points to.
func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	a, ok := s.bySlug[r.PathValue("slug")]
	if !ok || a.Hidden || a.Draft || a.Deleted || a.Category {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	fmt.Fprintf(w, "<!doctype html><html><head><meta charset=utf-8><title>%s</title></head><body><h1>%s</h1>%s</body></html>\n",
		html.EscapeString(a.Title), html.EscapeString(a.Title), a.HTML)
}

func intParam(q url.Values, k string, def int) (int, error) {
	v := q.Get(k)
	if v == "" {
		return def, nil
	}
	return strconv.Atoi(v)
}

// ---- search --------------------------------------------------------------

type match struct {
	a                            *indexed
	terms                        []string
	titleLevel, contentLevel     string
	titleMatched, contentMatched []string
	titleN, exact, occurrences   int
}

// search returns the articles matching every query word (prefix match on
// words, like Algolia's prefix search), best first: more words in the title,
// then more exact words, then more occurrences, then title.
func (s *Server) search(query string, withHidden bool) []match {
	terms := words(query)
	if len(terms) == 0 {
		return nil
	}
	var out []match
	for _, a := range s.articles {
		if !withHidden && (a.Hidden || a.Draft || a.Excluded || a.Deleted || a.Category || a.Private) {
			continue
		}
		m := match{a: a, terms: terms}
		all := true
		for _, t := range terms {
			inTitle, exT, nT := matchWords(a.titleWords, t)
			inText, exC, nC := matchWords(a.textWords, t)
			if !inTitle && !inText {
				all = false
				break
			}
			if inTitle {
				m.titleN++
				m.titleMatched = append(m.titleMatched, t)
			}
			if inText {
				m.contentMatched = append(m.contentMatched, t)
			}
			m.exact += exT*2 + exC
			m.occurrences += nT*3 + nC
		}
		if !all {
			continue
		}
		m.titleLevel = level(len(m.titleMatched), len(terms))
		m.contentLevel = level(len(m.contentMatched), len(terms))
		out = append(out, m)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.titleN != b.titleN {
			return a.titleN > b.titleN
		}
		if a.exact != b.exact {
			return a.exact > b.exact
		}
		if a.occurrences != b.occurrences {
			return a.occurrences > b.occurrences
		}
		return a.a.Title < b.a.Title
	})
	return out
}

func level(n, of int) string {
	switch {
	case n == 0:
		return "none"
	case n == of:
		return "full"
	}
	return "partial"
}

func matchWords(ws []string, t string) (found bool, exact, n int) {
	for _, w := range ws {
		if strings.HasPrefix(w, t) {
			found = true
			n++
			if w == t {
				exact++
			}
		}
	}
	return found, exact, n
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
