package injector

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	sdkauth "github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/latchkey/latchkey/injector/mcpserver"
	"github.com/latchkey/latchkey/injector/oauthserver"
	"github.com/latchkey/latchkey/integrations"
)

// MCPConfig turns on the MCP server at /mcp.
type MCPConfig struct {
	// Version is reported to MCP clients.
	Version string
	// OpenLink opens a signed-in link in the person's browser on this
	// desktop (open_course); the link goes nowhere else.
	OpenLink func(ctx context.Context, link string) error
}

// mcpPath is where the MCP server answers (streamable HTTP).
const mcpPath = oauthserver.ResourceMCP

// Route kinds for the resource a token is bound to (auth.Claims.Resource).
const (
	resourceAPI = oauthserver.ResourceAPI
	resourceMCP = oauthserver.ResourceMCP
)

// resourceAllows reports whether a token bound to res may be used on a
// route of kind route ("" binds to nothing: every route).
func resourceAllows(res, route string) bool { return res == "" || res == route }

type internalCallerKey struct{}

// internalCaller is the caller an in-process request (an MCP tool calling
// the API) is made for; only code in this process can set it.
func internalCaller(r *http.Request) (*caller, bool) {
	c, ok := r.Context().Value(internalCallerKey{}).(*caller)
	return c, ok && c != nil
}

// appRoutes adds the authorization server's and the MCP server's routes.
func (s *Server) appRoutes(m *http.ServeMux) {
	if s.cfg.Apps != nil {
		h := s.cfg.Apps.Handler()
		s.appsHandler = h
		for _, p := range []string{
			"GET " + oauthserver.MetadataPath,
			"GET " + oauthserver.ProtectedResourcePath,
			"GET " + oauthserver.ProtectedResourcePath + resourceMCP,
			"GET " + oauthserver.ProtectedResourcePath + resourceAPI,
			"POST " + oauthserver.RegisterPath,
		} {
			m.Handle(p, h)
		}
		// Another local user's program may not open consent windows on
		// this user's desktop.
		m.HandleFunc("GET "+oauthserver.AuthorizePath, func(w http.ResponseWriter, r *http.Request) {
			if !peerIsThisUser(r) {
				writeError(w, http.StatusForbidden, "forbidden_peer", "apps are authorized from this user's own browser only")
				return
			}
			h.ServeHTTP(w, r)
		})
		m.HandleFunc("GET /v1/apps/consent/{id}", s.withCaller(true, false, s.handleConsentGet))
		m.HandleFunc("POST /v1/apps/consent/{id}", s.withCaller(true, false, s.handleConsentDecide))
		m.HandleFunc("GET /v1/apps", s.withCaller(true, false, s.handleAppsList))
		m.HandleFunc("DELETE /v1/apps/{id}", s.withCaller(true, false, s.handleAppsRevoke))
	}
	if s.cfg.MCP != nil {
		m.Handle(mcpPath, s.mcpHandler())
	}
	m.HandleFunc("GET /v1/articles/{integration}/{id}", s.withCaller(true, true, s.handleArticle))
}

// handleTokenRequest is POST /oauth2/token: client_credentials for personal
// clients here, the other grants by the authorization server.
func (s *Server) handleTokenRequest(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "the body must be application/x-www-form-urlencoded")
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != "client_credentials" && s.cfg.Apps != nil {
		s.appsHandler.ServeHTTP(w, r)
		return
	}
	s.handleToken(w, r)
}

// narrowed is c limited to the integrations a request names in its
// integrations parameter (comma-separated), or c when it names none. A
// name outside c's scope is refused (false, answered).
func narrowed(w http.ResponseWriter, r *http.Request, c *caller) (*caller, bool) {
	raw := r.URL.Query().Get("integrations")
	if raw == "" {
		return c, true
	}
	var scope []string
	for _, n := range strings.Split(raw, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if !validName(n) || !c.Allows(n) {
			writeForbiddenScope(w, n)
			return nil, false
		}
		scope = append(scope, n)
	}
	nc := *c
	nc.Scope = scope
	return &nc, true
}

