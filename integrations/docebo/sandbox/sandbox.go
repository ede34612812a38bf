package sandbox

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Demo credentials of a sandbox started with zero Options. They are public
// defaults of a loopback test server, not secrets.
const (
	DefaultClientID     = "latchkey-sandbox"
	DefaultClientSecret = "sandbox-secret"
	// DefaultPassword is the password of every seeded user.
	DefaultPassword = "sandbox-password"
)

// Options configure a Server. The zero value is a working sandbox with the
// seeded users, courses and enrollments.
type Options struct {
	// ClientID and ClientSecret of the one registered OAuth2 app (defaults
	// DefaultClientID, DefaultClientSecret).
	ClientID     string
	ClientSecret string
	// RedirectURIs registered on the app. Empty: any http URI on a loopback
	// host (RFC 8252 apps pick their port) is accepted. Docebo requires the
	// registered one (likely; see docs/docebo.md).
	RedirectURIs []string
	// Users, Courses, LearningPlans, Catalogs, Enrollments: the platform's
	// data (default: Seed*).
	Users         []User
	Courses       []Course
	LearningPlans []Course
	Catalogs      []Catalog
	Enrollments   []Enrollment
	// ForbidLearnerCourseList answers 403 to a learner's GET
	// /learn/v1/courses (with or without search_text), as a platform may:
	// what a learner's token gets there is not public. Admins and the app's
	// own token still get the list; /learn/v1/catalog always answers.
	ForbidLearnerCourseList bool
	// DisableExchangeToken answers 404 on POST /manage/v1/user/exchange_token,
	// as every real platform may: that endpoint is this sandbox's invention,
	// documented nowhere by Docebo (see the package doc).
	DisableExchangeToken bool
	// SeedUser is the username the consent page and auto-approve sign in as
	// (default: the first user).
	SeedUser string
	// AutoApprove answers /oauth2/authorize with an immediate redirect.
	AutoApprove bool
	// RequirePKCE refuses a code exchange without a code_verifier when the
	// authorize request carried a challenge. Off by default: there is no
	// evidence Docebo validates PKCE (unconfirmed); a verifier that is sent
	// is always checked.
	RequirePKCE bool
	// Lifetimes: access token (default 3600s, as every sample), refresh
	// token (default 14 days; unconfirmed), authorization code (default 60s;
	// unconfirmed), exchange token (default 30s, Docebo's OpenID Connect
	// help page).
	AccessTokenTTL   time.Duration
	RefreshTokenTTL  time.Duration
	CodeTTL          time.Duration
	ExchangeTokenTTL time.Duration
	// RotateRefresh issues a new refresh token on every refresh and treats
	// reuse of a rotated one as theft: invalid_grant, and the whole token
	// family is revoked. Without it the refresh answer carries no
	// refresh_token and the old one stays valid (bshaffer's default, which
	// Docebo appears to run; unconfirmed).
	RotateRefresh bool
	// JWTPublicKeys verify JWT-bearer assertions (RS256).
	JWTPublicKeys []*rsa.PublicKey
	// Audience expected in assertions' "aud"; default: the request's Host,
	// with or without its port. Set it to a platform's docebosaas.com host to
	// play a custom-domain platform that expects that one.
	Audience string
	// RateLimit allows that many API and token requests per RateWindow
	// (default one minute) per client IP; beyond it: 429 with Retry-After.
	// 0 means no limit.
	RateLimit  int
	RateWindow time.Duration
	// RetryAfter is sent with failures injected by FailNext (default 1s).
	RetryAfter time.Duration
	// Latency delays every request.
	Latency time.Duration
	// TokenLatency delays the answers of /oauth2/token: the request is
	// served first (a refresh token is rotated at once), the answer is
	// written that much later, as from a slow provider.
	TokenLatency time.Duration
	// MaxPageSize clamps page_size (default 200; the real maximum is unconfirmed).
	MaxPageSize int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives one line per request, without secrets (default: none).
	Logger *slog.Logger
}

