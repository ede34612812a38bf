package injector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/latchkey/latchkey/injector/auth"
	"github.com/latchkey/latchkey/injector/oauthserver"
	"github.com/latchkey/latchkey/internal/loopback"
)

// DefaultListen is the listener address when Config.Listen is empty.
const DefaultListen = "127.0.0.1:7788"

// Config configures a Server.
type Config struct {
	// Listen is the TCP address of ListenAndServe; default DefaultListen.
	Listen string
	// AllowNonLoopback lets Listen name a non-loopback address.
	AllowNonLoopback bool
	// Backend is the daemon. Required.
	Backend Backend
	// Verifier checks callers' bearer JWTs. Required.
	Verifier *auth.Verifier
	// Issuer mints /oauth2/token tokens and serves /.well-known/jwks.json.
	// Optional: without it those routes answer 404.
	Issuer *auth.Issuer
	// SearchDeadline bounds each integration's part of a search; default 2s.
	SearchDeadline time.Duration
	// CoursesDeadline bounds each integration's part of /v1/courses
	// (several pages); default 10s.
	CoursesDeadline time.Duration
	// AllowedOrigins are browser origins (scheme://host[:port]) other than
	// the listener's own that may call the API with a bearer token; CORS is
	// answered for them only.
	AllowedOrigins []string
	// Menu is the menu UI, served at /menu and /menu/… (path unchanged);
	// its assets are public, the API calls it makes need a menu session.
	// Optional.
	Menu http.Handler
	// Logger; default slog.Default(). Nothing logged contains a token, a
	// code or a query string.
	Logger *slog.Logger
	// ClientTokenTTL is the lifetime of /oauth2/token tokens; default 15m.
	ClientTokenTTL time.Duration
	// MenuCodeTTL is how long a one-time menu code is valid; default 30s.
	MenuCodeTTL time.Duration
	// MenuSessionTTL is how long a menu session is valid at most; default 8h.
	MenuSessionTTL time.Duration
	// MenuSessionIdle ends a menu session not used for that long; default 1h.
	MenuSessionIdle time.Duration
	// Control is the daemon's control API, a route table of its own served
	// on the control socket only (ServeControl), ahead of the API: a request
	// it has a route for (Handler names a pattern) goes to it, any other to
	// the API with full scope. An *http.ServeMux is one. Optional.
	Control RouteTable
	// Now is the clock (menu codes and sessions); default time.Now.
	Now func() time.Time
	// Apps is the authorization server for local apps, served at
	// /oauth2/authorize, /oauth2/register, the grants of /oauth2/token
	// other than client_credentials and the /.well-known metadata, with
	// its consent answered at /v1/apps/consent/{id} by the menu only and
	// its grants listed and revoked at /v1/apps. Optional.
	Apps *oauthserver.Server
	// MCP turns on the MCP server at /mcp. Optional.
	MCP *MCPConfig
}

// RouteTable is a route table as *http.ServeMux is one: Handler reports
// the pattern of r's route (empty when it has none), and ServeHTTP serves r
// by its route, with its path values set.
type RouteTable interface {
	http.Handler
	Handler(r *http.Request) (h http.Handler, pattern string)
}

// Server is the local API. Create it with New.
type Server struct {
	cfg       Config
	log       *slog.Logger
	backend   Backend
	verifier  *auth.Verifier
	upstreams *upstreams
	now       func() time.Time

	apiMux  *http.ServeMux
	allowed map[string]bool // AllowedOrigins

	hostsMu sync.Mutex
	hosts   atomic.Pointer[hostSet]

	// revoked holds subjects whose JWTs are refused before they expire
	// (revoked personal clients); copied on write.
	revokedMu sync.Mutex
	revoked   atomic.Pointer[map[string]bool]

	menu menuState
	// links are the one-time addresses of signed-in links (OneTimeLink).
	links oneTimeLinks
	// appsHandler is Config.Apps's routes.
	appsHandler http.Handler
	// thumbs are the course thumbnail URLs handleThumbnail may fetch.
	thumbs thumbnailState

	// Audit entries are batched: a request appends under auditMu and wakes
	// the writer only when the batch was empty, so a busy injector does not
	// pay a goroutine wake-up per request; the writer then lets entries
	// gather for auditGather, so the backend commits one batch per period
	// under load, not one per request.
	auditMu     sync.Mutex
	auditHandMu sync.Mutex // held while a batch is handed to the backend
	auditBuf    []AuditEntry
	auditWake   chan struct{}
	auditStop   chan struct{}
	auditDone   chan struct{}
	closeOnce   sync.Once
	closed      bool // guarded by auditMu
}

