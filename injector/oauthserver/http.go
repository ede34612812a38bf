package oauthserver

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/latchkey/latchkey/internal/loopback"
)

// Routes the server answers (Handler).
const (
	AuthorizePath          = "/oauth2/authorize"
	TokenPath              = "/oauth2/token"
	RegisterPath           = "/oauth2/register"
	MetadataPath           = "/.well-known/oauth-authorization-server"
	ProtectedResourcePath  = "/.well-known/oauth-protected-resource"
	protectedResourceMCP   = ProtectedResourcePath + ResourceMCP
	protectedResourceAPI   = ProtectedResourcePath + ResourceAPI
	maxRegistrationBody    = 16 << 10
	maxMetadataDocument    = 64 << 10
	maxClientNameRunes     = 100
	maxRedirectURIs        = 10
	defaultClientName      = "an unnamed app"
	clientIDPrefix         = "lka_"
	grantIDPrefix          = "lkg_"
	refreshTokenPrefixUsed = "lkr_"
)

// ResourceMetadataURL is where the protected-resource metadata of resource
// (ResourceMCP or ResourceAPI) is on the listener reached as host (a 401's
// WWW-Authenticate names it).
func ResourceMetadataURL(host, resource string) string {
	return "http://" + host + ProtectedResourcePath + resource
}

// Handler returns the server's routes (the paths above) as one handler.
// The injector serves it behind its Host and Origin checks, so r.Host
// names the loopback listener.
func (s *Server) Handler() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("GET "+MetadataPath, s.handleMetadata)
	m.HandleFunc("GET "+ProtectedResourcePath, s.handleResourceMetadata)
	m.HandleFunc("GET "+protectedResourceMCP, s.handleResourceMetadata)
	m.HandleFunc("GET "+protectedResourceAPI, s.handleResourceMetadata)
	m.HandleFunc("GET "+AuthorizePath, s.handleAuthorize)
	m.HandleFunc("POST "+TokenPath, s.handleToken)
	m.HandleFunc("POST "+RegisterPath, s.handleRegister)
	return m
}

func base(r *http.Request) string { return "http://" + r.Host }

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// oauthError is an RFC 6749 §5.2 (and RFC 7591 §3.2.2) error answer.
func oauthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func (s *Server) handleMetadata(w http.ResponseWriter, r *http.Request) {
	b := base(r)
	w.Header().Set("Access-Control-Allow-Origin", "*")
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                         b,
		"authorization_endpoint":                         b + AuthorizePath,
		"token_endpoint":                                 b + TokenPath,
		"registration_endpoint":                          b + RegisterPath,
		"jwks_uri":                                       b + "/.well-known/jwks.json",
		"response_types_supported":                       []string{"code"},
		"response_modes_supported":                       []string{"query"},
		"grant_types_supported":                          []string{"authorization_code", "refresh_token", "client_credentials"},
		"code_challenge_methods_supported":               []string{"S256"},
		"token_endpoint_auth_methods_supported":          []string{"none", "client_secret_basic", "client_secret_post"},
		"scopes_supported":                               s.cfg.Integrations(),
		"client_id_metadata_document_supported":          true,
		"authorization_response_iss_parameter_supported": true,
	})
}

func (s *Server) handleResourceMetadata(w http.ResponseWriter, r *http.Request) {
	res := ResourceMCP
	if r.URL.Path == protectedResourceAPI {
		res = ResourceAPI
	}
	b := base(r)
	w.Header().Set("Access-Control-Allow-Origin", "*")
	writeJSON(w, http.StatusOK, map[string]any{
		"resource":                 b + res,
		"authorization_servers":    []string{b},
		"bearer_methods_supported": []string{"header"},
		"scopes_supported":         s.cfg.Integrations(),
		"resource_name":            "latchkey",
	})
}

