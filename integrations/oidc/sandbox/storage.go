package sandbox

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// authRequestTTL bounds how long a login page and its code stay usable.
const authRequestTTL = 10 * time.Minute

// storage is the provider's op.Storage: everything in memory, one lock.
type storage struct {
	o   Options
	now func() time.Time

	mu       sync.Mutex
	users    map[string]*User   // by ID
	clients  map[string]*Client // by client id
	authReqs map[string]*authRequest
	codes    map[string]string // code → auth request id
	access   map[string]*accessToken
	refresh  map[string]*refreshToken // by token value
	sessions map[string]*browserSession
	keys     []*signingKey // keys[0] signs; the others are only published
	stats    Stats
	last     AuthRecord
}

var (
	_ op.Storage                   = (*storage)(nil)
	_ op.CanSetUserinfoFromRequest = (*storage)(nil)
)

type browserSession struct {
	userID  string
	expires time.Time
}

type accessToken struct {
	id, clientID, subject, refreshID string
	audience, scopes                 []string
	expires                          time.Time
}

type refreshToken struct {
	token, clientID, userID, accessID string
	audience, scopes, amr             []string
	authTime, expires                 time.Time
}

// refreshRequest is a refresh token as op.RefreshTokenRequest.
type refreshRequest struct{ *refreshToken }

func (r refreshRequest) GetAMR() []string                 { return r.amr }
func (r refreshRequest) GetAudience() []string            { return r.audience }
func (r refreshRequest) GetAuthTime() time.Time           { return r.authTime }
func (r refreshRequest) GetClientID() string              { return r.clientID }
func (r refreshRequest) GetScopes() []string              { return r.scopes }
func (r refreshRequest) GetSubject() string               { return r.userID }
func (r refreshRequest) SetCurrentScopes(scopes []string) { r.scopes = scopes }

// authRequest is one authorization request (op.AuthRequest).
type authRequest struct {
	id, clientID, redirectURI, state, nonce string
	scopes                                  []string
	responseType                            oidc.ResponseType
	responseMode                            oidc.ResponseMode
	challenge                               *oidc.CodeChallenge
	created                                 time.Time

	userID   string
	done     bool
	authTime time.Time
}

func (a *authRequest) GetID() string                         { return a.id }
func (a *authRequest) GetACR() string                        { return "" }
func (a *authRequest) GetAMR() []string                      { return amrOf(a.done) }
func (a *authRequest) GetAudience() []string                 { return []string{a.clientID} }
func (a *authRequest) GetAuthTime() time.Time                { return a.authTime }
func (a *authRequest) GetClientID() string                   { return a.clientID }
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge { return a.challenge }
func (a *authRequest) GetNonce() string                      { return a.nonce }
func (a *authRequest) GetRedirectURI() string                { return a.redirectURI }
func (a *authRequest) GetResponseType() oidc.ResponseType    { return a.responseType }
func (a *authRequest) GetResponseMode() oidc.ResponseMode    { return a.responseMode }
func (a *authRequest) GetScopes() []string                   { return a.scopes }
func (a *authRequest) GetState() string                      { return a.state }
func (a *authRequest) GetSubject() string                    { return a.userID }
func (a *authRequest) Done() bool                            { return a.done }

func amrOf(done bool) []string {
	if done {
		return []string{"pwd"}
	}
	return nil
}

// signingKey is an RSA key as op.SigningKey and op.Key.
type signingKey struct {
	id  string
	key *rsa.PrivateKey
}

func (k *signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k *signingKey) Key() any                                    { return k.key }
func (k *signingKey) ID() string                                  { return k.id }

type publicKey struct{ *signingKey }

func (k publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k publicKey) Use() string                        { return "sig" }
func (k publicKey) Key() any                           { return &k.key.PublicKey }

func newSigningKey() (*signingKey, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	return &signingKey{id: randomID(8), key: k}, nil
}

func randomID(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand: " + err.Error())
	}
	return hex.EncodeToString(b)
}

// ---- clients ----

// clientView is a Client as op.Client.
type clientView struct {
	c     Client
	idTTL time.Duration
}