// maxAuditBacklog bounds the batch; beyond it requests write their entry
// themselves (back-pressure, nothing dropped).
const maxAuditBacklog = 16 << 10

// auditGather is how long the audit writer waits, once woken, for more
// entries before handing the batch to the backend. Close hands over what
// is queued at once.
const auditGather = 50 * time.Millisecond

// New returns a server for cfg. Call Close when done with it.
func New(cfg Config) (*Server, error) {
	if cfg.Backend == nil {
		return nil, errors.New("injector: Config.Backend is required")
	}
	if cfg.Verifier == nil {
		return nil, errors.New("injector: Config.Verifier is required")
	}
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.SearchDeadline <= 0 {
		cfg.SearchDeadline = 2 * time.Second
	}
	if cfg.CoursesDeadline <= 0 {
		cfg.CoursesDeadline = 10 * time.Second
	}
	if cfg.ClientTokenTTL <= 0 {
		cfg.ClientTokenTTL = 15 * time.Minute
	}
	if cfg.MenuCodeTTL <= 0 {
		cfg.MenuCodeTTL = 30 * time.Second
	}
	if cfg.MenuSessionTTL <= 0 {
		cfg.MenuSessionTTL = 8 * time.Hour
	}
	if cfg.MenuSessionIdle <= 0 {
		cfg.MenuSessionIdle = time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{
		cfg:       cfg,
		log:       cfg.Logger,
		backend:   cfg.Backend,
		verifier:  cfg.Verifier,
		upstreams: newUpstreams(),
		now:       cfg.Now,
		apiMux:    http.NewServeMux(),
		allowed:   make(map[string]bool),
		auditWake: make(chan struct{}, 1),
		auditStop: make(chan struct{}),
		auditDone: make(chan struct{}),
	}
	for _, o := range cfg.AllowedOrigins {
		s.allowed[o] = true
	}
	s.menu.codes = make(map[[32]byte]time.Time)
	s.menu.focus.stop = make(chan struct{})
	s.menu.sessions = make(map[[32]byte]*menuSession)
	if host, port, err := net.SplitHostPort(cfg.Listen); err == nil && port != "0" {
		if net.ParseIP(host) != nil && !loopback.IsHost(host) && !cfg.AllowNonLoopback {
			return nil, fmt.Errorf("injector: %s is not a loopback address (set AllowNonLoopback to listen on it)", cfg.Listen)
		}
		s.addListener(cfg.Listen, false)
	}
	s.routes()
	go s.auditLoop()
	return s, nil
}

// Close drains the audit queue. The server must not be serving any more.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		close(s.auditStop)
		<-s.auditDone
	})
	return nil
}

func (s *Server) auditLoop() {
	defer close(s.auditDone)
	var batch []AuditEntry
	gather := time.NewTimer(auditGather)
	gather.Stop()
	for {
		stop := false
		select {
		case <-s.auditWake:
			gather.Reset(auditGather)
			select {
			case <-gather.C:
			case <-s.auditStop:
				stop = true
			}
		case <-s.auditStop:
			stop = true
		}
		batch = s.handOverAudit(batch, stop)
		if stop {
			return
		}
	}
}

// FlushAudit hands every queued audit entry to the backend now, and
// returns once the backend has them all (a hand-over already under way
// included): a reader of the trail then sees every call answered so far.
func (s *Server) FlushAudit() {
	s.handOverAudit(nil, false)
}

// handOverAudit swaps the queue for buf (emptied) and hands what was
// queued to the backend; closing marks the queue closed. auditHandMu keeps
// hand-overs in order and one at a time. It returns the slice handed over,
// cleared, to be the next buf.
func (s *Server) handOverAudit(buf []AuditEntry, closing bool) []AuditEntry {
	s.auditHandMu.Lock()
	defer s.auditHandMu.Unlock()
	s.auditMu.Lock()
	batch := s.auditBuf
	s.auditBuf = buf[:0]
	if closing {
		s.closed = true
	}
	s.auditMu.Unlock()
	if len(batch) > 0 {
		s.backend.Audit(context.Background(), batch)
	}
	clear(batch)
	return batch
}

func (s *Server) recordAudit(e AuditEntry) {
	s.auditMu.Lock()
	if s.closed || len(s.auditBuf) >= maxAuditBacklog {
		s.auditMu.Unlock()
		s.backend.Audit(context.Background(), []AuditEntry{e})
		return
	}
	s.auditBuf = append(s.auditBuf, e)
	first := len(s.auditBuf) == 1
	s.auditMu.Unlock()
	if first {
		select {
		case s.auditWake <- struct{}{}:
		default:
		}
	}
}