// normalizeResource maps an RFC 8707 resource URL on this listener to the
// path a grant is bound to: ResourceMCP, ResourceAPI, or "" (the whole
// listener).
func normalizeResource(raw, host string) (string, error) {
	if raw == "" {
		return "", nil
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.Fragment != "" || u.RawQuery != "" || !loopback.IsHost(u.Hostname()) {
		return "", errors.New("the resource must be a URL on latchkey's loopback listener")
	}
	_, port, _ := net.SplitHostPort(host)
	if u.Port() != port {
		return "", errors.New("the resource is on another port than latchkey's listener")
	}
	switch strings.TrimSuffix(u.Path, "/") {
	case "":
		return "", nil
	case ResourceMCP:
		return ResourceMCP, nil
	case ResourceAPI:
		return ResourceAPI, nil
	}
	return "", errors.New("latchkey serves the resources /mcp and /v1 only")
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}} · latchkey</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:36em;margin:3em auto;padding:0 1em;color:#1d2330}h1{font-size:1.3em}</style>
</head><body><h1>{{.Title}}</h1><p>{{.Message}}</p></body></html>
`))

func writePage(w http.ResponseWriter, status int, title, msg string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
	h.Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	_ = pageTemplate.Execute(w, struct{ Title, Message string }{title, msg})
}

// handleAuthorize checks an authorization request and asks the person
// through the Prompter. A request whose client or redirect URI cannot be
// trusted is answered here, never redirected (RFC 6749 §4.1.2.1).
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	// An app opens this URL in the browser itself (Sec-Fetch-Site: none),
	// or redirects there from a page of its own on this machine
	// (same-site); a web site that sends the browser here is refused before
	// anything is shown, so no site can pop consent windows up on the desktop.
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		writePage(w, http.StatusForbidden, "Not from a web page",
			"An app asks for access by opening this address itself, not through a web page. Nothing was shown or granted.")
		return
	}
	// Only a navigation asks the person: a page's image, frame or fetch
	// of this URL (which a browser marks), a same-site one too (a page on
	// any other loopback port), would open consent windows at its will.
	if dest := r.Header.Get("Sec-Fetch-Dest"); dest != "" && dest != "document" {
		writePage(w, http.StatusBadRequest, "Open this address in the browser",
			"latchkey asks about an app only when its authorization address is opened as a page. Nothing was granted.")
		return
	}
	q := r.URL.Query()
	clientID, redirectURI := q.Get("client_id"), q.Get("redirect_uri")
	cl, err := s.client(r.Context(), clientID)
	if err != nil {
		writePage(w, http.StatusBadRequest, "Unknown app", "latchkey does not know this app: "+err.Error()+".")
		return
	}
	if redirectURI == "" && len(cl.RedirectURIs) == 1 {
		redirectURI = cl.RedirectURIs[0]
	}
	if !matchRedirect(cl.RedirectURIs, redirectURI) {
		writePage(w, http.StatusBadRequest, "Redirect refused",
			"The app asked latchkey to send you to an address it did not register. Nothing was granted.")
		return
	}
	fail := func(code, desc string) {
		http.Redirect(w, r, redirectWith(redirectURI, map[string]string{
			"error": code, "error_description": desc, "state": q.Get("state"), "iss": base(r),
		}), http.StatusFound)
	}
	if q.Get("response_type") != "code" {
		fail("unsupported_response_type", "only response_type=code is supported")
		return
	}
	challenge := q.Get("code_challenge")
	if challenge == "" || q.Get("code_challenge_method") != "S256" {
		fail("invalid_request", "PKCE is required, with code_challenge_method=S256")
		return
	}
	if len(challenge) != 43 {
		fail("invalid_request", "code_challenge must be a base64url SHA-256 (43 characters)")
		return
	}
	scope, err := s.scope(q.Get("scope"))
	if err != nil {
		fail("invalid_scope", err.Error())
		return
	}
	resource, err := normalizeResource(q.Get("resource"), r.Host)
	if err != nil {
		fail("invalid_target", err.Error())
		return
	}
	ru, _ := url.Parse(redirectURI)
	now := s.cfg.Now()
	req := ConsentRequest{
		ID: randomString(18), ClientID: cl.ID, AppName: cl.Name, RedirectHost: ru.Host, Program: cl.Program,
		Integrations: scope, Resource: resource, ReadOnly: resource == ResourceMCP,
		Expires: now.Add(s.cfg.ConsentTTL),
	}
	s.mu.Lock()
	s.expireLocked()
	if len(s.pending) >= 64 {
		s.mu.Unlock()
		fail("temporarily_unavailable", "too many consent requests are waiting; answer them first")
		return
	}
	s.pending[req.ID] = &pendingConsent{req: req, redirectURI: redirectURI, state: q.Get("state"), challenge: challenge, issuer: base(r)}
	s.mu.Unlock()
	if err := s.cfg.Prompter.PromptConsent(r.Context(), req); err != nil {
		s.mu.Lock()
		delete(s.pending, req.ID)
		s.mu.Unlock()
		s.log.Warn("could not show an app's consent", "client_id", cl.ID, "err", err.Error())
		fail("temporarily_unavailable", "latchkey could not show its consent window: "+err.Error())
		return
	}
	writePage(w, http.StatusOK, "Answer in latchkey's window",
		"latchkey opened its own window asking whether "+cl.Name+" may use "+strings.Join(scope, ", ")+
			". Allow or deny it there; this page cannot answer for you.")
}

// scope parses a space-separated list of integrations; empty asks for all.
func (s *Server) scope(raw string) ([]string, error) {
	known := s.cfg.Integrations()
	names := strings.Fields(raw)
	if len(names) == 0 {
		if len(known) == 0 {
			return nil, errors.New("no integration is configured in latchkey")
		}
		return slices.Clone(known), nil
	}
	var out []string
	for _, n := range names {
		if !slices.Contains(known, n) {
			return nil, errors.New("latchkey has no integration " + quote(n))
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// client returns a registered client, or fetches a client ID metadata
// document when the id is an https URL.
func (s *Server) client(ctx context.Context, id string) (Client, error) {
	if id == "" {
		return Client{}, errors.New("no client_id")
	}
	if strings.HasPrefix(id, "https://") {
		return s.fetchDocument(ctx, id)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.st.Clients[id]
	if !ok || c.Document {
		return Client{}, errors.New("it is not registered")
	}
	return *c, nil
}

// fetchDocument reads a client ID metadata document: a JSON document at
// the https URL that is the client id, naming itself as client_id.
func (s *Server) fetchDocument(ctx context.Context, id string) (Client, error) {
	u, err := url.Parse(id)
	if err != nil || u.Path == "" || u.Path == "/" || u.Fragment != "" || u.User != nil {
		return Client{}, errors.New("its client id is not a usable metadata document URL")
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, id, nil)
	if err != nil {
		return Client{}, errors.New("its client id is not a usable metadata document URL")
	}
	req.Header.Set("Accept", "application/json")
	hc := *s.cfg.HTTPClient
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := hc.Do(req)
	if err != nil {
		return Client{}, errors.New("its metadata document could not be fetched")
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Client{}, errors.New("its metadata document answered HTTP " + resp.Status)
	}
	var doc struct {
		ClientID     string   `json:"client_id"`
		ClientName   string   `json:"client_name"`
		RedirectURIs []string `json:"redirect_uris"`
		AuthMethod   string   `json:"token_endpoint_auth_method"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxMetadataDocument)).Decode(&doc); err != nil {
		return Client{}, errors.New("its metadata document is not JSON")
	}
	if doc.ClientID != id {
		return Client{}, errors.New("its metadata document names another client_id")
	}
	if doc.AuthMethod != "" && doc.AuthMethod != "none" {
		return Client{}, errors.New("its metadata document asks for client authentication latchkey does not do")
	}
	if err := checkRedirects(doc.RedirectURIs); err != nil {
		return Client{}, err
	}
	// Not kept: the document is read again at every authorization, and
	// anyone may name a new one.
	return Client{ID: id, Name: cleanName(doc.ClientName, u.Host), RedirectURIs: doc.RedirectURIs, CreatedAt: s.cfg.Now().UTC(), Document: true}, nil
}

