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
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"flag"

	"github.com/latchkey/latchkey/integrations/oidc/sandbox"
	"github.com/latchkey/latchkey/internal/sandboxcmd"
)

// SecretEnv names the environment variable holding the client secret.
const SecretEnv = "OIDC_SANDBOX_CLIENT_SECRET"

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
	var redirects sandboxcmd.MultiFlag
	fs.Var(&redirects, "redirect-uri", "registered redirect URI, matched exactly (repeatable), e.g. http://127.0.0.1:7788/identity/connected")
	verbose := fs.Bool("v", false, "debug logging (never tokens)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	secret, source, err := sandboxcmd.Secret(*secretFile, SecretEnv, sandbox.DefaultClientSecret)
	if err != nil {
		return err
	}
	if err := sandboxcmd.CheckLoopback(*listen, false); err != nil {
		return err
	}
	log := sandboxcmd.Logger(stderr, *verbose)

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

	return sandboxcmd.Serve(ctx, ln, p)
}
