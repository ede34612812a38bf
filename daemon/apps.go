package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/latchkey/latchkey/client/apitype"
	"github.com/latchkey/latchkey/injector"
	"github.com/latchkey/latchkey/injector/auth"
	"github.com/latchkey/latchkey/injector/oauthserver"
	"github.com/latchkey/latchkey/internal/loopback"
	"github.com/latchkey/latchkey/tray/opener"
	"github.com/latchkey/latchkey/vault/envelope"
	"github.com/latchkey/latchkey/vault/store"
)

// Apps: the desktop apps (MCP assistants included) the person let reach
// their tools, each with its own grant from the authorization server the
// injector serves. The daemon keeps the server's state (names, redirect
// URIs, scopes, dates and refresh-token digests: no token) sealed in the
// local store's meta table, opens the consent view on the desktop, and
// names apps in the audit trail.

// appsMetaKey is the meta row holding the authorization server's state.
const appsMetaKey = "apps"

// appsStore keeps the authorization server's state in the local store,
// sealed by the vault like the signing key (RotateKey re-seals it). A
// document the vault can no longer open (the salt was lost, and with it
// the signing key and every token) starts the apps afresh.
type appsStore struct{ d *Daemon }

func (s appsStore) LoadApps(ctx context.Context) ([]byte, error) {
	v, err := s.d.vault.GetSealedMeta(ctx, appsMetaKey)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, nil
	case errors.Is(err, envelope.ErrKeyMismatch):
		s.d.log.Warn("the apps' grants were sealed under a lost key; apps must ask again")
		return nil, nil
	}
	return v, err
}

func (s appsStore) SaveApps(ctx context.Context, doc []byte) error {
	return s.d.vault.SetSealedMeta(ctx, appsMetaKey, doc)
}

// consentOpener shows an app's consent in the menu, opened on the desktop
// with a one-time code: only the person there can answer it.
type consentOpener struct{ d *Daemon }

func (c consentOpener) PromptConsent(ctx context.Context, req oauthserver.ConsentRequest) error {
	if c.d.inj == nil {
		return errors.New("the daemon is not serving")
	}
	c.d.log.Info("asking the person about an app", "client_id", req.ClientID, "app", req.AppName, "integrations", req.Integrations)
	return opener.Open(ctx, c.d.conf().OpenCommand, c.d.inj.NewConsentURL(req.ID))
}

// newApps builds the authorization server for apps.
func (d *Daemon) newApps(ctx context.Context, issuer *auth.Issuer) (*oauthserver.Server, error) {
	return oauthserver.New(ctx, oauthserver.Config{
		Issuer:       issuer,
		Store:        appsStore{d},
		Prompter:     consentOpener{d},
		Integrations: d.configuredIntegrations,
		ProgramOf: func(r *http.Request) string {
			local, remote, ok := loopback.RequestEnds(r)
			if !ok {
				return ""
			}
			return peerProgram(local, remote)
		},
		OnRevoke: func(subs ...string) {
			if d.inj != nil {
				d.inj.RevokeSubjects(subs...)
			}
		},
		Logger: d.log,
	})
}

// configuredIntegrations lists the integrations an app may ask for.
func (d *Daemon) configuredIntegrations() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]string, 0, len(d.integ))
	for n := range d.integ { // the configured ones: never the identity
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// mcpConfig turns on /mcp; open_course opens its link with the desktop's
// opener (openSignedIn).
func (d *Daemon) mcpConfig() *injector.MCPConfig {
	return &injector.MCPConfig{Version: d.version, OpenLink: d.openSignedIn}
}

// openSignedIn opens a signed-in link on the desktop through a one-time
// address of the listener (injector.OneTimeLink): the opener's and the
// browser's command lines, which every local user can read, never hold
// the link and the provider token in it.
func (d *Daemon) openSignedIn(ctx context.Context, link string) error {
	if d.inj == nil {
		return errors.New("the daemon is not serving")
	}
	return opener.Open(ctx, d.conf().OpenCommand, d.inj.OneTimeLink(link))
}

// auditCaller names an app's grant in the audit trail with the app's name
// ("app:<grant> <name>"), and notes the grant's use.
func (d *Daemon) auditCaller(caller string) string {
	if d.apps == nil || !strings.HasPrefix(caller, auth.SourceAppPrefix) {
		return caller
	}
	d.apps.Touch(caller)
	// A grant revoked since the call still names its app.
	if g, ok := d.apps.Lookup(caller); ok {
		return caller + " " + g.AppName
	}
	return caller
}

// liveApps lists the apps whose grants work now.
func (d *Daemon) liveApps() []apitype.AppStatus {
	if d.apps == nil {
		return nil
	}
	var out []apitype.AppStatus
	for _, g := range d.apps.List() {
		if g.State == "active" {
			out = append(out, apitype.AppStatus{ID: g.ID, App: g.AppName, ClientID: g.ClientID, Integrations: g.Integrations,
				Resource: g.Resource, CreatedAt: g.CreatedAt, LastUsedAt: g.LastUsedAt})
		}
	}
	return out
}

// addAppsControlRoutes adds to the control API the routes `latchkey mcp` uses: open a
// course signed in on this desktop (the link stays in the daemon), and
// audit a tool call under the assistant's name.
func (d *Daemon) addAppsControlRoutes(m *http.ServeMux) {
	m.Handle("POST /control/apps/open/{name}/{id}", jsonHandler(func(r *http.Request) (any, error) {
		u, err := d.SignInURL(r.Context(), r.PathValue("name"), r.PathValue("id"))
		if err != nil {
			return nil, err
		}
		if err := d.openSignedIn(r.Context(), u); err != nil {
			return nil, &httpError{http.StatusServiceUnavailable, "open_failed", "the browser could not be opened on this desktop"}
		}
		return map[string]bool{"opened": true}, nil
	}))
	m.Handle("POST /control/apps/audit", jsonHandler(func(r *http.Request) (any, error) {
		var req apitype.MCPAuditRequest
		if err := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 4<<10)).Decode(&req); err != nil || req.Tool == "" {
			return nil, &httpError{http.StatusBadRequest, "bad_request", "the body must be {\"app\", \"tool\", \"ok\"}"}
		}
		status := http.StatusOK
		if !req.OK {
			status = http.StatusUnprocessableEntity
		}
		app := strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f {
				return -1
			}
			return r
		}, req.App)
		if len(app) > 100 {
			app = app[:100]
		}
		if app == "" {
			app = "an unnamed assistant"
		}
		d.Audit(r.Context(), []injector.AuditEntry{{Time: time.Now(), Caller: "mcp-stdio " + app, Method: "MCP",
			Path: "tools/call " + req.Tool, Status: status}})
		return map[string]bool{"ok": true}, nil
	}))
}
