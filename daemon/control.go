package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/client/apitype"
	"github.com/latchkey/latchkey/integrations"
	"github.com/latchkey/latchkey/vault/keychain"
)

// maxLocalTokenTTL bounds `latchkey token --ttl`.
const maxLocalTokenTTL = 24 * time.Hour

// controlRoutes is the control API's route table: routes served only on the
// daemon's unix socket, where the caller is the user's own process (peer
// credentials checked as the listener accepts, see peerCheckedListener).
// The injector serves it on that socket ahead of its own API
// (injector.Config.Control), which answers every other path there with
// full scope. shutdown ends the daemon.
func (d *Daemon) controlRoutes(shutdown context.CancelFunc) *http.ServeMux {
	m := http.NewServeMux()
	for _, r := range []struct {
		pattern string
		handle  func(*http.Request) (any, error)
	}{
		{"POST /control/token", d.controlToken},
		{"POST /control/connect/{name}", d.controlConnect},
		{"GET /control/flows/{id}", d.controlFlow},
		{"POST /control/reload", func(*http.Request) (any, error) { return apitype.OK{OK: true}, d.Reload() }},
		{"GET /control/audit", d.controlAudit},
		{"POST /control/rotate-key", d.controlRotateKey},
		{"POST /control/menu-url", func(*http.Request) (any, error) { return apitype.URLResponse{URL: d.inj.NewMenuCode()}, nil }},
		{"POST /control/clients", d.controlCreateClient},
		{"GET /control/clients", d.controlListClients},
		{"DELETE /control/clients/{id}", func(r *http.Request) (any, error) {
			return apitype.OK{OK: true}, d.RevokeClient(r.Context(), r.PathValue("id"))
		}},
		{"POST /control/open/{name}", d.controlOpen},
		{"POST /control/login", d.controlLogin},
		{"POST /control/logout", func(r *http.Request) (any, error) { return d.Logout(r.Context()) }},
		{"POST /control/shutdown", func(*http.Request) (any, error) { shutdown(); return apitype.OK{OK: true}, nil }},
	} {
		m.Handle(r.pattern, jsonHandler(r.handle))
	}
	d.addAppsControlRoutes(m)
	return m
}

func (d *Daemon) controlToken(r *http.Request) (any, error) {
	var req apitype.TokenRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	tok, err := d.MintToken(req)
	if err != nil {
		return nil, err
	}
	return apitype.TokenResponse{Token: tok}, nil
}

func (d *Daemon) controlConnect(r *http.Request) (any, error) {
	name := r.PathValue("name")
	var req apitype.GrantRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	if req.Grant == "" || req.Grant == integrations.GrantAuthorizationCode {
		u, id, err := d.startConnect(name)
		if err != nil {
			return nil, err
		}
		return apitype.ConnectResponse{URL: u, Flow: id}, nil
	}
	if err := d.ConnectWithGrant(r.Context(), name, req); err != nil {
		return nil, err
	}
	return apitype.ConnectResponse{State: "connected"}, nil
}

// controlFlow answers whether a connect flow ended, waiting up to the
// query's wait (at most 5 minutes) for it to.
func (d *Daemon) controlFlow(r *http.Request) (any, error) {
	f, ok := d.flows.byFlowID(r.PathValue("id"))
	if !ok {
		return nil, &httpError{http.StatusNotFound, apitype.CodeNotFound, "no such connect flow (it may have expired): start again"}
	}
	wait, _ := time.ParseDuration(r.URL.Query().Get("wait"))
	wait = min(max(wait, 0), 5*time.Minute)
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-f.done:
		resp := apitype.FlowResponse{Done: true}
		if f.err != nil {
			resp.Error = f.err.Error()
		}
		return resp, nil
	case <-t.C:
	case <-r.Context().Done():
	}
	return apitype.FlowResponse{}, nil
}

