package apitype

import (
	"time"

	"github.com/latchkey/latchkey/integrations"
)

// TokenRequest asks for a local client JWT (POST /control/token).
type TokenRequest struct {
	Integrations []string      `json:"integrations,omitempty"` // empty = every integration
	TTL          time.Duration `json:"ttl,omitempty"`
	Subject      string        `json:"subject,omitempty"`
}

// TokenResponse carries the local client JWT.
type TokenResponse struct {
	Token string `json:"token"`
}

// GrantRequest says how to connect an integration (POST
// /control/connect/{name}). An empty Grant, or the authorization code
// grant, starts a browser flow; the others need no browser. Password is
// used once and never stored.
type GrantRequest struct {
	Grant    integrations.Grant `json:"grant"`
	Username string             `json:"username,omitempty"`
	Password string             `json:"password,omitempty"`
	Token    string             `json:"token,omitempty"` // GrantAPIToken: the static API token to seal
}

// ConnectResponse answers a connect or a login: a consent URL and the flow
// to wait on, or the new state when the grant needed no browser.
type ConnectResponse struct {
	URL   string `json:"url,omitempty"`
	Flow  string `json:"flow,omitempty"`
	State string `json:"state,omitempty"`
}

// FlowResponse says whether a connect flow ended, and how (GET
// /control/flows/{id}).
type FlowResponse struct {
	Done  bool   `json:"done"`
	Error string `json:"error,omitempty"`
}

// OK is the answer of a route that has nothing else to say.
type OK struct {
	OK bool `json:"ok"`
}

// URLResponse carries one URL: a one-time menu link, a sign-in link.
type URLResponse struct {
	URL string `json:"url"`
}

// KeyIDResponse names the vault key after a rotation.
type KeyIDResponse struct {
	KeyID string `json:"key_id"`
}

// AuditEntry is one proxied request of the audit trail: who called, what,
// and how it went. Never a token, a query string or a body.
type AuditEntry struct {
	Time        time.Time     `json:"time"`
	Caller      string        `json:"caller"` // JWT sub, or "client:<id>" for a personal client
	Integration string        `json:"integration"`
	Method      string        `json:"method"`
	Path        string        `json:"path"` // without query
	Status      int           `json:"status"`
	Duration    time.Duration `json:"duration_ns"`
}

// AuditLog is the newest entries of the audit trail (GET /control/audit).
type AuditLog struct {
	Entries []AuditEntry `json:"entries"`
}

// ClientInfo describes a personal client (never its secret).
type ClientInfo struct {
	ID           string     `json:"id"`
	Name         string     `json:"name"`
	Integrations []string   `json:"integrations"`
	CreatedAt    time.Time  `json:"created_at"`
	ExpiresAt    *time.Time `json:"expires_at,omitempty"`
	RevokedAt    *time.Time `json:"revoked_at,omitempty"`
	State        string     `json:"state"` // active | expired | revoked
}

// CreatedClient is the answer to a create: the only time the secret is shown.
type CreatedClient struct {
	ClientInfo
	Secret string `json:"client_secret"`
}

// CreateClientRequest asks for a personal client (POST /control/clients).
type CreateClientRequest struct {
	Name         string        `json:"name"`
	Expires      time.Duration `json:"expires"` // 0 = never
	Integrations []string      `json:"integrations,omitempty"`
}

// ClientList is every personal client (GET /control/clients).
type ClientList struct {
	Clients []ClientInfo `json:"clients"`
}

// LogoutResult says what a sign-out of the organisation identity reached.
type LogoutResult struct {
	ProviderSession bool `json:"provider_session_ended"`
	// RefreshRevoked: the refresh token was revoked at the provider's
	// revocation endpoint (RFC 7009), which holds even when the end-session
	// request is refused (e.g. its key rotated away).
	RefreshRevoked bool   `json:"refresh_token_revoked"`
	Note           string `json:"note,omitempty"`
}

// AppGrant is an app's grant (an MCP assistant's, for one) as GET /v1/apps
// lists it, with its state.
type AppGrant struct {
	ID           string    `json:"id"`
	ClientID     string    `json:"client_id"`
	AppName      string    `json:"app_name"`
	Integrations []string  `json:"integrations"`
	Resource     string    `json:"resource,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	LastUsedAt   time.Time `json:"last_used_at"`
	RevokedAt    time.Time `json:"revoked_at,omitzero"`
	RevokeReason string    `json:"revoke_reason,omitempty"`
	// RefreshHash is the hex SHA-256 of the current refresh token; Spent
	// those of the refresh tokens already used.
	RefreshHash string   `json:"refresh_hash,omitempty"`
	Spent       []string `json:"spent,omitempty"`
	State       string   `json:"state"`
}

// AppGrantList is every app grant (GET /v1/apps).
type AppGrantList struct {
	Apps []AppGrant `json:"apps"`
}

// MCPAuditRequest is what `latchkey mcp` reports of one tool call (POST
// /control/apps/audit).
type MCPAuditRequest struct {
	App  string `json:"app"`
	Tool string `json:"tool"`
	OK   bool   `json:"ok"`
}
