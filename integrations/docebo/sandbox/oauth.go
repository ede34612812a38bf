package sandbox

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/latchkey/latchkey/internal/loopback"
)

const (
	grantAuthCode = "authorization_code"
	grantPassword = "password"
	grantClient   = "client_credentials"
	grantRefresh  = "refresh_token"
	grantJWT      = "urn:ietf:params:oauth:grant-type:jwt-bearer"
)

type authCode struct {
	clientID    string
	redirectURI string
	user        *User
	challenge   string
	method      string
	expires     time.Time
	used        bool
	family      string // tokens issued from it, revoked on replay
}

type consent struct {
	clientID, redirectURI, state, challenge, method string
	expires                                         time.Time
}

type accessToken struct {
	user    *User // nil for client_credentials
	expires time.Time
	family  string
	grant   string
}

type refreshToken struct {
	user    *User
	expires time.Time
	family  string
	used    bool // rotated away
}

// newToken is 40 lower-case hex characters, the shape of Docebo's tokens.
func newToken() string {
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b)
}

// oauthError is an RFC 6749 error answer. The exact texts Docebo uses are
// unconfirmed (docs/docebo.md); the shape is bshaffer's.
func oauthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

// ---- authorize ----

func (s *Server) validRedirect(raw string) bool {
	s.mu.Lock()
	uris := s.o.RedirectURIs
	s.mu.Unlock()
	if len(uris) > 0 {
		for _, u := range uris {
			if u == raw {
				return true
			}
		}
		return false
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.Fragment != "" || u.User != nil {
		return false
	}
	return loopback.IsHost(u.Hostname())
}

func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	clientID, redirectURI, state := q.Get("client_id"), q.Get("redirect_uri"), q.Get("state")
	if clientID != s.ClientID() {
		page(w, http.StatusBadRequest, "Unknown application", "No OAuth2 app with this client ID is configured on this platform.", "")
		return
	}
	if redirectURI == "" || !s.validRedirect(redirectURI) {
		page(w, http.StatusBadRequest, "Invalid redirect URI", "The redirect URI does not match the one registered for this app.", "")
		return
	}
	if rt := q.Get("response_type"); rt != "code" {
		redirectWith(w, r, redirectURI, url.Values{"error": {"unsupported_response_type"}, "state": {state}})
		return
	}
	if sc := q.Get("scope"); sc != "" && !containsWord(sc, "api") {
		redirectWith(w, r, redirectURI, url.Values{"error": {"invalid_scope"}, "error_description": {"the only scope is api"}, "state": {state}})
		return
	}
	method := q.Get("code_challenge_method")
	challenge := q.Get("code_challenge")
	if challenge != "" && method == "" {
		method = "plain"
	}
	if challenge != "" && method != "S256" && method != "plain" {
		redirectWith(w, r, redirectURI, url.Values{"error": {"invalid_request"}, "error_description": {"unsupported code_challenge_method"}, "state": {state}})
		return
	}
	s.mu.Lock()
	auto := s.o.AutoApprove
	seed := s.st.users[strings.ToLower(s.o.SeedUser)]
	s.mu.Unlock()
	if auto {
		if seed == nil {
			page(w, http.StatusInternalServerError, "No user", "The sandbox has no user to sign in as.", "")
			return
		}
		code := s.issueCode(clientID, redirectURI, seed, challenge, method)
		redirectWith(w, r, redirectURI, url.Values{"code": {code}, "state": {state}})
		return
	}
	id := newToken()
	s.mu.Lock()
	s.st.consents[id] = &consent{clientID: clientID, redirectURI: redirectURI, state: state,
		challenge: challenge, method: method, expires: s.now().Add(10 * time.Minute)}
	users := append([]User(nil), s.o.Users...)
	seedName := s.o.SeedUser
	s.mu.Unlock()
	securityHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = consentTmpl.Execute(w, map[string]any{
		"Client":  clientID,
		"Consent": id,
		"Users":   users,
		"Seed":    seedName,
	})
}