func (d *Daemon) controlAudit(r *http.Request) (any, error) {
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	if limit <= 0 || limit > 10000 {
		limit = 100
	}
	rows, err := d.AuditRows(r.Context(), limit)
	if err != nil {
		return nil, err
	}
	entries := make([]apitype.AuditEntry, len(rows))
	for i, r := range rows {
		entries[i] = apitype.AuditEntry{Time: r.Time, Caller: r.Caller, Integration: r.Integration, Method: r.Method, Path: r.Path, Status: r.Status, Duration: r.Duration}
	}
	return apitype.AuditLog{Entries: entries}, nil
}

func (d *Daemon) controlRotateKey(r *http.Request) (any, error) {
	if err := d.RotateKey(r.Context()); err != nil {
		return nil, err
	}
	return apitype.KeyIDResponse{KeyID: d.vault.KeyID()}, nil
}

func (d *Daemon) controlCreateClient(r *http.Request) (any, error) {
	var req apitype.CreateClientRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	return d.CreateClient(r.Context(), req)
}

func (d *Daemon) controlListClients(r *http.Request) (any, error) {
	cs, err := d.ListClients(r.Context())
	if err != nil {
		return nil, err
	}
	return apitype.ClientList{Clients: cs}, nil
}

func (d *Daemon) controlOpen(r *http.Request) (any, error) {
	u, err := d.SignInURL(r.Context(), r.PathValue("name"), r.URL.Query().Get("target"))
	if err != nil {
		return nil, err
	}
	return apitype.URLResponse{URL: u}, nil
}

func (d *Daemon) controlLogin(r *http.Request) (any, error) {
	u, id, err := d.StartLogin(r.Context())
	if err != nil {
		return nil, err
	}
	return apitype.ConnectResponse{URL: u, Flow: id}, nil
}

// Reload re-reads the configuration file and rebuilds the integrations.
func (d *Daemon) Reload() error {
	cfg, err := LoadConfig(d.paths.ConfigFile(), os.Getenv)
	if err != nil {
		return err
	}
	old := d.conf()
	// The listener, the store and the desktop parts stay as started.
	cfg.Listen, cfg.AllowNonLoopback, cfg.Store, cfg.NoTray = old.Listen, old.AllowNonLoopback, old.Store, old.NoTray
	d.reloadManagedFile()
	d.setBaseConfig(cfg)
	d.buildIntegrations()
	d.changed()
	d.log.Info("configuration reloaded")
	return nil
}

// httpError is an error with its HTTP status and code.
type httpError struct {
	status  int
	code    string
	message string
}

func (e *httpError) Error() string { return e.message }

func jsonHandler(fn func(*http.Request) (any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := fn(r)
		w.Header().Set("Content-Type", "application/json")
		if err != nil {
			status, code := http.StatusInternalServerError, "internal"
			var he *httpError
			switch {
			case errors.As(err, &he):
				status, code = he.status, he.code
			case errors.Is(err, integrations.ErrReconnectNeeded):
				status, code = http.StatusConflict, "reconnect_needed"
			case errors.Is(err, integrations.ErrNotConnected):
				status, code = http.StatusConflict, "not_connected"
			case errors.Is(err, ErrNotConfigured):
				status, code = http.StatusNotFound, "not_configured"
			case errors.Is(err, keychain.ErrUnavailable):
				status, code = http.StatusServiceUnavailable, apitype.CodeKeychainUnavailable
			}
			w.WriteHeader(status)
			_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": err.Error()}})
			return
		}
		_ = json.NewEncoder(w).Encode(v)
	})
}

func decodeBody(r *http.Request, v any) error {
	if r.ContentLength == 0 {
		return nil
	}
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &httpError{http.StatusBadRequest, "bad_request", fmt.Sprintf("bad request body: %v", err)}
	}
	return nil
}

// peerCheckedListener accepts only connections from the daemon's own user.
type peerCheckedListener struct {
	net.Listener
	log interface{ Warn(string, ...any) }
}

func (l peerCheckedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if err := client.CheckPeer(c); err != nil {
			l.log.Warn("control socket: refused a connection", "err", err)
			c.Close()
			continue
		}
		return c, nil
	}
}
