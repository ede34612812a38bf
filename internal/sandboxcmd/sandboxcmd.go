// Package sandboxcmd holds what the sandbox commands (docebo-sandbox,
// document360-sandbox, oidc-sandbox) share: loopback-only listening, a
// secret read from a file or the environment, logging, and serving until
// Ctrl+C with a graceful shutdown.
package sandboxcmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/latchkey/latchkey/internal/loopback"
)

// MultiFlag is a repeatable string flag.
type MultiFlag []string

func (m *MultiFlag) String() string     { return strings.Join(*m, ",") }
func (m *MultiFlag) Set(v string) error { *m = append(*m, v); return nil }

// CheckLoopback refuses a listen address that is not on a loopback host,
// unless allowRemote.
func CheckLoopback(listen string, allowRemote bool) error {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("--listen %q: %w", listen, err)
	}
	if allowRemote || loopback.IsHost(host) {
		return nil
	}
	return fmt.Errorf("--listen %q is not a loopback address: a sandbox listens on this machine only", listen)
}

// Secret reads a secret from file, else from the environment variable env,
// else returns def. source says where it came from in words safe to log:
// only the public demo default is ever shown.
func Secret(file, env, def string) (secret, source string, err error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", "", fmt.Errorf("secret file: %w", err)
		}
		s := strings.TrimSpace(string(b))
		if s == "" {
			return "", "", fmt.Errorf("secret file %s is empty", file)
		}
		return s, "(from " + file + ")", nil
	}
	if s := strings.TrimSpace(os.Getenv(env)); s != "" {
		return s, "(from $" + env + ")", nil
	}
	if def == "" {
		return "", "(none)", nil
	}
	return def, def + " (demo default)", nil
}

// Logger is a text logger on w, at debug level when verbose.
func Logger(w io.Writer, verbose bool) *slog.Logger {
	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// Serve serves h on ln until ctx ends or the process gets SIGINT/SIGTERM,
// then lets in-flight requests finish (up to 5 s).
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
