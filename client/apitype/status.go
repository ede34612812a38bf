package apitype

import (
	"time"

	"github.com/latchkey/latchkey/integrations"
)

// Status is the daemon's status document: what `latchkey status --json`
// prints and GET /v1/status serves. It never holds a token, a secret or the
// salt; KeyID is derived from the key, never the key.
type Status struct {
	Version      string              `json:"version"`
	User         string              `json:"user"`
	BoundTo      string              `json:"bound_to,omitempty"` // the identity's subject records are bound to, when not User
	Device       string              `json:"device"`
	KeyID        string              `json:"key_id"`
	Keychain     KeychainStatus      `json:"keychain"`
	StateDir     string              `json:"state_dir"`
	StorePath    string              `json:"store_path"`
	ConfigFile   string              `json:"config_file"`
	Daemon       DaemonStatus        `json:"daemon"`
	Integrations []IntegrationStatus `json:"integrations"`
	Sync         SyncStatus          `json:"sync"`
	Identity     *IdentityStatus     `json:"identity,omitempty"`
	Desktop      DesktopStatus       `json:"desktop"`
	// Apps are the apps with a live grant (full-scope callers only).
	Apps []AppStatus `json:"apps,omitempty"`
	// VaultNotice says the vault salt was lost (deleted from the keychain
	// while the daemon ran, or missing now), and what that did.
	VaultNotice string `json:"vault_notice,omitempty"`
}

// KeychainStatus says whether the keychain answers.
type KeychainStatus struct {
	Backend   string `json:"backend"`
	Reachable bool   `json:"reachable"`
	Error     string `json:"error,omitempty"`
}

// DaemonStatus describes the running daemon (Running is false when status
// was computed offline by the CLI).
type DaemonStatus struct {
	Running bool   `json:"running"`
	PID     int    `json:"pid,omitempty"`
	Listen  string `json:"listen,omitempty"`
	Socket  string `json:"socket"`
}

// States of an integration in IntegrationStatus.State. The first three are
// the states a connection is stored in.
const (
	StateConnected       = "connected"
	StateReconnectNeeded = "reconnect_needed"
	StateDisconnected    = "disconnected"
	// StateNotConfigured is the state of a registered integration with no
	// configuration.
	StateNotConfigured = "not_configured"
)

// IntegrationStatus is one integration's state. State is connected,
// reconnect_needed, disconnected, or not_configured.
type IntegrationStatus struct {
	Name       string `json:"name"`
	State      string `json:"state"`
	Configured bool   `json:"configured"`
	// Connect is how the integration is connected: "oauth" (a consent
	// page, the Connect button) or "api_token" (configured with a token by
	// `latchkey configure`, nothing to connect). Empty when not configured.
	Connect     string                `json:"connect,omitempty"`
	URL         string                `json:"url,omitempty"`
	Account     *integrations.Account `json:"account,omitempty"`
	TokenExpiry *time.Time            `json:"token_expiry,omitempty"`
	Reason      string                `json:"reason,omitempty"`
	ConfigError string                `json:"config_error,omitempty"`
	// RateBudget is the provider's request budget, for integrations that
	// track it (Document360).
	RateBudget *integrations.RateBudget `json:"rate_budget,omitempty"`
	// Unsaved: a refreshed token is served from memory because the
	// database did not take it yet (it is written again until it does).
	Unsaved string `json:"unsaved,omitempty"`
	// Managed: the organisation configures it (latchkey-store or the
	// managed file); `latchkey configure` cannot change it. DisplayName,
	// LogoURL and WidgetTitle (the My Courses widget's title) are the
	// organisation's customisation.
	Managed     bool   `json:"managed"`
	DisplayName string `json:"display_name,omitempty"`
	LogoURL     string `json:"logo_url,omitempty"`
	WidgetTitle string `json:"widget_title,omitempty"`
	// Logo is the logo at LogoURL as a data: URL once the daemon fetched it
	// (the menu never fetches LogoURL itself).
	Logo string `json:"logo,omitempty"`
}

// SyncStatus is the state of pushes to the remote store.
type SyncStatus struct {
	Remote      string     `json:"remote,omitempty"`
	Pending     int        `json:"pending"`
	LastSuccess *time.Time `json:"last_success,omitempty"`
	LastErrorAt *time.Time `json:"last_error_at,omitempty"`
	LastError   string     `json:"last_error,omitempty"`
	// Down: the store did not answer the last attempt; NextRetry is when
	// the next probe is due. Both clear once it answers.
	Down      bool       `json:"down,omitempty"`
	NextRetry *time.Time `json:"next_retry,omitempty"`
	// Refused: the last record the store served that was not newer than
	// this device's (rollback refused), and when.
	Refused   string     `json:"refused,omitempty"`
	RefusedAt *time.Time `json:"refused_at,omitempty"`
}

// IdentityStatus is the organisation identity the user signed in with.
type IdentityStatus struct {
	Issuer   string   `json:"issuer"`
	SignedIn bool     `json:"signed_in"`
	Subject  string   `json:"sub,omitempty"`
	Name     string   `json:"name,omitempty"`
	Email    string   `json:"email,omitempty"`
	Groups   []string `json:"groups,omitempty"`
}

// DesktopStatus says whether the tray and hotkey run, and why not.
type DesktopStatus struct {
	Tray   string `json:"tray"`
	Hotkey string `json:"hotkey"`
}

// AppStatus is an app with a live grant, in the status document.
type AppStatus struct {
	ID           string    `json:"id"`
	App          string    `json:"app"`
	ClientID     string    `json:"client_id"`
	Integrations []string  `json:"integrations"`
	Resource     string    `json:"resource,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	LastUsedAt   time.Time `json:"last_used_at"`
}
