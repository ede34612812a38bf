// Command oidc-sandbox serves a real OpenID Provider on loopback for tests,
// the demo and `make run` (see package integrations/oidc/sandbox, built on
// github.com/zitadel/oidc/v3).
//
//	oidc-sandbox [--listen 127.0.0.1:8803] [--client-id latchkey]
//	             [--client-secret-file FILE] [--redirect-uri URI]...
//	             [--auth-method client_secret_basic|client_secret_post]
//	             [--access-token-ttl 5m] [--jwt-access-tokens] [-v]
//
// The client secret comes from --client-secret-file or the environment
// variable OIDC_SANDBOX_CLIENT_SECRET, else the public demo default. The
// command prints its issuer URL on the first line of stdout. The users are
// alice (password alice-password) and bob (bob-password).
package main

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

	"flag"

	"github.com/latchkey/latchkey/integrations/oidc/sandbox"
)

// SecretEnv names the environment variable holding the client secret.
const SecretEnv = "OIDC_SANDBOX_CLIENT_SECRET"

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "oidc-sandbox:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("oidc-sandbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8803", "loopback address to listen on")
	clientID := fs.String("client-id", sandbox.DefaultClientID, "client id of the registered relying party")
	secretFile := fs.String("client-secret-file", "", "file holding the client secret (else $"+SecretEnv+", else the demo default)")
	authMethod := fs.String("auth-method", "", "restrict the token endpoint to client_secret_basic or client_secret_post (default: both)")
	accessTTL := fs.Duration("access-token-ttl", 5*time.Minute, "access-token lifetime")
	jwtAccess := fs.Bool("jwt-access-tokens", false, "issue access tokens as JWTs")
	var redirects multiFlag
	fs.Var(&redirects, "redirect-uri", "registered redirect URI, matched exactly (repeatable), e.g. http://127.0.0.1:7788/identity/connected")
	verbose := fs.Bool("v", false, "debug logging (never tokens)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	secret, source, err := clientSecret(*secretFile)
	if err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(*listen)
	if err != nil {
		return fmt.Errorf("--listen %q: %w", *listen, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("--listen %q is not a loopback address", *listen)
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	issuer := "http://" + ln.Addr().String()
	p, err := sandbox.New(issuer, sandbox.Options{
		Clients: []sandbox.Client{{ID: *clientID, Secret: secret, RedirectURIs: redirects,
			AuthMethod: *authMethod, JWTAccessTokens: *jwtAccess}},
		AccessTokenTTL: *accessTTL,
		Logger:         log,
	})
	if err != nil {
		ln.Close()
		return err
	}
	fmt.Fprintln(stdout, issuer)
	log.Info("oidc sandbox ready", "issuer", issuer, "client_id", *clientID, "client_secret", source,
		"redirect_uris", redirects.String(), "users", "alice/alice-password, bob/bob-password")

	hs := &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
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

// clientSecret returns the secret and where it came from, in words safe to
// log (only the public demo default is shown).
func clientSecret(file string) (secret, source string, err error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", "", fmt.Errorf("--client-secret-file: %w", err)
		}
		s := strings.TrimSpace(string(b))
		if s == "" {
			return "", "", fmt.Errorf("--client-secret-file %s is empty", file)
		}
		return s, "(from " + file + ")", nil
	}
	if s := strings.TrimSpace(os.Getenv(SecretEnv)); s != "" {
		return s, "(from $" + SecretEnv + ")", nil
	}
	return sandbox.DefaultClientSecret, sandbox.DefaultClientSecret + " (demo default)", nil
}
