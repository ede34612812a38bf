package injector

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/latchkey/latchkey/injector/auth"
)

// Shared, never-mutated header values (assigned without allocating).
var (
	hvDeny        = []string{"DENY"}
	hvNosniff     = []string{"nosniff"}
	hvNoReferrer  = []string{"no-referrer"}
	hvAPICSP      = []string{"default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"}
	hvPageCSP     = []string{"default-src 'none'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"}
	hvProxyCSP    = []string{"default-src 'none'; sandbox; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"}
	hvNoStore     = []string{"no-store"}
	hvJSON        = []string{"application/json"}
	hvInvalidTok  = []string{`Bearer error="invalid_token"`}
	hvInsuffScope = []string{`Bearer error="insufficient_scope"`}
)

// securityHeaders are on every response, beside a Content-Security-Policy
// chosen per route; both servers' writers (setSecurityHeaders,
// setFastSecurityHeaders) set them from here.
var securityHeaders = [...]struct {
	name  string
	value []string
}{
	{"X-Frame-Options", hvDeny},
	{"X-Content-Type-Options", hvNosniff},
	{"Referrer-Policy", hvNoReferrer},
}

func setSecurityHeaders(h http.Header, csp []string) {
	for _, sh := range securityHeaders {
		h[sh.name] = sh.value
	}
	if csp != nil {
		h["Content-Security-Policy"] = csp
	}
}

// caller is who is making a request.
type caller struct {
	auth.Claims
	menu    bool // authenticated by a menu session (MenuSessionHeader)
	control bool // the unix control socket
}

type ctxKey int

const controlKey ctxKey = iota

var controlCaller = &caller{
	Claims:  auth.Claims{Subject: "local-cli", Scope: []string{"*"}, Source: auth.SourceLocal},
	control: true,
}

func isMenuPath(p string) bool { return p == "/menu" || strings.HasPrefix(p, "/menu/") }

// CORS answers for Config.AllowedOrigins.
const (
	corsMethods = "GET, POST, PUT, PATCH, DELETE"
	corsHeaders = "Authorization, Content-Type, Accept"
	corsMaxAge  = "600"
)

// guardVerdict is what the browser-safety checks decided for a TCP request.
type guardVerdict struct {
	status    int // non-zero: refuse with status, code and msg
	code, msg string
	// allowOrigin is a configured foreign origin: answer with CORS headers
	// for it (and, for a preflight, with 204 and nothing else).
	allowOrigin string
	preflight   bool
}

// setCORS sets the CORS headers v calls for (none without allowOrigin).
func (v guardVerdict) setCORS(set func(k, val string)) {
	if v.allowOrigin == "" {
		return
	}
	set("Access-Control-Allow-Origin", v.allowOrigin)
	set("Vary", "Origin")
	if v.preflight {
		set("Access-Control-Allow-Methods", corsMethods)
		set("Access-Control-Allow-Headers", corsHeaders)
		set("Access-Control-Max-Age", corsMaxAge)
	}
}

// guardTCP applies the listener's request rules (origin-form targets only,
// Host naming this listener, Origin the listener's own or configured) to a
// request's method, raw target, Host and Origin; acrm is whether it carries
// Access-Control-Request-Method. Both the proxy and the net/http API use it.
func (s *Server) guardTCP(method, uri, host, origin string, acrm bool) guardVerdict {
	if method == http.MethodConnect || !strings.HasPrefix(uri, "/") {
		return guardVerdict{status: http.StatusBadRequest, code: "bad_request", msg: "only origin-form request targets are accepted"}
	}
	if !s.hostOK(host) {
		return guardVerdict{status: http.StatusMisdirectedRequest, code: "bad_host", msg: "the Host header must name this loopback listener"}
	}
	if origin == "" || (len(origin) == len("http://")+len(host) && strings.HasPrefix(origin, "http://") && origin[len("http://"):] == host) {
		return guardVerdict{}
	}
	if !s.allowed[origin] {
		return guardVerdict{status: http.StatusForbidden, code: "forbidden_origin", msg: "requests from this origin are not allowed"}
	}
	return guardVerdict{allowOrigin: origin, preflight: method == http.MethodOptions && acrm}
}

// serveTCP is the loopback listener's API other than the proxy (which
// fastTCP serves natively).
func (s *Server) serveTCP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	path := r.URL.Path
	if isMenuPath(path) {
		setSecurityHeaders(h, nil) // the menu sets its own CSP
	} else {
		setSecurityHeaders(h, hvAPICSP)
	}
	v := s.guardTCP(r.Method, r.RequestURI, r.Host, r.Header.Get("Origin"), r.Header.Get("Access-Control-Request-Method") != "")
	if v.status != 0 {
		writeError(w, v.status, v.code, v.msg)
		return
	}
	v.setCORS(h.Set)
	if v.preflight {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if isMenuPath(path) {
		if path == MenuSessionPath {
			if r.Method != http.MethodPost {
				writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "a menu session is opened with POST")
				return
			}
			h["Content-Security-Policy"] = hvAPICSP
			s.serveMenuSession(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "the menu is read with GET")
			return
		}
		s.serveMenu(w, r)
		return
	}
	s.apiMux.ServeHTTP(w, r)
}

