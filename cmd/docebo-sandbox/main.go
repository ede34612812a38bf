// Command docebo-sandbox serves a stand-in Docebo platform on loopback for
// tests and `make run` (see package integrations/docebo/sandbox).
//
//	docebo-sandbox [--listen 127.0.0.1:8801] [--client-id ID]
//	               [--client-secret-file FILE] [--auto-approve] [--token-ttl 1h]
//	               [--rate-limit N] [--rotate-refresh] [--seed-user ada]
//	               [--jwt-public-key FILE] [--redirect-uri URI] [--latency D]
//	               [--jwt-audience HOST] [--forbid-learner-courses]
//	               [--no-exchange-token]
//
// POST /manage/v1/user/exchange_token, which the sandbox serves unless
// --no-exchange-token, is a latchkey invention that no Docebo documentation
// describes (see docs/docebo.md).
//
// The client secret comes from --client-secret-file or the environment
// variable DOCEBO_SANDBOX_CLIENT_SECRET, else the public demo default. The
// command prints its base URL on the first line of stdout.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/latchkey/latchkey/integrations/docebo/sandbox"
	"github.com/latchkey/latchkey/internal/sandboxcmd"
)

// SecretEnv names the environment variable holding the client secret.
const SecretEnv = "DOCEBO_SANDBOX_CLIENT_SECRET"

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
	audience := fs.String("jwt-audience", "", "the \"aud\" JWT-bearer assertions must carry (default: the request's host)")
	forbidLearner := fs.Bool("forbid-learner-courses", false, "answer 403 to a learner's GET /learn/v1/courses (the catalog still answers)")
	noExchange := fs.Bool("no-exchange-token", false, "answer 404 on POST /manage/v1/user/exchange_token, an endpoint latchkey invented and no Docebo documentation describes")
	var keyFiles, redirects sandboxcmd.MultiFlag
	fs.Var(&keyFiles, "jwt-public-key", "PEM public key file for the JWT-bearer grant (repeatable)")
	fs.Var(&redirects, "redirect-uri", "registered redirect URI (repeatable; default: any loopback http URI)")
	verbose := fs.Bool("v", false, "log every request (paths only, never tokens)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}

	secret, secretSource, err := sandboxcmd.Secret(*secretFile, SecretEnv, sandbox.DefaultClientSecret)
	if err != nil {
		return err
	}
	if err := sandboxcmd.CheckLoopback(*listen, *allowRemote); err != nil {
		return err
	}
	log := sandboxcmd.Logger(stderr, *verbose)

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

		Audience:                *audience,
		ForbidLearnerCourseList: *forbidLearner,
		DisableExchangeToken:    *noExchange,
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
	if !*noExchange {
		log.Warn("serving POST /manage/v1/user/exchange_token: a latchkey invention that no Docebo documentation describes (--no-exchange-token turns it off)")
	}

	return sandboxcmd.Serve(ctx, ln, srv)
}