func (c clientView) GetID() string                    { return c.c.ID }
func (c clientView) RedirectURIs() []string           { return c.c.RedirectURIs }
func (c clientView) PostLogoutRedirectURIs() []string { return c.c.PostLogoutRedirectURIs }
func (c clientView) ApplicationType() op.ApplicationType {
	return op.ApplicationTypeWeb // confidential: http redirects must match exactly
}
func (c clientView) AuthMethod() oidc.AuthMethod {
	if c.c.AuthMethod == string(oidc.AuthMethodPost) {
		return oidc.AuthMethodPost
	}
	return oidc.AuthMethodBasic
}
func (c clientView) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c clientView) GrantTypes() []oidc.GrantType {
	return []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken}
}
func (c clientView) LoginURL(id string) string { return "/login?authRequestID=" + url.QueryEscape(id) }
func (c clientView) AccessTokenType() op.AccessTokenType {
	if c.c.JWTAccessTokens {
		return op.AccessTokenTypeJWT
	}
	return op.AccessTokenTypeBearer
}
func (c clientView) IDTokenLifetime() time.Duration { return c.idTTL }
func (c clientView) DevMode() bool                  { return false }
func (c clientView) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c clientView) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c clientView) IsScopeAllowed(scope string) bool { return scope == ScopeGroups }

// IDTokenUserinfoClaimsAssertion puts the profile, email and groups claims
// in the ID token even though an access token is issued too (the relying
// party provisions the user from the ID token).
func (c clientView) IDTokenUserinfoClaimsAssertion() bool { return true }
func (c clientView) ClockSkew() time.Duration             { return 0 }

func (s *storage) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[id]
	if !ok {
		return nil, fmt.Errorf("unknown client %q", id)
	}
	return clientView{c: *c, idTTL: s.o.IDTokenTTL}, nil
}

func (s *storage) AuthorizeClientIDSecret(_ context.Context, id, secret string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[id]
	if !ok || subtle.ConstantTimeCompare([]byte(c.Secret), []byte(secret)) != 1 {
		return errors.New("invalid client id or secret")
	}
	return nil
}

// ---- authorization requests ----

func (s *storage) CreateAuthRequest(_ context.Context, req *oidc.AuthRequest, userID string) (op.AuthRequest, error) {
	if len(req.Prompt) == 1 && req.Prompt[0] == oidc.PromptNone {
		return nil, oidc.ErrLoginRequired()
	}
	// PKCE with S256 is required of every client, and a nonce of every
	// OpenID request: the provider refuses what a careless relying party
	// leaves out.
	if req.CodeChallenge == "" || req.CodeChallengeMethod != oidc.CodeChallengeMethodS256 {
		s.count(func(st *Stats) { st.Refused++ })
		return nil, oidc.ErrInvalidRequest().WithDescription("PKCE with code_challenge_method=S256 is required")
	}
	if slices.Contains(req.Scopes, oidc.ScopeOpenID) && req.Nonce == "" {
		s.count(func(st *Stats) { st.Refused++ })
		return nil, oidc.ErrInvalidRequest().WithDescription("a nonce is required")
	}
	a := &authRequest{
		id: randomID(16), clientID: req.ClientID, redirectURI: req.RedirectURI, state: req.State,
		nonce: req.Nonce, scopes: req.Scopes, responseType: req.ResponseType, responseMode: req.ResponseMode,
		challenge: &oidc.CodeChallenge{Challenge: req.CodeChallenge, Method: req.CodeChallengeMethod},
		created:   s.now(), userID: userID,
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, old := range s.authReqs { // drop abandoned requests
		if s.now().Sub(old.created) > authRequestTTL {
			s.deleteAuthRequestLocked(id)
		}
	}
	s.authReqs[a.id] = a
	s.stats.Authorize++
	s.last = AuthRecord{ClientID: a.clientID, RedirectURI: a.redirectURI, State: a.state, Nonce: a.nonce,
		CodeChallengeMethod: string(req.CodeChallengeMethod), Scopes: slices.Clone(a.scopes)}
	return a, nil
}

func (s *storage) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.authReqs[id]
	if !ok || s.now().Sub(a.created) > authRequestTTL {
		return nil, errors.New("unknown or expired authorization request")
	}
	return a, nil
}

func (s *storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	s.mu.Lock()
	id, ok := s.codes[code]
	s.mu.Unlock()
	if !ok {
		return nil, errors.New("unknown, used or expired code")
	}
	return s.AuthRequestByID(ctx, id)
}

func (s *storage) SaveAuthCode(_ context.Context, id, code string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.codes[code] = id
	return nil
}

// DeleteAuthRequest runs once the code was exchanged: the code is single use.
func (s *storage) DeleteAuthRequest(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deleteAuthRequestLocked(id)
	return nil
}

func (s *storage) deleteAuthRequestLocked(id string) {
	delete(s.authReqs, id)
	for code, rid := range s.codes {
		if rid == id {
			delete(s.codes, code)
		}
	}
}

