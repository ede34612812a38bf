package daemon

import (
	"context"
	"os"
	"slices"

	"github.com/latchkey/latchkey/client/apitype"
	"github.com/latchkey/latchkey/injector"
	"github.com/latchkey/latchkey/injector/auth"
	"github.com/latchkey/latchkey/integrations"
	"github.com/latchkey/latchkey/vault/keychain"
	"github.com/latchkey/latchkey/vault/store"
)

// Status computes the status document for the caller of the local API
// (injector.Backend): see statusForCaller.
func (d *Daemon) Status(ctx context.Context) (any, error) {
	st, err := d.StatusDoc(ctx)
	if err != nil {
		return nil, err
	}
	c, _ := injector.CallerClaims(ctx) // none: treated as the narrowest caller
	return statusForCaller(st, c), nil
}

// statusForCaller cuts the status document st to what caller c may see. A caller
// with full scope ("*": the menu, the CLI, an unscoped token) sees it all.
// A scoped caller sees only the integrations in its scope, and of the
// identity only whether one is signed in: not its subject, name, email or
// groups, nor the subject the records are bound to, nor the remote store's
// last error or refused rollback (which may be about any integration), nor
// which integrations a lost salt disconnected.
func statusForCaller(st *apitype.Status, c auth.Claims) *apitype.Status {
	if slices.Contains(c.Scope, "*") {
		return st
	}
	out := *st
	out.BoundTo = ""
	out.Apps = nil
	out.Integrations = []apitype.IntegrationStatus{}
	for _, is := range st.Integrations {
		if c.Allows(is.Name) {
			out.Integrations = append(out.Integrations, is)
		}
	}
	if st.Identity != nil {
		out.Identity = &apitype.IdentityStatus{Issuer: st.Identity.Issuer, SignedIn: st.Identity.SignedIn}
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
func (d *Daemon) StatusDoc(ctx context.Context) (*apitype.Status, error) {
	st := &apitype.Status{
		Version: d.version, User: d.vault.User(), Device: d.vault.Device(), KeyID: d.vault.KeyID(),
		StateDir: d.paths.StateDir, StorePath: d.paths.DBPath(), ConfigFile: d.paths.ConfigFile(),
		Keychain: apitype.KeychainStatus{Backend: d.conf().Keychain, Reachable: true},
		Daemon:   apitype.DaemonStatus{Socket: d.paths.SocketPath()},
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
		is := apitype.IntegrationStatus{Name: name, State: string(store.StateDisconnected)}
		if ic, ok := d.conf().Integrations[name]; ok {
			is.Configured = true
			is.URL = ic.URL
		} else {
			is.State = apitype.StateNotConfigured
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
		d.orgStatus(&is)
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