func (s *Server) handleArticle(w http.ResponseWriter, r *http.Request, c *caller) {
	name := r.PathValue("integration")
	ci, ok := s.integrationFor(w, c, name)
	if !ok {
		return
	}
	ar, ok := ci.Integration.(integrations.Articles)
	if !ok {
		writeError(w, http.StatusNotFound, "not_supported", name+" has no articles")
		return
	}
	start := time.Now()
	a, err := ar.Article(r.Context(), ci.Tokens, r.PathValue("id"))
	status := http.StatusOK
	if err != nil {
		status, _ = integrationErrorStatus(err)
	}
	s.recordAudit(AuditEntry{Time: start, Caller: c.Subject, Integration: name, Method: http.MethodGet,
		Path: "/v1/articles", Status: status, Duration: time.Since(start)})
	if err != nil {
		s.writeIntegrationError(w, name, err)
		return
	}
	a.Integration = name
	writeJSON(w, http.StatusOK, a)
}

// mcpHandler is /mcp: the MCP tools over streamable HTTP (stateless, JSON
// answers), behind a bearer token for the /mcp resource. A 401 names the
// protected-resource metadata (RFC 9728).
func (s *Server) mcpHandler() http.Handler {
	srv := mcpserver.NewServer(inProcessAPI{s}, mcpserver.Options{Version: s.cfg.MCP.Version, OnCall: s.auditTool})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv },
		&mcp.StreamableHTTPOptions{Stateless: true, JSONResponse: true})
	verify := func(ctx context.Context, tok string, _ *http.Request) (*sdkauth.TokenInfo, error) {
		c, ok := s.verifyBearer(ctx, tok, resourceMCP)
		if !ok {
			return nil, sdkauth.ErrInvalidToken
		}
		return &sdkauth.TokenInfo{Scopes: c.Scope, Expiration: c.Expiry, UserID: c.Subject, Extra: map[string]any{"caller": c}}, nil
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isControl(r) {
			writeError(w, http.StatusNotFound, "not_found", "MCP over the control socket is `latchkey mcp`")
			return
		}
		sdkauth.RequireBearerToken(verify, &sdkauth.RequireBearerTokenOptions{
			ResourceMetadataURL: oauthserver.ResourceMetadataURL(r.Host, resourceMCP),
		})(h).ServeHTTP(w, r)
	})
}

// auditTool records an MCP tool call under its caller.
func (s *Server) auditTool(_ context.Context, ti *sdkauth.TokenInfo, tool string, err error) {
	sub := "local-cli"
	if ti != nil {
		sub = ti.UserID
	}
	status := http.StatusOK
	if err != nil {
		status = http.StatusUnprocessableEntity
	}
	s.recordAudit(AuditEntry{Time: time.Now(), Caller: sub, Method: "MCP", Path: "tools/call " + tool, Status: status})
}

// inProcessAPI is the local API for the MCP tools served at /mcp: a
// request goes through the API's own routes, as the token's caller.
type inProcessAPI struct{ s *Server }

func callerOf(ti *sdkauth.TokenInfo) (*caller, bool) {
	if ti == nil {
		return nil, false
	}
	c, ok := ti.Extra["caller"].(*caller)
	return c, ok
}

func (a inProcessAPI) Get(ctx context.Context, ti *sdkauth.TokenInfo, path string, q url.Values) (int, []byte, error) {
	c, ok := callerOf(ti)
	if !ok {
		return http.StatusUnauthorized, []byte(`{"error":{"code":"invalid_token","message":"no caller"}}`), nil
	}
	target := path
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	r, err := http.NewRequestWithContext(context.WithValue(ctx, internalCallerKey{}, c), http.MethodGet, target, nil)
	if err != nil {
		return 0, nil, err
	}
	r.RequestURI = target
	r.Host = a.s.listenerHost()
	rec := &memResponse{hdr: http.Header{}}
	a.s.apiMux.ServeHTTP(rec, r)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	return rec.status, rec.body.Bytes(), nil
}

