package injector

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/latchkey/latchkey/injector/auth"
	"github.com/latchkey/latchkey/integrations"
)

func (s *Server) routes() {
	m := s.apiMux
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	m.HandleFunc("GET /v1/status", s.withCaller(true, true, s.handleStatus))
	m.HandleFunc("GET /v1/courses", s.withCaller(true, true, s.handleCourses))
	m.HandleFunc("GET /v1/courses/{integration}/{id}/thumbnail", s.withCaller(true, true, s.handleThumbnail))
	m.HandleFunc("GET /v1/search", s.withCaller(true, true, s.handleSearch))
	m.HandleFunc("POST /v1/integrations/{name}/connect", s.withCaller(true, true, s.handleConnect))
	m.HandleFunc("DELETE /v1/integrations/{name}", s.withCaller(true, true, s.handleDisconnect))
	m.HandleFunc("POST /v1/integrations/{name}/widget-token", s.withCaller(true, false, s.handleWidgetToken))
	// GET too: Document360's sample widget backend answers its token route
	// with an HTTP GET. Still a menu session only; the answer is no-store.
	m.HandleFunc("GET /v1/integrations/{name}/widget-token", s.withCaller(true, false, s.handleWidgetToken))
	m.HandleFunc("GET /v1/open/{integration}/{id}", s.withCaller(true, true, s.handleOpen))
	m.HandleFunc("GET "+oneTimeLinkPath+"{handle}", s.handleOneTimeLink)
	m.HandleFunc("GET "+MenuFocusPath, s.handleMenuFocus)
	m.HandleFunc("POST "+MenuFocusPath, s.handleMenuFocus)
	m.HandleFunc("GET /{integration}/connected", s.handleConnected)
	m.HandleFunc("POST /oauth2/token", s.handleTokenRequest)
	m.HandleFunc("GET /.well-known/jwks.json", s.handleJWKS)
	s.appRoutes(m)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such route")
	})
}

