// Command docebo-sandbox serves a stand-in Docebo platform on loopback for
// tests and `make run` (see package integrations/docebo/sandbox).
//
//	docebo-sandbox [--listen 127.0.0.1:8801] [--client-id ID]
//	               [--client-secret-file FILE] [--auto-approve] [--token-ttl 1h]
//	               [--rate-limit N] [--rotate-refresh] [--seed-user ada]
//	               [--jwt-public-key FILE] [--redirect-uri URI] [--latency D]
//
// The client secret comes from --client-secret-file or the environment
// variable DOCEBO_SANDBOX_CLIENT_SECRET, else the public demo default. The
// command prints its base URL on the first line of stdout.
package main

import (
	"context"
	"errors"
	"flag"
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

	"github.com/latchkey/latchkey/integrations/docebo/sandbox"
)

// SecretEnv names the environment variable holding the client secret.
const SecretEnv = "DOCEBO_SANDBOX_CLIENT_SECRET"

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "docebo-sandbox:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("docebo-sandbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8801", "address to listen on (loopback only unless --allow-remote)")
	allowRemote := fs.Bool("allow-remote", false, "allow a non-loopback --listen address")
	clientID := fs.String("client-id", sandbox.DefaultClientID, "OAuth2 client id of the registered app")
	secretFile := fs.String("client-secret-file", "", "file holding the OAuth2 client secret (else $"+SecretEnv+", else the demo default)")
	autoApprove := fs.Bool("auto-approve", false, "approve /oauth2/authorize at once (no consent page)")
	tokenTTL := fs.Duration("token-ttl", time.Hour, "access-token lifetime")
	rateLimit := fs.Int("rate-limit", 0, "API and token requests allowed per minute per client IP (0: unlimited); beyond: 429 + Retry-After")
	rotate := fs.Bool("rotate-refresh", false, "rotate refresh tokens on use, with reuse detection")
	seedUser := fs.String("seed-user", "", "username the consent page signs in as (default: the first seeded user, ada)")
	latency := fs.Duration("latency", 0, "delay added to every request")
	requirePKCE := fs.Bool("require-pkce", false, "refuse code exchanges without a code_verifier when a challenge was sent")
	var keyFiles, redirects multiFlag
	fs.Var(&keyFiles, "jwt-public-key", "PEM public key file for the JWT-bearer grant (repeatable)")
	fs.Var(&redirects, "redirect-uri", "registered redirect URI (repeatable; default: any loopback http URI)")
	verbose := fs.Bool("v", false, "log every request (paths only, never tokens)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}

	secret, secretSource, err := clientSecret(*secretFile)
	if err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(*listen)
	if err != nil {
		return fmt.Errorf("--listen %q: %w", *listen, err)
	}
	if ip := net.ParseIP(host); !*allowRemote && host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("--listen %q is not a loopback address (use --allow-remote to insist)", *listen)
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	opts := sandbox.Options{
		ClientID:       *clientID,
		ClientSecret:   secret,
		RedirectURIs:   redirects,
		SeedUser:       *seedUser,
		AutoApprove:    *autoApprove,
		RequirePKCE:    *requirePKCE,
		AccessTokenTTL: *tokenTTL,
		RotateRefresh:  *rotate,
		RateLimit:      *rateLimit,
		Latency:        *latency,
		Logger:         log,
	}
	for _, f := range keyFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("--jwt-public-key: %w", err)
		}
		pub, err := sandbox.ParsePublicKeyPEM(b)
		if err != nil {
			return fmt.Errorf("--jwt-public-key %s: %w", f, err)
		}
		opts.JWTPublicKeys = append(opts.JWTPublicKeys, pub)
	}
	srv := sandbox.New(opts)
	if *seedUser != "" {
		if _, ok := srv.User(*seedUser); !ok {
			return fmt.Errorf("--seed-user %q is not a seeded user (ada, grace, alan, katherine, admin)", *seedUser)
		}
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	fmt.Fprintln(stdout, base)
	log.Info("docebo sandbox ready", "url", base, "client_id", *clientID, "client_secret", secretSource,
		"users_password", sandbox.DefaultPassword, "auto_approve", *autoApprove, "rotate_refresh", *rotate)

	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
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

// clientSecret returns the secret and a description of where it came from
// that is safe to log (only the public demo default is shown).
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