// Server is the sandbox, an http.Handler. Safe for concurrent use.
type Server struct {
	mux *http.ServeMux
	now func() time.Time
	log *slog.Logger

	mu sync.Mutex // guards everything below
	o  Options
	st state
}

type state struct {
	users       map[string]*User // by username
	usersByID   map[int]*User
	courses     []*Course
	courseByID  map[int]*Course
	plans       []*Course
	planByID    map[int]*Course
	catalogs    []Catalog
	enrollments []Enrollment

	codes     map[string]*authCode
	consents  map[string]*consent
	access    map[string]*accessToken
	refresh   map[string]*refreshToken
	exchanges map[string]*exchangeToken
	sessions  map[string]*session
	jwtKeys   []*rsa.PublicKey

	failN      int
	failStatus int

	rateStart time.Time
	rateCount map[string]int

	tokenCalls int
	grants     map[string]int
	apiCalls   int
	reuses     int
}

// New returns a sandbox configured by o.
func New(o Options) *Server {
	if o.ClientID == "" {
		o.ClientID = DefaultClientID
	}
	if o.ClientSecret == "" {
		o.ClientSecret = DefaultClientSecret
	}
	if o.Users == nil {
		o.Users = SeedUsers()
	}
	if o.Courses == nil {
		o.Courses = SeedCourses()
	}
	if o.LearningPlans == nil {
		o.LearningPlans = SeedLearningPlans()
	}
	if o.Catalogs == nil {
		o.Catalogs = SeedCatalogs()
	}
	if o.Enrollments == nil {
		o.Enrollments = SeedEnrollments()
	}
	if o.SeedUser == "" && len(o.Users) > 0 {
		o.SeedUser = o.Users[0].Username
	}
	if o.AccessTokenTTL <= 0 {
		o.AccessTokenTTL = time.Hour
	}
	if o.RefreshTokenTTL <= 0 {
		o.RefreshTokenTTL = 14 * 24 * time.Hour
	}
	if o.CodeTTL <= 0 {
		o.CodeTTL = time.Minute
	}
	if o.ExchangeTokenTTL <= 0 {
		o.ExchangeTokenTTL = 30 * time.Second
	}
	if o.RateWindow <= 0 {
		o.RateWindow = time.Minute
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = time.Second
	}
	if o.MaxPageSize <= 0 {
		o.MaxPageSize = 200
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{now: o.Now, log: log, o: o}
	s.st = state{
		users:      map[string]*User{},
		usersByID:  map[int]*User{},
		courseByID: map[int]*Course{},
		planByID:   map[int]*Course{},
		codes:      map[string]*authCode{},
		consents:   map[string]*consent{},
		access:     map[string]*accessToken{},
		refresh:    map[string]*refreshToken{},
		exchanges:  map[string]*exchangeToken{},
		sessions:   map[string]*session{},
		rateCount:  map[string]int{},
		grants:     map[string]int{},
		jwtKeys:    append([]*rsa.PublicKey(nil), o.JWTPublicKeys...),
	}
	for i := range o.Users {
		u := o.Users[i]
		s.st.users[strings.ToLower(u.Username)] = &u
		s.st.usersByID[u.ID] = &u
	}
	for i := range o.Courses {
		c := o.Courses[i]
		s.st.courses = append(s.st.courses, &c)
		s.st.courseByID[c.ID] = &c
	}
	for i := range o.LearningPlans {
		lp := o.LearningPlans[i]
		lp.Type = "learning_plan"
		s.st.plans = append(s.st.plans, &lp)
		s.st.planByID[lp.ID] = &lp
	}
	s.st.catalogs = append([]Catalog(nil), o.Catalogs...)
	s.st.enrollments = append([]Enrollment(nil), o.Enrollments...)

	m := http.NewServeMux()
	m.HandleFunc("GET /oauth2/authorize", s.authorize)
	m.HandleFunc("POST /oauth2/authorize", s.consentDecision)
	m.HandleFunc("POST /oauth2/token", s.token)
	m.HandleFunc("GET /manage/v1/user/session", s.api(s.sessionInfo))
	m.HandleFunc("POST /manage/v1/user/exchange_token", s.api(s.mintExchangeToken))
	m.HandleFunc("GET /learn/v1/enrollments", s.api(s.listEnrollments))
	m.HandleFunc("GET /learn/v1/courses", s.api(s.listCourses))
	m.HandleFunc("GET /learn/v1/courses/{id}", s.api(s.getCourse))
	m.HandleFunc("GET /learn/v1/catalog", s.api(s.listCatalogs))
	m.HandleFunc("GET /sandbox/thumbnails/{file}", s.thumbnail)
	// A path that refuses every token, valid or not (an upstream that
	// answers 401 for reasons of its own).
	m.HandleFunc("GET /manage/v1/sandbox/refused", s.api(func(w http.ResponseWriter, _ *http.Request, _ caller) {
		unauthorized(w, "You are not allowed to perform this action.")
	}))
	m.HandleFunc("GET /learn/", s.learnerUI)
	m.HandleFunc("GET /learn", s.learnerUI)
	m.HandleFunc("GET /{$}", s.index)
	s.mux = m
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.log.Debug("request", "method", r.Method, "path", loggablePath(r.URL.Path))
	if d := s.latency(); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-r.Context().Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
	if isMachineEndpoint(r.URL.Path) {
		if status, retry, ok := s.injectedFailure(r); ok {
			if retry > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(int((retry+time.Second-1)/time.Second)))
			}
			writeJSON(w, status, yiiError(status, "injected failure: "+http.StatusText(status)))
			return
		}
	}
	if d := s.tokenLatency(); d > 0 && r.URL.Path == "/oauth2/token" {
		rec := httptest.NewRecorder()
		s.mux.ServeHTTP(rec, r)
		t := time.NewTimer(d)
		select {
		case <-r.Context().Done():
			t.Stop()
			return // the client gave up; what the request did stays done
		case <-t.C:
		}
		maps.Copy(w.Header(), rec.Header())
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
		return
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) tokenLatency() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.o.TokenLatency
}

