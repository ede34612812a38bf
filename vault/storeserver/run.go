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
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/loopback"
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
	// MetricsListen (--metrics-listen) is where /metrics is served, on a
	// listener of its own; empty: not served at all. Like Listen, plain
	// HTTP is refused off loopback.
	MetricsListen string
	// SecretsKeyFile (--secrets-key-file) holds the keys that seal the org
	// integrations' client secrets (LoadSecretsKeys); empty: client
	// secrets are refused and the console is off.
	SecretsKeyFile string
	// ConsoleClientID (--console-client-id) turns on the admin console at
	// /admin: the console's OIDC client at --issuer. Its secret is read
	// from ConsoleClientSecretFile (--console-client-secret-file).
	ConsoleClientID         string
	ConsoleClientSecretFile string
	// ConsoleURL (--console-url) is the store's public URL, whose
	// /admin/callback is the console's redirect URI; default: the
	// listener's own address.
	ConsoleURL string
	Logger     *slog.Logger
	// Ready, if set, receives the bound address once the server accepts
	// connections (tests use it with --listen 127.0.0.1:0).
	Ready func(addr net.Addr)
	// MetricsReady, if set, receives the bound address of the metrics
	// listener once it accepts connections, before Ready is called.
	MetricsReady func(addr net.Addr)
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
func CheckListen(addr string, tls bool) error { return checkListen("--listen", addr, tls) }

func checkListen(flag, addr string, tls bool) error {
	if tls {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("storeserver: %s %q: %w", flag, addr, err)
	}
	if loopback.IsHost(host) {
		return nil
	}
	return fmt.Errorf("storeserver: %s: refusing plain HTTP on %q: without --tls-cert/--tls-key the store listens on loopback only (e.g. 127.0.0.1:8787)", flag, addr)
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
	if o.MetricsListen != "" {
		if err := checkListen("--metrics-listen", o.MetricsListen, useTLS); err != nil {
			return err
		}
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
	var secrets *SecretsKeys
	if o.SecretsKeyFile != "" {
		if secrets, err = LoadSecretsKeys(o.SecretsKeyFile); err != nil {
			return err
		}
	}
	var consoleSecret string
	if o.ConsoleClientSecretFile != "" {
		b, err := os.ReadFile(o.ConsoleClientSecretFile)
		if err != nil {
			return fmt.Errorf("storeserver: --console-client-secret-file: %w", err)
		}
		consoleSecret = strings.TrimSpace(string(b))
	}
	backend, err := Open(ctx, o.DB)
	if err != nil {
		return err
	}
	defer backend.Close()
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("storeserver: listen: %w", err)
	}
	defer ln.Close()
	cfg := Config{Backend: backend, Verifier: verifier, Logger: log, Secrets: secrets}
	if o.ConsoleClientID != "" {
		base := o.ConsoleURL
		if base == "" {
			scheme := "http"
			if useTLS {
				scheme = "https"
			}
			base = scheme + "://" + ln.Addr().String()
		}
		cfg.Console = &ConsoleConfig{Issuer: o.Issuer, ClientID: o.ConsoleClientID, ClientSecret: consoleSecret,
			BaseURL: strings.TrimRight(base, "/"), AdminClaim: o.AdminClaim, AdminValue: o.AdminValue}
	}
	srv, err := New(cfg)
	if err != nil {
		return err
	}
	if _, err := srv.Reseal(ctx); err != nil {
		return err
	}
	var mln net.Listener
	if o.MetricsListen != "" {
		if mln, err = net.Listen("tcp", o.MetricsListen); err != nil {
			return fmt.Errorf("storeserver: listen for metrics (--metrics-listen): %w", err)
		}
	}
	newServer := func(h http.Handler) *http.Server {
		return &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       120 * time.Second,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
			BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		}
	}
	errc := make(chan error, 2)
	serve := func(hs *http.Server, l net.Listener) {
		if useTLS {
			errc <- hs.ServeTLS(l, o.TLSCert, o.TLSKey)
		} else {
			errc <- hs.Serve(l)
		}
	}
	servers := []*http.Server{newServer(srv)}
	go serve(servers[0], ln)
	if mln != nil {
		servers = append(servers, newServer(srv.Metrics()))
		go serve(servers[1], mln)
		log.Info("latchkey-store metrics", "addr", mln.Addr().String(), "tls", useTLS)
	}
	log.Info("latchkey-store serving", "addr", ln.Addr().String(), "tls", useTLS, "db", backendKind(o.DB))
	if mln != nil && o.MetricsReady != nil {
		o.MetricsReady(mln.Addr()) // before Ready: a caller waiting on Ready knows both
	}
	if o.Ready != nil {
		o.Ready(ln.Addr())
	}
	var serveErr error
	select {
	case err := <-errc:
		serveErr = fmt.Errorf("storeserver: %w", err)
	case <-ctx.Done():
		log.Info("latchkey-store shutting down")
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	for _, hs := range servers {
		if err := hs.Shutdown(sctx); err != nil && serveErr == nil {
			serveErr = fmt.Errorf("storeserver: shutdown: %w", err)
		}
	}
	return serveErr
}

// backendKind names the backend without the DSN (which may hold a password).
func backendKind(dsn string) string {
	if len(dsn) >= 7 && dsn[:7] == "sqlite:" {
		return "sqlite"
	}
	return "postgres"
}