var consentTmpl = template.Must(template.New("consent").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Authorize {{.Client}} — Docebo sandbox</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}
button{font-size:1rem;padding:.5rem 1.25rem;margin-right:.5rem}</style></head>
<body>
<h1>Authorize application</h1>
<p>The application <strong id="client">{{.Client}}</strong> asks to access the Docebo API (scope <code>api</code>) on your behalf.</p>
<form method="post" action="/oauth2/authorize">
<input type="hidden" name="consent" value="{{.Consent}}">
<p><label>Signed in as
<select name="user" id="user">{{range .Users}}<option value="{{.Username}}"{{if eq .Username $.Seed}} selected{{end}}>{{.FirstName}} {{.LastName}} ({{.Username}})</option>{{end}}</select>
</label></p>
<p><button type="submit" name="decision" value="approve" id="approve">Approve</button>
<button type="submit" name="decision" value="deny" id="deny">Deny</button></p>
</form>
</body></html>`))

func (s *Server) consentDecision(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		page(w, http.StatusBadRequest, "Bad request", "The form could not be read.", "")
		return
	}
	s.mu.Lock()
	c := s.st.consents[r.PostForm.Get("consent")]
	delete(s.st.consents, r.PostForm.Get("consent"))
	var user *User
	if c != nil {
		user = s.st.users[strings.ToLower(r.PostForm.Get("user"))]
	}
	expired := c != nil && s.now().After(c.expires)
	s.mu.Unlock()
	if c == nil || expired {
		page(w, http.StatusBadRequest, "Request expired", "This authorization request was already answered or has expired. Start again from the application.", "")
		return
	}
	if r.PostForm.Get("decision") != "approve" {
		redirectWith(w, r, c.redirectURI, url.Values{"error": {"access_denied"}, "error_description": {"The user denied access"}, "state": {c.state}})
		return
	}
	if user == nil {
		page(w, http.StatusBadRequest, "Unknown user", "Pick a user of this platform.", "")
		return
	}
	code := s.issueCode(c.clientID, c.redirectURI, user, c.challenge, c.method)
	redirectWith(w, r, c.redirectURI, url.Values{"code": {code}, "state": {c.state}})
}

func (s *Server) issueCode(clientID, redirectURI string, u *User, challenge, method string) string {
	code := newToken()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.codes[code] = &authCode{clientID: clientID, redirectURI: redirectURI, user: u,
		challenge: challenge, method: method, expires: s.now().Add(s.o.CodeTTL), family: newToken()}
	return code
}

func redirectWith(w http.ResponseWriter, r *http.Request, target string, v url.Values) {
	u, err := url.Parse(target)
	if err != nil {
		page(w, http.StatusBadRequest, "Invalid redirect URI", "", "")
		return
	}
	q := u.Query()
	for k, vs := range v {
		if len(vs) == 1 && vs[0] == "" {
			continue // no empty state=
		}
		q[k] = vs
	}
	u.RawQuery = q.Encode()
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u.String(), http.StatusFound)
}

func containsWord(list, w string) bool {
	for _, f := range strings.Fields(strings.ReplaceAll(list, ",", " ")) {
		if f == w {
			return true
		}
	}
	return false
}

// ---- token ----

// readParams reads the token request body: form-urlencoded, multipart (the
// vendor's curl -F sample) or JSON (some clients post the jwt-bearer grant
// as JSON; likely).
func readParams(r *http.Request) (url.Values, error) {
	r.Body = http.MaxBytesReader(nil, r.Body, 1<<20)
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "multipart/form-data":
		if err := r.ParseMultipartForm(1 << 20); err != nil {
			return nil, err
		}
		return r.PostForm, nil
	case "application/json":
		var m map[string]any
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			return nil, err
		}
		v := url.Values{}
		for k, x := range m {
			switch t := x.(type) {
			case string:
				v.Set(k, t)
			case float64:
				v.Set(k, strconv.FormatFloat(t, 'f', -1, 64))
			case bool:
				v.Set(k, strconv.FormatBool(t))
			}
		}
		return v, nil
	default:
		if err := r.ParseForm(); err != nil {
			return nil, err
		}
		return r.PostForm, nil
	}
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	p, err := readParams(r)
	if err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "The request body could not be read")
		return
	}
	grant := p.Get("grant_type")
	s.mu.Lock()
	s.st.tokenCalls++
	if grant != "" {
		s.st.grants[grant]++
	}
	s.mu.Unlock()

	// Client authentication: in the body (every Docebo sample) or HTTP Basic.
	id, secret, basic := r.BasicAuth()
	if !basic {
		id, secret = p.Get("client_id"), p.Get("client_secret")
	}
	clientOK := s.checkClient(id, secret)
	if grant == grantJWT {
		// Unconfirmed whether Docebo needs client credentials with an assertion:
		// the working clients send none; when some are sent they must be right.
		if (id != "" || secret != "") && !clientOK {
			oauthError(w, http.StatusUnauthorized, "invalid_client", "The client credentials are invalid")
			return
		}
	} else if !clientOK {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "The client credentials are invalid")
		return
	}
	if sc := p.Get("scope"); sc != "" && !containsWord(sc, "api") {
		oauthError(w, http.StatusBadRequest, "invalid_scope", "An unsupported scope was requested")
		return
	}
	switch grant {
	case grantAuthCode:
		s.grantAuthCode(w, p)
	case grantPassword:
		s.grantPassword(w, p)
	case grantClient:
		s.writeToken(w, nil, grantClient, false, "")
	case grantRefresh:
		s.grantRefresh(w, p)
	case grantJWT:
		s.grantJWT(w, r, p)
	case "":
		oauthError(w, http.StatusBadRequest, "invalid_request", "The grant type was not specified in the request")
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", fmt.Sprintf("Grant type %q not supported", grant))
	}
}

func (s *Server) checkClient(id, secret string) bool {
	s.mu.Lock()
	wantID, wantSecret := s.o.ClientID, s.o.ClientSecret
	s.mu.Unlock()
	a := subtle.ConstantTimeCompare([]byte(id), []byte(wantID))
	b := subtle.ConstantTimeCompare([]byte(secret), []byte(wantSecret))
	return a&b == 1
}

func (s *Server) grantAuthCode(w http.ResponseWriter, p url.Values) {
	code := p.Get("code")
	if code == "" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "Missing parameter: \"code\" is required")
		return
	}
	s.mu.Lock()
	c := s.st.codes[code]
	now := s.now()
	switch {
	case c == nil:
		s.mu.Unlock()
		oauthError(w, http.StatusBadRequest, "invalid_grant", "Authorization code doesn't exist or is invalid for the client")
		return
	case c.used:
		// Replay: refuse and revoke what the first use issued (RFC 6749 §4.1.2).
		s.revokeFamilyLocked(c.family)
		s.mu.Unlock()
		oauthError(w, http.StatusBadRequest, "invalid_grant", "Authorization code has already been used")
		return
	case now.After(c.expires):
		s.mu.Unlock()
		oauthError(w, http.StatusBadRequest, "invalid_grant", "The authorization code has expired")
		return
	}
	c.used = true
	s.mu.Unlock()
	if ru := p.Get("redirect_uri"); ru != c.redirectURI {
		oauthError(w, http.StatusBadRequest, "redirect_uri_mismatch", "The redirect URI is missing or do not match")
		return
	}
	if v := p.Get("code_verifier"); v != "" || (s.requirePKCE() && c.challenge != "") {
		if c.challenge != "" && !pkceOK(c.challenge, c.method, v) {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "The PKCE code verifier does not match the code challenge")
			return
		}
	}
	s.writeToken(w, c.user, grantAuthCode, true, c.family)
}

func (s *Server) requirePKCE() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.o.RequirePKCE }

func pkceOK(challenge, method, verifier string) bool {
	if verifier == "" {
		return false
	}
	var got string
	if method == "S256" {
		sum := sha256.Sum256([]byte(verifier))
		got = base64.RawURLEncoding.EncodeToString(sum[:])
	} else {
		got = verifier
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(challenge)) == 1
}

func (s *Server) grantPassword(w http.ResponseWriter, p url.Values) {
	user, pass := p.Get("username"), p.Get("password")
	s.mu.Lock()
	u := s.st.users[strings.ToLower(user)]
	s.mu.Unlock()
	if u == nil || pass == "" || subtle.ConstantTimeCompare([]byte(pass), []byte(u.Password)) != 1 {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "Invalid username and password combination")
		return
	}
	s.writeToken(w, u, grantPassword, true, "")
}

func (s *Server) grantRefresh(w http.ResponseWriter, p url.Values) {
	rt := p.Get("refresh_token")
	s.mu.Lock()
	t := s.st.refresh[rt]
	now := s.now()
	switch {
	case rt == "" || t == nil:
		s.mu.Unlock()
		oauthError(w, http.StatusBadRequest, "invalid_grant", "Invalid refresh token")
		return
	case t.used:
		// A rotated refresh token came back: someone holds a stale copy.
		s.st.reuses++
		s.revokeFamilyLocked(t.family)
		s.mu.Unlock()
		oauthError(w, http.StatusBadRequest, "invalid_grant", "Refresh token has been revoked")
		return
	case now.After(t.expires):
		s.mu.Unlock()
		oauthError(w, http.StatusBadRequest, "invalid_grant", "Refresh token has expired")
		return
	}
	rotate := s.o.RotateRefresh
	if rotate {
		t.used = true
	}
	s.mu.Unlock()
	s.writeToken(w, t.user, grantRefresh, rotate, t.family)
}

func (s *Server) grantJWT(w http.ResponseWriter, r *http.Request, p url.Values) {
	assertion := p.Get("assertion")
	if assertion == "" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "Missing parameter: \"assertion\" is required")
		return
	}
	u, err := s.verifyAssertion(r, assertion)
	if err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_grant", err.Error())
		return
	}
	// Unconfirmed whether Docebo issues a refresh token here; this does not.
	s.writeToken(w, u, grantJWT, false, "")
}

// verifyAssertion checks an RS256 JWT-bearer assertion: signature against a
// configured key, iss = client id, sub = a user's username, aud = this
// platform's host (with or without port), exp in the future, iat not in the
// future. Numeric claims may be numbers or numeric strings (Docebo's own
// sample writes them as strings).
func (s *Server) verifyAssertion(r *http.Request, assertion string) (*User, error) {
	s.mu.Lock()
	keys := append([]*rsa.PublicKey(nil), s.st.jwtKeys...)
	clientID := s.o.ClientID
	aud := s.o.Audience
	s.mu.Unlock()
	if len(keys) == 0 {
		//lint:ignore ST1005 the exact error_description texts of bshaffer's oauth2-server-php, which Docebo runs
		return nil, errors.New("No public key is configured for the JWT bearer grant")
	}
	var claims jwt.MapClaims
	var verr error
	ok := false
	for _, k := range keys {
		claims = jwt.MapClaims{}
		_, verr = jwt.ParseWithClaims(assertion, claims, func(*jwt.Token) (any, error) { return k, nil },
			jwt.WithValidMethods([]string{"RS256"}), jwt.WithoutClaimsValidation())
		if verr == nil {
			ok = true
			break
		}
	}
	if !ok {
		if errors.Is(verr, jwt.ErrTokenSignatureInvalid) {
			return nil, errors.New("JWT signature verification failed")
		}
		return nil, errors.New("JWT is malformed or not signed with RS256")
	}
	now := s.now()
	if iss, _ := claims["iss"].(string); iss != clientID {
		//lint:ignore ST1005 the exact error_description texts of bshaffer's oauth2-server-php, which Docebo runs
		return nil, errors.New("Invalid issuer (iss) provided")
	}
	audOK := false
	for _, a := range audiences(claims["aud"]) {
		if aud != "" {
			audOK = audOK || a == aud
			continue
		}
		host := r.Host
		hostname, _, err := net.SplitHostPort(host)
		if err != nil {
			hostname = host
		}
		audOK = audOK || strings.EqualFold(a, host) || strings.EqualFold(a, hostname)
	}
	if !audOK {
		//lint:ignore ST1005 the exact error_description texts of bshaffer's oauth2-server-php, which Docebo runs
		return nil, errors.New("Invalid audience (aud)")
	}
	exp, ok := numericClaim(claims["exp"])
	if !ok {
		//lint:ignore ST1005 the exact error_description texts of bshaffer's oauth2-server-php, which Docebo runs
		return nil, errors.New("Expiration (exp) time must be present")
	}
	if !now.Before(time.Unix(exp, 0)) {
		return nil, errors.New("JWT has expired")
	}
	if iat, ok := numericClaim(claims["iat"]); ok && time.Unix(iat, 0).After(now.Add(time.Minute)) {
		return nil, errors.New("JWT is not valid yet (iat in the future)")
	}
	sub, _ := claims["sub"].(string)
	s.mu.Lock()
	u := s.st.users[strings.ToLower(sub)]
	s.mu.Unlock()
	if u == nil {
		//lint:ignore ST1005 the exact error_description texts of bshaffer's oauth2-server-php, which Docebo runs
		return nil, errors.New("Invalid subject (sub) provided")
	}
	return u, nil
}

func audiences(v any) []string {
	switch a := v.(type) {
	case string:
		return []string{a}
	case []any:
		var out []string
		for _, x := range a {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func numericClaim(v any) (int64, bool) {
	switch x := v.(type) {
	case float64:
		return int64(x), true
	case json.Number:
		n, err := x.Int64()
		return n, err == nil
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		return n, err == nil
	}
	return 0, false
}

// writeToken issues an access token (and a refresh token when withRefresh)
// for u in family (a new family when empty) and writes the token answer.
func (s *Server) writeToken(w http.ResponseWriter, u *User, grant string, withRefresh bool, family string) {
	s.mu.Lock()
	now := s.now()
	if family == "" {
		family = newToken()
	}
	at := newToken()
	s.st.access[at] = &accessToken{user: u, expires: now.Add(s.o.AccessTokenTTL), family: family, grant: grant}
	resp := map[string]any{
		"access_token": at,
		"expires_in":   int(s.o.AccessTokenTTL / time.Second),
		"token_type":   "Bearer",
		"scope":        "api",
	}
	if withRefresh {
		rt := newToken()
		s.st.refresh[rt] = &refreshToken{user: u, expires: now.Add(s.o.RefreshTokenTTL), family: family}
		resp["refresh_token"] = rt
	}
	s.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, resp)
}

// revokeFamilyLocked revokes every access and refresh token of family.
func (s *Server) revokeFamilyLocked(family string) {
	for k, t := range s.st.access {
		if t.family == family {
			delete(s.st.access, k)
		}
	}
	for k, t := range s.st.refresh {
		if t.family == family {
			delete(s.st.refresh, k)
		}
	}
}