// SetTokenLatency delays the answers of later /oauth2/token requests by d
// (Options.TokenLatency).
func (s *Server) SetTokenLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.o.TokenLatency = d
}

// loggablePath drops the matrix parameters (which carry tokens) of a path.
func loggablePath(p string) string {
	if i := strings.IndexByte(p, ';'); i >= 0 {
		return p[:i] + ";…"
	}
	return p
}

func isMachineEndpoint(p string) bool {
	return p == "/oauth2/token" || strings.HasPrefix(p, "/learn/v1/") || strings.HasPrefix(p, "/manage/v1/")
}

func (s *Server) latency() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.o.Latency
}

// injectedFailure applies FailNext and the rate limit.
func (s *Server) injectedFailure(r *http.Request) (status int, retry time.Duration, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.failN > 0 {
		s.st.failN--
		if s.st.failStatus == http.StatusTooManyRequests || s.st.failStatus == http.StatusServiceUnavailable {
			retry = s.o.RetryAfter
		}
		return s.st.failStatus, retry, true
	}
	if s.o.RateLimit > 0 {
		now := s.now()
		if s.st.rateStart.IsZero() || now.Sub(s.st.rateStart) >= s.o.RateWindow {
			s.st.rateStart = now
			clear(s.st.rateCount)
		}
		ip, _, _ := net.SplitHostPort(r.RemoteAddr)
		s.st.rateCount[ip]++
		if s.st.rateCount[ip] > s.o.RateLimit {
			retry = s.st.rateStart.Add(s.o.RateWindow).Sub(now)
			return http.StatusTooManyRequests, max(retry, time.Second), true
		}
	}
	return 0, 0, false
}

