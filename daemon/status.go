package daemon

import (
	"context"
	"os"
	"slices"
	"time"

	"github.com/latchkey/latchkey/injector"
	"github.com/latchkey/latchkey/injector/auth"
	"github.com/latchkey/latchkey/integrations"
	"github.com/latchkey/latchkey/vault/keychain"
	"github.com/latchkey/latchkey/vault/store"
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

// DesktopStatus says whether the tray and hotkey run, and why not.
type DesktopStatus struct {
	Tray   string `json:"tray"`
	Hotkey string `json:"hotkey"`
}

// StateNotConfigured is the state of a registered integration with no
// configuration.
const StateNotConfigured = "not_configured"

// Status computes the status document for the caller of the local API
// (injector.Backend): see forCaller.
func (d *Daemon) Status(ctx context.Context) (any, error) {
	st, err := d.StatusDoc(ctx)
	if err != nil {
		return nil, err
	}
	c, _ := injector.CallerClaims(ctx) // none: treated as the narrowest caller
	return st.forCaller(c), nil
}

// forCaller cuts the status document to what caller c may see. A caller
// with full scope ("*": the menu, the CLI, an unscoped token) sees it all.
// A scoped caller sees only the integrations in its scope, and of the
// identity only whether one is signed in: not its subject, name, email or
// groups, nor the subject the records are bound to, nor the remote store's
// last error or refused rollback (which may be about any integration), nor
// which integrations a lost salt disconnected.
func (st *Status) forCaller(c auth.Claims) *Status {
	if slices.Contains(c.Scope, "*") {
		return st
	}
	out := *st
	out.BoundTo = ""
	out.Apps = nil
	out.Integrations = []IntegrationStatus{}
	for _, is := range st.Integrations {
		if c.Allows(is.Name) {
			out.Integrations = append(out.Integrations, is)
		}
	}
	if st.Identity != nil {
		out.Identity = &IdentityStatus{Issuer: st.Identity.Issuer, SignedIn: st.Identity.SignedIn}
	}
	out.Sync.LastError = ""
	// The rollback and lost-salt notices name integrations of any scope.
	out.Sync.Refused = ""
	if st.VaultNotice != "" {
		out.VaultNotice = "the vault salt was lost: see `latchkey status`"
	}
	return &out
}

// StatusDoc computes the status document.
func (d *Daemon) StatusDoc(ctx context.Context) (*Status, error) {
	st := &Status{
		Version: d.version, User: d.vault.User(), Device: d.vault.Device(), KeyID: d.vault.KeyID(),
		StateDir: d.paths.StateDir, StorePath: d.paths.DBPath(), ConfigFile: d.paths.ConfigFile(),
		Keychain: KeychainStatus{Backend: d.conf().Keychain, Reachable: true},
		Daemon:   DaemonStatus{Socket: d.paths.SocketPath()},
	}
	if b := d.vault.BindingUser(); b != st.User {
		st.BoundTo = b
	}
	if err := keychain.Probe(d.kc); err != nil {
		st.Keychain.Reachable = false
		st.Keychain.Error = err.Error()
	}
	if d.inj != nil {
		// The running daemon looks at the salt now, and handles its loss
		// itself; a status computed offline only reports it.
		d.checkSaltSoon(ctx)
		st.KeyID = d.vault.KeyID()
	}
	st.VaultNotice = d.saltNotice()
	if d.inj != nil {
		st.Daemon.Running = true
		st.Daemon.PID = os.Getpid()
		st.Daemon.Listen = d.listenAddr
		st.Apps = d.liveApps()
	}
	conns, err := d.store.ListConnections(ctx)
	if err != nil {
		return nil, err
	}
	byName := map[string]store.Connection{}
	for _, c := range conns {
		byName[c.Integration] = c
	}
	d.mu.Lock()
	integErr := d.integErr
	d.mu.Unlock()
	seen := map[string]bool{}
	add := func(name string) {
		if seen[name] {
			return
		}
		seen[name] = true
		is := IntegrationStatus{Name: name, State: string(store.StateDisconnected)}
		if ic, ok := d.conf().Integrations[name]; ok {
			is.Configured = true
			is.URL = ic.URL
		} else {
			is.State = StateNotConfigured
		}
		if e := integErr[name]; e != nil {
			is.ConfigError = e.Error()
		}
		if in, ok := d.integration(name); ok {
			is.Connect = "api_token"
			if _, ok := in.(integrations.OAuth); ok {
				is.Connect = "oauth"
			}
		}
		if c, ok := byName[name]; ok {
			is.State = string(c.State)
			is.Reason = c.Reason
			if c.AccountID != "" || c.Username != "" || c.Email != "" {
				is.Account = &integrations.Account{ID: c.AccountID, Username: c.Username, Name: c.DisplayName, Email: c.Email}
			}
			if c.State == store.StateConnected && !c.Expiry.IsZero() {
				exp := c.Expiry
				is.TokenExpiry = &exp
			}
		}
		is.RateBudget = d.rateBudget(name)
		is.Unsaved = d.unsaved(name)
		st.Integrations = append(st.Integrations, is)
	}
	for _, n := range d.registry.Names() {
		add(n)
	}
	for _, n := range d.conf().IntegrationNames() {
		add(n)
	}
	st.Sync = d.syncStatus(ctx)
	st.Identity = d.identityStatus(ctx)
	st.Desktop = d.extras.desktop()
	return st, nil
}