// withCaller authenticates before h (menu session and/or bearer JWT).
func (s *Server) withCaller(allowMenu, allowBearer bool, h func(http.ResponseWriter, *http.Request, *caller)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, ok := s.authenticate(w, r, allowMenu, allowBearer)
		if !ok {
			return
		}
		h(w, r, c)
	}
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request, c *caller) {
	st, err := s.backend.Status(withCallerClaims(r.Context(), c.Claims))
	if err != nil {
		s.log.Warn("status failed", "error", err.Error())
		writeError(w, http.StatusInternalServerError, "status_failed", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// integrationFor checks the scope and looks up name.
func (s *Server) integrationFor(w http.ResponseWriter, c *caller, name string) (ConnectedIntegration, bool) {
	if !validName(name) {
		writeError(w, http.StatusNotFound, "unknown_integration", "no such integration")
		return ConnectedIntegration{}, false
	}
	if !c.Allows(name) {
		writeForbiddenScope(w, name)
		return ConnectedIntegration{}, false
	}
	ci, ok := s.backend.Lookup(name)
	if !ok || ci.Integration == nil {
		writeError(w, http.StatusNotFound, "unknown_integration", "integration "+name+" is not configured")
		return ConnectedIntegration{}, false
	}
	return ci, true
}

func (s *Server) handleConnect(w http.ResponseWriter, r *http.Request, c *caller) {
	name := r.PathValue("name")
	if _, ok := s.integrationFor(w, c, name); !ok {
		return
	}
	u, err := s.backend.StartConnect(r.Context(), name)
	if err != nil {
		s.writeIntegrationError(w, name, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"url": u})
}

func (s *Server) handleDisconnect(w http.ResponseWriter, r *http.Request, c *caller) {
	name := r.PathValue("name")
	if _, ok := s.integrationFor(w, c, name); !ok {
		return
	}
	if err := s.backend.Disconnect(r.Context(), name); err != nil {
		s.writeIntegrationError(w, name, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"integration": name, "state": "disconnected"})
}

// handleConnected is the OAuth loopback redirect. It needs no caller: the
// Backend checks state (and PKCE). Its query (code, state) is never logged.
func (s *Server) handleConnected(w http.ResponseWriter, r *http.Request) {
	// The flow's state is on the browser's command line, which other local
	// users can read: only this user's browser may end the flow.
	if !peerIsThisUser(r) {
		writePage(w, http.StatusForbidden, page{Title: "Not your connection", Message: "This connection belongs to another user of this machine. Nothing changed."})
		return
	}
	name := r.PathValue("integration")
	if !validName(name) {
		writePage(w, http.StatusNotFound, page{Title: "Not found", Message: "There is no such page.", Hint: reopenHint})
		return
	}
	dn := DisplayName(name)
	if _, ok := s.backend.Lookup(name); !ok {
		writePage(w, http.StatusNotFound, page{Title: "Unknown integration",
			Message: dn + " is not configured in latchkey.", Hint: reopenHint})
		return
	}
	q := r.URL.Query()
	if err := s.backend.FinishConnect(r.Context(), name, q); err != nil {
		s.log.Warn("connect failed", "integration", name, "error", scrub(err))
		p := page{Title: dn + " is not connected", Detail: scrub(err), Hint: reopenHint}
		switch {
		case errors.Is(err, ErrUnknownConnectState):
			// Anyone may load this URL: no menu link without a flow of this user's.
			p.Title = "This connection link has expired"
			p.Message = "It was already used, or the connection took too long. Start again with Connect in the menu (Settings → Integrations) or with latchkey connect " + name + "."
		case q.Get("error") != "":
			p.Message = dn + " did not give latchkey access (you may have declined). Nothing changed; press Connect in the menu when you are ready."
			p.Back = s.menuLink()
		default:
			p.Message = "latchkey could not finish connecting " + dn + ". Close this tab and press Connect again."
			p.Back = s.menuLink()
		}
		writePage(w, http.StatusBadRequest, p)
		return
	}
	writePage(w, http.StatusOK, page{Title: dn + " is connected",
		Message: dn + " is connected to latchkey. You can close this tab: the menu has updated itself.",
		Back:    s.menuLink(), Hint: reopenHint})
}

// menuLink is a menu URL with a fresh one-time code for a page shown at the
// end of this user's own connect flow (its state proved that), or "" when
// there is no menu.
func (s *Server) menuLink() string {
	if s.cfg.Menu == nil {
		return ""
	}
	return s.NewMenuCode()
}

func (s *Server) handleWidgetToken(w http.ResponseWriter, r *http.Request, c *caller) {
	if r.Method == http.MethodGet && !sameOriginGET(r) {
		writeError(w, http.StatusForbidden, "forbidden_origin", "widget tokens are for the menu's own pages")
		return
	}
	name := r.PathValue("name")
	ci, ok := s.integrationFor(w, c, name)
	if !ok {
		return
	}
	wt, ok := ci.Integration.(integrations.WidgetTokens)
	if !ok {
		writeError(w, http.StatusNotFound, "not_supported", name+" has no widget tokens")
		return
	}
	tok, err := wt.WidgetToken(r.Context(), s.backend.Reader(r.Context()))
	if err != nil {
		s.writeIntegrationError(w, name, err)
		return
	}
	writeJSON(w, http.StatusOK, tok)
}

// sameOriginGET refuses a GET that a browser marks as coming from another
// site or origin (Sec-Fetch-Site, Origin); a request without these headers
// (not from a browser, or an older one) passes, as other menu GETs do.
func sameOriginGET(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return false
	}
	o := r.Header.Get("Origin")
	return o == "" || o == "http://"+r.Host
}

// handleOpen answers with a redirect to a signed-in URL, or with
// {"url": …} when the caller asks for JSON (so a CLI does not follow the
// one-time link itself).
func (s *Server) handleOpen(w http.ResponseWriter, r *http.Request, c *caller) {
	name := r.PathValue("integration")
	ci, ok := s.integrationFor(w, c, name)
	if !ok {
		return
	}
	// A signed-in link carries a provider token, which an app never sees
	// (nor a redirect to it, readable by any HTTP client): apps open a
	// course with the MCP tool open_course, on this desktop.
	if strings.HasPrefix(c.Subject, auth.SourceAppPrefix) {
		writeError(w, http.StatusForbidden, "not_for_apps", "signed-in links are not given to apps; open the course with the open_course tool")
		return
	}
	si, ok := ci.Integration.(integrations.SignIn)
	if !ok {
		writeError(w, http.StatusNotFound, "not_supported", name+" cannot open signed-in links")
		return
	}
	u, err := si.SignInURL(r.Context(), ci.Tokens, r.PathValue("id"))
	if err != nil {
		s.writeIntegrationError(w, name, err)
		return
	}
	w.Header()["Cache-Control"] = hvNoStore
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		writeJSON(w, http.StatusOK, map[string]string{"url": u})
		return
	}
	w.Header().Set("Location", u)
	w.WriteHeader(http.StatusFound)
}

func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Issuer == nil {
		writeError(w, http.StatusNotFound, "not_found", "no local issuer")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/jwk-set+json")
	h.Set("Cache-Control", "max-age=300")
	w.Write(s.cfg.Issuer.JWKS())
}

// oauthError is an RFC 6749 §5.2 error response.
func oauthError(w http.ResponseWriter, status int, code, desc string) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="latchkey", charset="UTF-8"`)
	}
	h := w.Header()
	h["Content-Type"] = hvJSON
	h["Cache-Control"] = hvNoStore
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

// handleToken is the client_credentials token endpoint for personal OAuth2
// clients (Basic auth or client_id/client_secret in the body, not both).
// The optional scope parameter (space-separated integration names) narrows
// the client's integrations.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	ca, ok := s.backend.(ClientAuthenticator)
	if !ok || s.cfg.Issuer == nil {
		writeError(w, http.StatusNotFound, "not_found", "personal clients are not enabled")
		return
	}
	if r.PostForm == nil {
		r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
		if err := r.ParseForm(); err != nil {
			oauthError(w, http.StatusBadRequest, "invalid_request", "the body must be application/x-www-form-urlencoded")
			return
		}
	}
	if r.URL.RawQuery != "" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "parameters must be in the body, not the URL")
		return
	}
	id, secret, basic := r.BasicAuth()
	if basic {
		// RFC 6749 §2.3.1: Basic credentials are form-urlencoded.
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			oauthError(w, http.StatusUnauthorized, "invalid_client", "malformed client credentials")
			return
		}
		if r.PostForm.Has("client_secret") {
			oauthError(w, http.StatusBadRequest, "invalid_request", "use one client authentication method, not both")
			return
		}
	} else if r.Header.Get("Authorization") != "" {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "unsupported client authentication")
		return
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if gt := r.PostForm.Get("grant_type"); gt != "client_credentials" {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "only client_credentials is supported")
		return
	}
	if id == "" || secret == "" {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return
	}
	scope, clientExpiry, err := ca.AuthenticateClient(r.Context(), id, secret)
	if err != nil {
		s.log.Info("client authentication failed", "client", id)
		oauthError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return
	}
	if req := strings.Fields(r.PostForm.Get("scope")); len(req) > 0 {
		var narrowed []string
		for _, n := range req {
			if slices.Contains(scope, "*") || slices.Contains(scope, n) {
				narrowed = append(narrowed, n)
			} else {
				oauthError(w, http.StatusBadRequest, "invalid_scope", "the client may not use "+n)
				return
			}
		}
		scope = narrowed
	}
	// The token expires with the client, if the client expires first.
	start := time.Now()
	tok, exp, err := s.cfg.Issuer.MintBefore(auth.SourceClientPrefix+id, scope, s.cfg.ClientTokenTTL, clientExpiry)
	if errors.Is(err, auth.ErrNoLifetimeLeft) {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "the client expires within a second")
		return
	}
	if err != nil {
		oauthError(w, http.StatusInternalServerError, "server_error", "could not mint a token")
		return
	}
	resp := map[string]any{
		"access_token": tok,
		"token_type":   "Bearer",
		"expires_in":   int(exp.Sub(start.Truncate(time.Second)).Seconds()),
	}
	if len(scope) > 0 {
		resp["scope"] = strings.Join(scope, " ")
	}
	h := w.Header()
	h["Content-Type"] = hvJSON
	h["Cache-Control"] = hvNoStore
	h.Set("Pragma", "no-cache")
	json.NewEncoder(w).Encode(resp)
}
