package storeserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// DefaultListen is where `latchkey-store serve` listens by default.
const DefaultListen = "127.0.0.1:8787"

// Options are the settings of `latchkey-store serve` (each flag has a
// LATCHKEY_STORE_* environment equivalent).
type Options struct {
	Listen     string // --listen
	DB         string // --db: sqlite:///path or postgres://…
	TLSCert    string // --tls-cert
	TLSKey     string // --tls-key
	Issuer     string // --issuer
	JWKSURL    string // --jwks-url
	Audience   string // --audience
	AdminClaim string // --admin-claim
	AdminValue string // --admin-value
	Logger     *slog.Logger
	// Ready, if set, receives the bound address once the server accepts
	// connections (tests use it with --listen 127.0.0.1:0).
	Ready func(addr net.Addr)
}

// DefaultDB is the default --db: store.db in $XDG_STATE_HOME/latchkey
// (~/.local/state/latchkey when unset).
func DefaultDB() (string, error) {
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" || !filepath.IsAbs(dir) {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("storeserver: no state directory: %w", err)
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return "sqlite://" + filepath.Join(dir, "latchkey", "store.db"), nil
}

// CheckListen refuses plain HTTP on anything but a loopback address.
func CheckListen(addr string, tls bool) error {
	if tls {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("storeserver: --listen %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("storeserver: refusing plain HTTP on %q: without --tls-cert/--tls-key the store listens on loopback only (e.g. 127.0.0.1:8787)", addr)
}

// Run serves until ctx is done, then shuts down gracefully (in-flight
// requests get up to 10 seconds).
func Run(ctx context.Context, o Options) error {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	if o.Listen == "" {
		o.Listen = DefaultListen
	}
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return errors.New("storeserver: --tls-cert and --tls-key go together")
	}
	useTLS := o.TLSCert != ""
	if err := CheckListen(o.Listen, useTLS); err != nil {
		return err
	}
	if o.DB == "" {
		d, err := DefaultDB()
		if err != nil {
			return err
		}
		o.DB = d
	}
	verifier, err := NewOIDCVerifier(ctx, OIDCConfig{
		Issuer: o.Issuer, JWKSURL: o.JWKSURL, Audience: o.Audience,
		AdminClaim: o.AdminClaim, AdminValue: o.AdminValue,
	})
	if err != nil {
		return err
	}
	backend, err := Open(ctx, o.DB)
	if err != nil {
		return err
	}
	defer backend.Close()
	srv, err := New(Config{Backend: backend, Verifier: verifier, Logger: log})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("storeserver: listen: %w", err)
	}
	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() {
		if useTLS {
			errc <- hs.ServeTLS(ln, o.TLSCert, o.TLSKey)
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	log.Info("latchkey-store serving", "addr", ln.Addr().String(), "tls", useTLS, "db", backendKind(o.DB))
	if o.Ready != nil {
		o.Ready(ln.Addr())
	}
	select {
	case err := <-errc:
		return fmt.Errorf("storeserver: %w", err)
	case <-ctx.Done():
	}
	log.Info("latchkey-store shutting down")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("storeserver: shutdown: %w", err)
	}
	return nil
}

// backendKind names the backend without the DSN (which may hold a password).
func backendKind(dsn string) string {
	if len(dsn) >= 7 && dsn[:7] == "sqlite:" {
		return "sqlite"
	}
	return "postgres"
}