// FailNext makes the next n token or API requests fail with status (429 and
// 503 carry Retry-After, Options.RetryAfter).
func (s *Server) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.failN, s.st.failStatus = n, status
}

// SetLatency delays every later request by d.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.o.Latency = d
}

// SetRateLimit allows n requests per window per client IP (0: no limit).
func (s *Server) SetRateLimit(n int, window time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.o.RateLimit = n
	if window > 0 {
		s.o.RateWindow = window
	}
	s.st.rateStart = time.Time{}
}

// SetForbidLearnerCourseList switches Options.ForbidLearnerCourseList.
func (s *Server) SetForbidLearnerCourseList(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.o.ForbidLearnerCourseList = on
}

// SetExchangeTokenEndpoint switches the invented exchange-token endpoint on
// (the default) or off (404, Options.DisableExchangeToken).
func (s *Server) SetExchangeTokenEndpoint(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.o.DisableExchangeToken = !on
}

// SetAudience sets the "aud" JWT-bearer assertions must carry (empty: the
// request's host, Options.Audience).
func (s *Server) SetAudience(aud string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.o.Audience = aud
}

// SetAutoApprove switches the consent page off or on.
func (s *Server) SetAutoApprove(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.o.AutoApprove = on
}

// SetRotateRefresh switches refresh-token rotation.
func (s *Server) SetRotateRefresh(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.o.RotateRefresh = on
}

// AddJWTKey registers a public key for JWT-bearer assertions.
func (s *Server) AddJWTKey(pub *rsa.PublicKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.jwtKeys = append(s.st.jwtKeys, pub)
}

// AddJWTKeyPEM registers a "-----BEGIN PUBLIC KEY-----" RSA key, as an admin
// uploads it to the API and SSO app (X.509 certificates are refused, as
// Docebo does).
func (s *Server) AddJWTKeyPEM(b []byte) error {
	pub, err := ParsePublicKeyPEM(b)
	if err != nil {
		return err
	}
	s.AddJWTKey(pub)
	return nil
}

// ParsePublicKeyPEM reads a PEM "PUBLIC KEY" block holding an RSA key.
func ParsePublicKeyPEM(b []byte) (*rsa.PublicKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PUBLIC KEY" {
		return nil, errors.New("sandbox: the public key is invalid: expected a PEM \"PUBLIC KEY\" block")
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("sandbox: the public key is invalid: %w", err)
	}
	pub, ok := k.(*rsa.PublicKey)
	if !ok {
		return nil, errors.New("sandbox: the public key is invalid: not an RSA key")
	}
	return pub, nil
}

// ExpireAccessTokens makes every access token issued so far expired, as if
// its lifetime had run out (refresh tokens stay valid).
func (s *Server) ExpireAccessTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	past := s.now().Add(-time.Second)
	for _, t := range s.st.access {
		t.expires = past
	}
}

// TokenCalls is the number of /oauth2/token requests served (injected
// failures excluded).
func (s *Server) TokenCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.tokenCalls
}

// GrantCalls is the number of token requests with that grant_type
// ("authorization_code", "password", "client_credentials", "refresh_token",
// "urn:ietf:params:oauth:grant-type:jwt-bearer"), successful or not.
func (s *Server) GrantCalls(grant string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.grants[grant]
}

// RefreshReuses is the number of refresh requests that presented a
// rotated (already used) refresh token; each revoked its token family.
func (s *Server) RefreshReuses() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.reuses
}

// APICalls is the number of API requests (/learn/v1, /manage/v1) that
// reached a handler, authenticated or not.
func (s *Server) APICalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.apiCalls
}

// User returns the seeded user with that username.
func (s *Server) User(username string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.st.users[strings.ToLower(username)]
	if !ok {
		return User{}, false
	}
	return *u, true
}

// ClientID is the registered OAuth2 app's client id.
func (s *Server) ClientID() string { s.mu.Lock(); defer s.mu.Unlock(); return s.o.ClientID }