// completeAuth marks an authorization request signed in by userID.
func (s *storage) completeAuth(id, userID string, sso bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.authReqs[id]
	if !ok || s.now().Sub(a.created) > authRequestTTL {
		return errors.New("this sign-in request is unknown or expired: start again from the application")
	}
	a.userID, a.done, a.authTime = userID, true, s.now()
	if sso {
		s.stats.SSOLogins++
	} else {
		s.stats.Logins++
	}
	return nil
}

// ---- users and browser sessions ----

func (s *storage) checkPassword(username, password string) (*User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range s.users {
		if u.Username == username {
			if subtle.ConstantTimeCompare([]byte(u.Password), []byte(password)) == 1 {
				return u, true
			}
			break
		}
	}
	s.stats.FailedLogins++
	return nil, false
}

func (s *storage) newSession(userID string) string {
	id := randomID(24)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions[id] = &browserSession{userID: userID, expires: s.now().Add(8 * time.Hour)}
	return id
}

func (s *storage) sessionUser(id string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	bs, ok := s.sessions[id]
	if !ok || !s.now().Before(bs.expires) {
		return "", false
	}
	return bs.userID, true
}

// TerminateSession ends userID's session: its browser sessions (the next
// authorization needs the password again) and the access and refresh
// tokens issued to clientID.
func (s *storage) TerminateSession(_ context.Context, userID, clientID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.EndSessions++
	if userID == "" {
		return nil
	}
	for id, bs := range s.sessions {
		if bs.userID == userID {
			delete(s.sessions, id)
		}
	}
	for id, t := range s.access {
		if t.subject == userID && (clientID == "" || t.clientID == clientID) {
			delete(s.access, id)
		}
	}
	for tok, rt := range s.refresh {
		if rt.userID == userID && (clientID == "" || rt.clientID == clientID) {
			delete(s.refresh, tok)
		}
	}
	return nil
}

// sessionActive reports whether userID still has a browser session or a
// live refresh token at the provider.
func (s *storage) sessionActive(userID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for _, bs := range s.sessions {
		if bs.userID == userID && now.Before(bs.expires) {
			return true
		}
	}
	for _, rt := range s.refresh {
		if rt.userID == userID && now.Before(rt.expires) {
			return true
		}
	}
	return false
}

// ---- tokens ----

func (s *storage) CreateAccessToken(_ context.Context, req op.TokenRequest) (string, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.newAccessLocked(clientOf(req), "", req.GetSubject(), req.GetAudience(), req.GetScopes())
	return t.id, t.expires, nil
}

func (s *storage) CreateAccessAndRefreshTokens(_ context.Context, req op.TokenRequest, current string) (string, string, time.Time, error) {
	clientID := clientOf(req)
	var authTime time.Time
	var amr []string
	switch r := req.(type) {
	case *authRequest:
		authTime, amr = r.authTime, r.GetAMR()
	case refreshRequest:
		authTime, amr = r.authTime, r.amr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if current != "" {
		old, ok := s.refresh[current]
		if !ok || !s.now().Before(old.expires) {
			return "", "", time.Time{}, oidc.ErrInvalidGrant().WithDescription("the refresh token is unknown, used or expired")
		}
		// Rotation: the presented refresh token is spent.
		delete(s.refresh, current)
		delete(s.access, old.accessID)
		s.stats.Refreshes++
	}
	rt := &refreshToken{token: randomID(32), clientID: clientID, userID: req.GetSubject(),
		audience: req.GetAudience(), scopes: req.GetScopes(), amr: amr, authTime: authTime,
		expires: s.now().Add(s.o.RefreshTokenTTL)}
	at := s.newAccessLocked(clientID, rt.token, rt.userID, rt.audience, rt.scopes)
	rt.accessID = at.id
	s.refresh[rt.token] = rt
	return at.id, rt.token, at.expires, nil
}

func clientOf(req op.TokenRequest) string {
	if c, ok := req.(interface{ GetClientID() string }); ok {
		return c.GetClientID()
	}
	return ""
}

func (s *storage) newAccessLocked(clientID, refreshID, subject string, aud, scopes []string) *accessToken {
	t := &accessToken{id: randomID(16), clientID: clientID, subject: subject, refreshID: refreshID,
		audience: aud, scopes: scopes, expires: s.now().Add(s.o.AccessTokenTTL)}
	s.access[t.id] = t
	return t
}

func (s *storage) TokenRequestByRefreshToken(_ context.Context, token string) (op.RefreshTokenRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rt, ok := s.refresh[token]
	if !ok || !s.now().Before(rt.expires) {
		return nil, errors.New("unknown, used or expired refresh token")
	}
	cp := *rt
	cp.scopes = slices.Clone(rt.scopes)
	return refreshRequest{&cp}, nil
}

func (s *storage) GetRefreshTokenInfo(_ context.Context, _ string, token string) (string, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rt, ok := s.refresh[token]
	if !ok {
		return "", "", op.ErrInvalidRefreshToken
	}
	return rt.userID, rt.token, nil
}

func (s *storage) RevokeToken(_ context.Context, tokenOrID, _ string, clientID string) *oidc.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.access[tokenOrID]; ok {
		if t.clientID != clientID {
			return oidc.ErrInvalidClient().WithDescription("token was not issued to this client")
		}
		delete(s.access, tokenOrID)
		return nil
	}
	if rt, ok := s.refresh[tokenOrID]; ok {
		if rt.clientID != clientID {
			return oidc.ErrInvalidClient().WithDescription("token was not issued to this client")
		}
		delete(s.refresh, tokenOrID)
		delete(s.access, rt.accessID)
	}
	return nil
}