func (a inProcessAPI) OpenCourse(ctx context.Context, ti *sdkauth.TokenInfo, name, id string) error {
	c, ok := callerOf(ti)
	if !ok {
		return errUnknownIntegration
	}
	if !validName(name) || !c.Allows(name) {
		return apiErr("this app is not allowed to use " + name)
	}
	ci, ok := a.s.backend.Lookup(name)
	if !ok || ci.Integration == nil {
		return apiErr(name + " is not configured in latchkey")
	}
	si, ok := ci.Integration.(integrations.SignIn)
	if !ok {
		return apiErr(name + " cannot open courses signed in")
	}
	start := time.Now()
	link, err := si.SignInURL(ctx, ci.Tokens, id)
	status := http.StatusOK
	if err != nil {
		status, _ = integrationErrorStatus(err)
	}
	a.s.recordAudit(AuditEntry{Time: start, Caller: c.Subject, Integration: name, Method: http.MethodGet,
		Path: "/v1/open", Status: status, Duration: time.Since(start)})
	if err != nil {
		return apiErr(name + " could not sign the course in: " + scrub(err))
	}
	if err := a.s.cfg.MCP.OpenLink(ctx, link); err != nil {
		return apiErr("the browser could not be opened on this desktop")
	}
	return nil
}

type apiErr string

func (e apiErr) Error() string { return string(e) }

// memResponse is an http.ResponseWriter kept in memory.
type memResponse struct {
	hdr    http.Header
	status int
	body   bytes.Buffer
}

func (r *memResponse) Header() http.Header { return r.hdr }
func (r *memResponse) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}
func (r *memResponse) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(p)
}

// ConsentPage is the menu's consent view.
const ConsentPage = "/menu/consent.html"

// NewConsentURL returns the menu's consent view for consent request id
// with a fresh one-time menu code (as NewMenuCode), for the daemon to open
// on the desktop: only the person there can answer it.
func (s *Server) NewConsentURL(id string) string {
	u := s.NewMenuCode()
	_, frag, _ := strings.Cut(u, "#")
	return "http://" + s.listenerHost() + ConsentPage + "#" + frag + "&consent=" + url.QueryEscape(id)
}

// menuOnly refuses a caller that is not the person's menu session (the
// control socket included: a program must not answer a consent).
func menuOnly(w http.ResponseWriter, c *caller) bool {
	if !c.menu {
		writeError(w, http.StatusForbidden, "menu_session_required", "only the person, in latchkey's menu, can answer a consent")
		return false
	}
	return true
}

func (s *Server) handleConsentGet(w http.ResponseWriter, r *http.Request, c *caller) {
	if !menuOnly(w, c) {
		return
	}
	req, ok := s.cfg.Apps.Pending(r.PathValue("id"))
	if !ok {
		writeError(w, http.StatusNotFound, "no_consent", oauthserver.ErrNoConsent.Error())
		return
	}
	writeJSON(w, http.StatusOK, req)
}

func (s *Server) handleConsentDecide(w http.ResponseWriter, r *http.Request, c *caller) {
	if !menuOnly(w, c) {
		return
	}
	var body struct {
		Allow *bool `json:"allow"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<10)).Decode(&body); err != nil || body.Allow == nil {
		writeError(w, http.StatusBadRequest, "bad_request", `the body must be {"allow": true|false}`)
		return
	}
	to, err := s.cfg.Apps.Decide(r.PathValue("id"), *body.Allow)
	if err != nil {
		writeError(w, http.StatusNotFound, "no_consent", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"redirect": to})
}

func (s *Server) handleAppsList(w http.ResponseWriter, r *http.Request, c *caller) {
	writeJSON(w, http.StatusOK, map[string]any{"apps": s.cfg.Apps.List()})
}

func (s *Server) handleAppsRevoke(w http.ResponseWriter, r *http.Request, c *caller) {
	id := r.PathValue("id")
	if err := s.cfg.Apps.Revoke(r.Context(), id, "revoked by the person"); err != nil {
		if errors.Is(err, oauthserver.ErrNoGrant) {
			writeError(w, http.StatusNotFound, "no_grant", "no app grant "+id+" (see latchkey apps list)")
			return
		}
		writeError(w, http.StatusInternalServerError, "revoke_failed", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "state": "revoked"})
}