// RevokeSubjects makes every JWT with one of these subjects ("client:<id>"
// for a personal client) invalid at once, though not yet expired.
func (s *Server) RevokeSubjects(subs ...string) {
	s.revokedMu.Lock()
	defer s.revokedMu.Unlock()
	next := make(map[string]bool)
	if old := s.revoked.Load(); old != nil {
		for k := range *old {
			next[k] = true
		}
	}
	for _, sub := range subs {
		next[sub] = true
	}
	s.revoked.Store(&next)
}

// isRevoked reports whether sub was revoked (RevokeSubjects).
func (s *Server) isRevoked(sub string) bool {
	m := s.revoked.Load()
	return m != nil && (*m)[sub]
}

// ListenAndServe listens on Config.Listen and serves until ctx is cancelled.
// It refuses a non-loopback address unless AllowNonLoopback is set.
func (s *Server) ListenAndServe(ctx context.Context) error {
	host, _, err := net.SplitHostPort(s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("injector: listen address %q: %w", s.cfg.Listen, err)
	}
	if !s.cfg.AllowNonLoopback && !loopback.IsHost(host) {
		return fmt.Errorf("injector: %s is not a loopback address (set AllowNonLoopback to listen on it)", s.cfg.Listen)
	}
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("injector: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves the TCP API on ln until ctx is cancelled, then shuts down
// gracefully: in-flight requests finish (for up to 30 s). It returns nil
// after a shutdown caused by ctx.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.addListener(ln.Addr().String(), true)
	// Waiting menu pages are answered at once: a shutdown does not wait for their polls.
	defer context.AfterFunc(ctx, s.stopMenuFocus)()
	return serveFast(ctx, ln, s.log, func(life context.Context) fasthttp.RequestHandler {
		api := adapt(life, http.HandlerFunc(s.serveTCP))
		return func(rc *fasthttp.RequestCtx) { s.fastTCP(life, rc, api) }
	})
}

// ServeControl serves the API on the daemon's unix control socket ln until
// ctx is cancelled, like Serve. Its callers are already authenticated by
// peer credentials (the daemon checks them as it accepts): they act as
// "local-cli" with full scope. No Host check is done there (a browser cannot
// reach a unix socket); a request carrying an Origin is refused. The routes
// of Config.Control take precedence.
func (s *Server) ServeControl(ctx context.Context, ln net.Listener) error {
	return serveFast(ctx, ln, s.log, func(life context.Context) fasthttp.RequestHandler {
		api := adapt(life, http.HandlerFunc(s.serveControl))
		return func(rc *fasthttp.RequestCtx) { s.fastControl(life, rc, api) }
	})
}

// hostSet is the set of ports the TCP API listens on, and whether any of
// them is non-loopback.
type hostSet struct {
	ports       map[string]bool
	nonLoopback bool
	first       string // host:port for menu URLs
	served      bool   // first is a real listener, not just Config.Listen
}

func (s *Server) addListener(addr string, served bool) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return
	}
	s.hostsMu.Lock()
	defer s.hostsMu.Unlock()
	n := &hostSet{ports: map[string]bool{}}
	if old := s.hosts.Load(); old != nil {
		for p := range old.ports {
			n.ports[p] = true
		}
		n.nonLoopback, n.first, n.served = old.nonLoopback, old.first, old.served
	}
	n.ports[port] = true
	if !loopback.IsHost(host) {
		n.nonLoopback = true
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	if n.first == "" || (served && !n.served) {
		n.first = net.JoinHostPort(host, port)
		n.served = served
	}
	s.hosts.Store(n)
}

// hostOK reports whether a Host header names this listener.
func (s *Server) hostOK(h string) bool {
	set := s.hosts.Load()
	if set == nil {
		return false
	}
	if set.served && h == set.first { // an IP literal from the listener
		return true // the common case, without parsing
	}
	host, port, err := net.SplitHostPort(h)
	if err != nil || !set.ports[port] {
		return false
	}
	if loopback.IsHost(host) {
		return true
	}
	// Any other IP literal names this listener only when it is not on
	// loopback; a DNS name never does (rebinding).
	return set.nonLoopback && net.ParseIP(host) != nil
}

// listenerHost is the host:port menu URLs use.
func (s *Server) listenerHost() string {
	if set := s.hosts.Load(); set != nil && set.first != "" {
		return set.first
	}
	return s.cfg.Listen
}

func itoa(n int) string { return strconv.Itoa(n) }