func (s *Server) serveControl(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	setSecurityHeaders(h, hvAPICSP)
	if r.Header.Get("Origin") != "" {
		writeError(w, http.StatusForbidden, "forbidden_origin", "the control socket takes no browser requests")
		return
	}
	if r.Method == http.MethodConnect || !strings.HasPrefix(r.RequestURI, "/") {
		writeError(w, http.StatusBadRequest, "bad_request", "only origin-form request targets are accepted")
		return
	}
	if s.cfg.Control != nil {
		if _, pattern := s.cfg.Control.Handler(r); pattern != "" {
			s.cfg.Control.ServeHTTP(w, r)
			return
		}
	}
	r = r.WithContext(context.WithValue(r.Context(), controlKey, true))
	s.apiMux.ServeHTTP(w, r)
}

func isControl(r *http.Request) bool {
	v, _ := r.Context().Value(controlKey).(bool)
	return v
}

// bearer authenticates a request by its bearer JWT only (or the control
// socket), writing the 401 itself.
func (s *Server) bearer(w http.ResponseWriter, r *http.Request) (*caller, bool) {
	if isControl(r) {
		return controlCaller, true
	}
	if c, ok := internalCaller(r); ok {
		return c, true
	}
	tok, ok := bearerToken(r)
	if !ok {
		writeUnauthorized(w, "a bearer token is required")
		return nil, false
	}
	c, ok := s.verifyBearer(r.Context(), tok, resourceAPI)
	if !ok {
		writeUnauthorized(w, "the bearer token is not valid")
	}
	return c, ok
}

// verifyBearer checks a caller's JWT, that its subject is not revoked and
// that it is not bound to a resource other than route's (resourceAPI,
// resourceMCP); the reason of a refusal goes to the debug log only.
func (s *Server) verifyBearer(ctx context.Context, tok, route string) (*caller, bool) {
	cl, err := s.verifier.Verify(ctx, tok)
	if err == nil && s.isRevoked(cl.Subject) {
		err = errRevoked
	}
	if err == nil && !resourceAllows(cl.Resource, route) {
		err = errOtherResource
	}
	if err != nil {
		s.log.Debug("caller token refused", "reason", err.Error())
		return nil, false
	}
	return &caller{Claims: cl}, true
}

func bearerToken(r *http.Request) (string, bool) {
	v := r.Header["Authorization"]
	if len(v) != 1 {
		return "", false
	}
	return bearerValue(v[0])
}

// bearerValue returns the token of an "Authorization: Bearer …" value.
func bearerValue(v string) (string, bool) {
	const p = "Bearer "
	if len(v) <= len(p) || !strings.EqualFold(v[:len(p)], p) {
		return "", false
	}
	return strings.TrimSpace(v[len(p):]), true
}

// authenticate finds the caller: a bearer JWT, the control socket, or (when
// allowMenu) a menu session secret in MenuSessionHeader, for which a
// state-changing request must also carry the listener's own Origin. No
// cookie authenticates anything: a browser sends cookies to every port of
// the host, so any program listening on another loopback port would get them.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, allowMenu, allowBearer bool) (*caller, bool) {
	if isControl(r) {
		return controlCaller, true
	}
	if c, ok := internalCaller(r); ok && allowBearer {
		return c, true
	}
	if _, has := r.Header["Authorization"]; has || !allowMenu {
		if !allowBearer {
			writeError(w, http.StatusForbidden, "menu_session_required", "this route is for the menu only")
			return nil, false
		}
		return s.bearer(w, r)
	}
	if !s.menuSessionValid(r) {
		if allowBearer {
			writeUnauthorized(w, "a bearer token or a menu session is required")
		} else {
			writeError(w, http.StatusUnauthorized, "session_expired", "the menu session is missing or expired; open the menu again")
		}
		return nil, false
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		if r.Header.Get("Origin") != "http://"+r.Host {
			writeError(w, http.StatusForbidden, "forbidden_origin", "state-changing menu requests must come from the menu's own origin")
			return nil, false
		}
	}
	return &caller{Claims: auth.Claims{Subject: "menu", Scope: []string{"*"}, Source: "menu"}, menu: true}, true
}

type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	h := w.Header()
	h["Content-Type"] = hvJSON
	h["Cache-Control"] = hvNoStore
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(struct {
		Error apiError `json:"error"`
	}{apiError{code, msg}})
}

func writeUnauthorized(w http.ResponseWriter, msg string) {
	w.Header()["Www-Authenticate"] = hvInvalidTok
	writeError(w, http.StatusUnauthorized, "invalid_token", msg)
}

func writeForbiddenScope(w http.ResponseWriter, integration string) {
	w.Header()["Www-Authenticate"] = hvInsuffScope
	writeError(w, http.StatusForbidden, "insufficient_scope", "this token is not allowed to use "+integration)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h["Content-Type"] = hvJSON
	h["Cache-Control"] = hvNoStore
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

var (
	errUnknownIntegration = errors.New("unknown integration")
	errRevoked            = errors.New("the token's subject was revoked")
	errOtherResource      = errors.New("the token is for another resource of this listener")
)
