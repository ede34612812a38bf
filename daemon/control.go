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

// The control API: routes served only on the daemon's unix socket, where the
// caller is the user's own process (peer credentials checked). The injector's
// API is served there too, with full scope.
const (
	routeToken      = "POST /control/token"
	routeConnect    = "POST /control/connect/{name}"
	routeFlow       = "GET /control/flows/{id}"
	routeReload     = "POST /control/reload"
	routeAudit      = "GET /control/audit"
	routeRotateKey  = "POST /control/rotate-key"
	routeMenuURL    = "POST /control/menu-url"
	routeShutdown   = "POST /control/shutdown"
	routeSigningKey = "POST /control/keys/{name}"
)

// maxLocalTokenTTL bounds `latchkey token --ttl`.
const maxLocalTokenTTL = 24 * time.Hour

func (d *Daemon) registerControl(mux interface {
	HandleControl(pattern string, h http.Handler)
}, shutdown context.CancelFunc) {
	mux.HandleControl(routeToken, jsonHandler(func(r *http.Request) (any, error) {
		var req apitype.TokenRequest
		if err := decodeBody(r, &req); err != nil {
			return nil, err
		}
		tok, err := d.MintToken(req)
		if err != nil {
			return nil, err
		}
		return map[string]string{"token": tok}, nil
	}))
	mux.HandleControl(routeConnect, jsonHandler(func(r *http.Request) (any, error) {
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
	}))
	mux.HandleControl(routeFlow, jsonHandler(func(r *http.Request) (any, error) {
		f, ok := d.flows.byFlowID(r.PathValue("id"))
		if !ok {
			return nil, &httpError{http.StatusNotFound, "not_found", "no such connect flow (it may have expired): start again"}
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
	}))
	mux.HandleControl(routeReload, jsonHandler(func(r *http.Request) (any, error) {
		if err := d.Reload(); err != nil {
			return nil, err
		}
		return map[string]bool{"ok": true}, nil
	}))
	mux.HandleControl(routeAudit, jsonHandler(func(r *http.Request) (any, error) {
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
		return map[string]any{"entries": entries}, nil
	}))
	mux.HandleControl(routeRotateKey, jsonHandler(func(r *http.Request) (any, error) {
		if err := d.RotateKey(r.Context()); err != nil {
			return nil, err
		}
		return map[string]string{"key_id": d.vault.KeyID()}, nil
	}))
	mux.HandleControl(routeMenuURL, jsonHandler(func(r *http.Request) (any, error) {
		return map[string]string{"url": d.inj.NewMenuCode()}, nil
	}))
	mux.HandleControl("POST /control/clients", jsonHandler(func(r *http.Request) (any, error) {
		var req apitype.CreateClientRequest
		if err := decodeBody(r, &req); err != nil {
			return nil, err
		}
		return d.CreateClient(r.Context(), req)
	}))
	mux.HandleControl("GET /control/clients", jsonHandler(func(r *http.Request) (any, error) {
		cs, err := d.ListClients(r.Context())
		if err != nil {
			return nil, err
		}
		return map[string]any{"clients": cs}, nil
	}))
	mux.HandleControl("DELETE /control/clients/{id}", jsonHandler(func(r *http.Request) (any, error) {
		if err := d.RevokeClient(r.Context(), r.PathValue("id")); err != nil {
			return nil, err
		}
		return map[string]bool{"ok": true}, nil
	}))
	mux.HandleControl("POST /control/open/{name}", jsonHandler(func(r *http.Request) (any, error) {
		u, err := d.SignInURL(r.Context(), r.PathValue("name"), r.URL.Query().Get("target"))
		if err != nil {
			return nil, err
		}
		return map[string]string{"url": u}, nil
	}))
	mux.HandleControl("POST /control/login", jsonHandler(func(r *http.Request) (any, error) {
		u, id, err := d.StartLogin(r.Context())
		if err != nil {
			return nil, err
		}
		return apitype.ConnectResponse{URL: u, Flow: id}, nil
	}))
	mux.HandleControl("POST /control/logout", jsonHandler(func(r *http.Request) (any, error) {
		return d.Logout(r.Context())
	}))
	mux.HandleControl(routeShutdown, jsonHandler(func(r *http.Request) (any, error) {
		shutdown()
		return map[string]bool{"ok": true}, nil
	}))
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