// ---- keys ----

func (s *storage) SigningKey(context.Context) (op.SigningKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys[0], nil
}

func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

func (s *storage) KeySet(context.Context) ([]op.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]op.Key, len(s.keys))
	for i, k := range s.keys {
		out[i] = publicKey{k}
	}
	return out, nil
}

// ---- claims ----

func (s *storage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil // deprecated in favour of SetUserinfoFromRequest
}

func (s *storage) SetUserinfoFromRequest(_ context.Context, ui *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	return s.setUserinfo(ui, req.GetSubject(), scopes)
}

func (s *storage) SetUserinfoFromToken(_ context.Context, ui *oidc.UserInfo, tokenID, _, _ string) error {
	s.mu.Lock()
	t, ok := s.access[tokenID]
	valid := ok && s.now().Before(t.expires)
	s.mu.Unlock()
	if !valid {
		return errors.New("the access token is unknown or expired")
	}
	return s.setUserinfo(ui, t.subject, t.scopes)
}

func (s *storage) SetIntrospectionFromToken(_ context.Context, ir *oidc.IntrospectionResponse, tokenID, subject, clientID string) error {
	s.mu.Lock()
	t, ok := s.access[tokenID]
	valid := ok && s.now().Before(t.expires) && slices.Contains(t.audience, clientID)
	s.mu.Unlock()
	if !valid {
		return errors.New("the token is not active for this client")
	}
	ui := new(oidc.UserInfo)
	if err := s.setUserinfo(ui, subject, t.scopes); err != nil {
		return err
	}
	ir.SetUserInfo(ui)
	ir.Scope, ir.ClientID, ir.Expiration = t.scopes, t.clientID, oidc.FromTime(t.expires)
	return nil
}

func (s *storage) setUserinfo(ui *oidc.UserInfo, userID string, scopes []string) error {
	s.mu.Lock()
	u, ok := s.users[userID]
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("unknown user %q", userID)
	}
	for _, sc := range scopes {
		switch sc {
		case oidc.ScopeOpenID:
			ui.Subject = u.ID
		case oidc.ScopeProfile:
			ui.Name, ui.GivenName, ui.FamilyName, ui.PreferredUsername = u.Name, u.GivenName, u.FamilyName, u.Username
		case oidc.ScopeEmail:
			ui.Email, ui.EmailVerified = u.Email, oidc.Bool(u.Email != "")
		}
	}
	if slices.Contains(scopes, oidc.ScopeProfile) || slices.Contains(scopes, ScopeGroups) {
		ui.AppendClaims("groups", slices.Clone(u.Groups))
	}
	return nil
}

func (s *storage) GetPrivateClaimsFromScopes(_ context.Context, userID, _ string, scopes []string) (map[string]any, error) {
	if !slices.Contains(scopes, ScopeGroups) {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, ok := s.users[userID]; ok {
		return map[string]any{"groups": slices.Clone(u.Groups)}, nil
	}
	return nil, nil
}

func (s *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errors.New("the JWT profile grant is not supported")
}

func (s *storage) ValidateJWTProfileScopes(_ context.Context, _ string, scopes []string) ([]string, error) {
	return nil, errors.New("the JWT profile grant is not supported")
}

func (s *storage) Health(context.Context) error { return nil }

func (s *storage) count(f func(*Stats)) {
	s.mu.Lock()
	f(&s.stats)
	s.mu.Unlock()
}
