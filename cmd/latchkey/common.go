package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/latchkey/latchkey/daemon"
	"github.com/latchkey/latchkey/integrations"
	"github.com/latchkey/latchkey/integrations/docebo"
	"github.com/latchkey/latchkey/integrations/document360"
)

// newRegistry lists the integrations this build knows.
func newRegistry() *integrations.Registry {
	return integrations.NewRegistry(map[string]integrations.Factory{
		"docebo":      docebo.Factory,
		"document360": document360.Factory,
	})
}

// setup resolves the paths and the configuration (file < environment <
// flags).
func (e *cliEnv) setup() (daemon.Paths, daemon.Config, error) {
	p, err := daemon.DefaultPaths()
	if err != nil {
		return p, daemon.Config{}, err
	}
	c, err := daemon.LoadConfig(p.ConfigFile(), e.getenv)
	if err != nil {
		return p, c, err
	}
	if e.listen != "" {
		c.Listen = e.listen
	}
	return p, c, nil
}

// openOffline opens the vault and the local store in this process, for
// commands that work with or without a running daemon.
func (e *cliEnv) openOffline(ctx context.Context) (*daemon.Daemon, error) {
	return e.openOfflineWith(ctx, false)
}

// openOfflineReadOnly is openOffline for a command that only reads (status):
// it never creates a salt or purges records, whatever it finds.
func (e *cliEnv) openOfflineReadOnly(ctx context.Context) (*daemon.Daemon, error) {
	return e.openOfflineWith(ctx, true)
}

func (e *cliEnv) openOfflineWith(ctx context.Context, readOnly bool) (*daemon.Daemon, error) {
	p, c, err := e.setup()
	if err != nil {
		return nil, err
	}
	return daemon.Open(ctx, daemon.Options{
		Paths: p, Config: c, Registry: newRegistry(), Version: version, ReadOnly: readOnly,
		Logger: slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
}

// notifyReload tells a running daemon to re-read its configuration; no
// daemon is fine.
func (e *cliEnv) notifyReload(ctx context.Context) {
	_ = e.ctl.Reload(ctx)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// readSecret reads one secret: from a no-echo prompt on a terminal, else
// the first line of stdin. It never comes from a flag.
func (e *cliEnv) readSecret(prompt string) (string, error) {
	if f, ok := e.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(e.stderr, prompt)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.stderr)
		if err != nil {
			return "", err
		}
		return strings.TrimSpace(string(b)), nil
	}
	b, err := io.ReadAll(io.LimitReader(e.stdin, 64<<10))
	if err != nil {
		return "", err
	}
	s := strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0])
	return s, nil
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func (e *cliEnv) printf(format string, args ...any) { fmt.Fprintf(e.stdout, format, args...) }

func itoa(n int) string { return fmt.Sprint(n) }