func checkRedirects(uris []string) error {
	if len(uris) == 0 {
		return errors.New("at least one redirect URI is required")
	}
	if len(uris) > maxRedirectURIs {
		return errors.New("too many redirect URIs")
	}
	for _, u := range uris {
		if err := checkLoopbackRedirect(u); err != nil {
			return err
		}
	}
	return nil
}

// cleanName keeps a client name printable and short.
func cleanName(name, fallback string) string {
	var b strings.Builder
	n := 0
	for _, r := range strings.TrimSpace(name) {
		if n == maxClientNameRunes {
			break
		}
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			continue
		}
		b.WriteRune(r)
		n++
	}
	if b.Len() == 0 {
		if fallback != "" {
			return fallback
		}
		return defaultClientName
	}
	return b.String()
}

func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		oauthError(w, http.StatusBadRequest, "invalid_client_metadata", "send the metadata as application/json")
		return
	}
	var md struct {
		RedirectURIs  []string `json:"redirect_uris"`
		ClientName    string   `json:"client_name"`
		AuthMethod    string   `json:"token_endpoint_auth_method"`
		GrantTypes    []string `json:"grant_types"`
		ResponseTypes []string `json:"response_types"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRegistrationBody)).Decode(&md); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_client_metadata", "the metadata is not a JSON object")
		return
	}
	if err := checkRedirects(md.RedirectURIs); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_redirect_uri", err.Error())
		return
	}
	if md.AuthMethod != "" && md.AuthMethod != "none" {
		oauthError(w, http.StatusBadRequest, "invalid_client_metadata", "apps are public clients: token_endpoint_auth_method must be none")
		return
	}
	for _, g := range md.GrantTypes {
		if g != "authorization_code" && g != "refresh_token" {
			oauthError(w, http.StatusBadRequest, "invalid_client_metadata", "grant_types may be authorization_code and refresh_token only")
			return
		}
	}
	for _, rt := range md.ResponseTypes {
		if rt != "code" {
			oauthError(w, http.StatusBadRequest, "invalid_client_metadata", "response_types may be code only")
			return
		}
	}
	now := s.cfg.Now().UTC()
	c := Client{ID: clientIDPrefix + randomString(12), Name: cleanName(md.ClientName, ""), RedirectURIs: md.RedirectURIs, CreatedAt: now}
	if s.cfg.ProgramOf != nil {
		c.Program = cleanName(s.cfg.ProgramOf(r), "")
		if c.Program == defaultClientName {
			c.Program = ""
		}
	}
	s.mu.Lock()
	registered := 0
	for _, x := range s.st.Clients {
		if !x.Document {
			registered++
		}
	}
	if registered >= s.cfg.MaxClients {
		s.mu.Unlock()
		oauthError(w, http.StatusBadRequest, "invalid_client_metadata", "too many apps are registered")
		return
	}
	s.st.Clients[c.ID] = &c
	err := s.save(r.Context())
	s.mu.Unlock()
	if err != nil {
		s.log.Error("save a registered app", "err", err.Error())
		oauthError(w, http.StatusInternalServerError, "server_error", "the app could not be saved")
		return
	}
	s.log.Info("app registered", "client_id", c.ID, "app", c.Name)
	writeJSON(w, http.StatusCreated, map[string]any{
		"client_id":                  c.ID,
		"client_id_issued_at":        now.Unix(),
		"client_name":                c.Name,
		"redirect_uris":              c.RedirectURIs,
		"grant_types":                []string{"authorization_code", "refresh_token"},
		"response_types":             []string{"code"},
		"token_endpoint_auth_method": "none",
	})
}

// handleToken serves the authorization_code and refresh_token grants of
// public clients (client_id in the body, no secret). client_credentials
// is the injector's.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
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
	f := r.PostForm
	if f.Get("client_id") == "" {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "client_id is required")
		return
	}
	switch f.Get("grant_type") {
	case "authorization_code":
		s.exchangeCode(w, r, f)
	case "refresh_token":
		s.refresh(w, r, f)
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type must be authorization_code, refresh_token or client_credentials")
	}
}

// pkceOK checks an RFC 7636 S256 verifier against its challenge.
func pkceOK(verifier, challenge string) bool {
	if len(verifier) < 43 || len(verifier) > 128 {
		return false
	}
	for _, c := range verifier {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	sum := sha256.Sum256([]byte(verifier))
	got := base64.RawURLEncoding.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(got), []byte(challenge)) == 1
}

func (s *Server) exchangeCode(w http.ResponseWriter, r *http.Request, f url.Values) {
	key := sha256.Sum256([]byte(f.Get("code")))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked()
	c, ok := s.codes[key]
	if !ok {
		if gid, used := s.usedCode[key]; used {
			// A code used twice was stolen or replayed: what it made stops.
			delete(s.usedCode, key)
			if g, ok := s.st.Grants[gid]; ok {
				if err := s.revokeLocked(r.Context(), g, "authorization code reused"); err != nil {
					s.log.Error("save a revoked grant", "err", err.Error())
				}
			}
			s.log.Warn("an authorization code was used twice; its grant is revoked", "client_id", f.Get("client_id"))
		}
		oauthError(w, http.StatusBadRequest, "invalid_grant", "the code is unknown, expired or already used")
		return
	}
	delete(s.codes, key) // single use, even when what follows fails
	if c.clientID != f.Get("client_id") {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "the code was issued to another client")
		return
	}
	if f.Get("redirect_uri") != c.redirectURI {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "redirect_uri differs from the authorization request's")
		return
	}
	if !pkceOK(f.Get("code_verifier"), c.challenge) {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "the PKCE code_verifier does not match the code_challenge")
		return
	}
	if res, err := normalizeResource(f.Get("resource"), r.Host); err != nil || (f.Get("resource") != "" && res != c.resource) {
		oauthError(w, http.StatusBadRequest, "invalid_target", "the resource differs from the authorization request's")
		return
	}
	now := s.cfg.Now().UTC()
	g := &Grant{
		ID: grantIDPrefix + randomString(12), ClientID: c.clientID, AppName: c.appName,
		Integrations: c.scope, Resource: c.resource, CreatedAt: now, LastUsedAt: now,
	}
	s.st.Grants[g.ID] = g
	s.usedCode[key] = g.ID
	resp, err := s.issueLocked(r.Context(), g)
	if err != nil {
		delete(s.st.Grants, g.ID)
		s.log.Error("issue an app's tokens", "err", err.Error())
		oauthError(w, http.StatusInternalServerError, "server_error", "the grant could not be saved")
		return
	}
	s.log.Info("app granted", "client_id", g.ClientID, "app", g.AppName, "grant", g.ID)
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) refresh(w http.ResponseWriter, r *http.Request, f url.Values) {
	rt := f.Get("refresh_token")
	h := hashHex(rt)
	s.mu.Lock()
	defer s.mu.Unlock()
	gid, ok := s.byHash[h]
	g := s.st.Grants[gid]
	if !ok || g == nil || !strings.HasPrefix(rt, refreshTokenPrefixUsed) {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "the refresh token is unknown")
		return
	}
	if g.ClientID != f.Get("client_id") {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "the refresh token was issued to another client")
		return
	}
	if subtle.ConstantTimeCompare([]byte(h), []byte(g.RefreshHash)) != 1 {
		// A rotated-out refresh token came back: two parties hold the
		// grant, so nobody keeps it.
		if err := s.revokeLocked(r.Context(), g, "refresh token reused"); err != nil {
			s.log.Error("save a revoked grant", "err", err.Error())
		}
		s.log.Warn("a used refresh token came back; the grant is revoked", "client_id", g.ClientID, "grant", g.ID)
		oauthError(w, http.StatusBadRequest, "invalid_grant", "the refresh token was already used; the grant is revoked")
		return
	}
	if !g.Live(s.cfg.Now(), s.cfg.RefreshTTL) {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "the grant was revoked or has expired")
		return
	}
	if res, err := normalizeResource(f.Get("resource"), r.Host); err != nil || (f.Get("resource") != "" && res != g.Resource) {
		oauthError(w, http.StatusBadRequest, "invalid_target", "the grant is for another resource")
		return
	}
	if sc := strings.Fields(f.Get("scope")); len(sc) > 0 {
		for _, n := range sc {
			if !slices.Contains(g.Integrations, n) {
				oauthError(w, http.StatusBadRequest, "invalid_scope", "the grant does not include "+quote(n))
				return
			}
		}
	}
	resp, err := s.issueLocked(r.Context(), g)
	if err != nil {
		s.log.Error("refresh an app's tokens", "err", err.Error())
		oauthError(w, http.StatusInternalServerError, "server_error", "the grant could not be saved")
		return
	}
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, resp)
}
