// Command document360-sandbox serves a Document360-compatible API (v2 and v3
// article search and lookup, rate limits) and identity server (the widget
// token endpoint) on loopback, for tests and `make run`.
//
// Secrets are read from files or the environment, never printed:
//
//	--api-token-file FILE   v2 api_token (env DOCUMENT360_SANDBOX_API_TOKEN);
//	                        a missing FILE is created (0600) with a random token
//	--api-key-file FILE     v3 X-API-Key (env DOCUMENT360_SANDBOX_API_KEY); optional
//	--client-secret-file F  widget client secret (env DOCUMENT360_SANDBOX_CLIENT_SECRET;
//	                        --client-secret also works but shows in ps)
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strings"

	"github.com/latchkey/latchkey/integrations/document360/sandbox"
	"github.com/latchkey/latchkey/internal/sandboxcmd"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "document360-sandbox:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fl := flag.NewFlagSet("document360-sandbox", flag.ContinueOnError)
	listen := fl.String("listen", "127.0.0.1:8802", "loopback address to listen on")
	tokenFile := fl.String("api-token-file", "", "file holding the v2 api_token (created with a random token if missing)")
	keyFile := fl.String("api-key-file", "", "file holding the v3 X-API-Key (optional)")
	project := fl.String("project", sandbox.DefaultProjectID, "project id")
	version := fl.String("version", sandbox.DefaultVersionID, "project version id (v3 workspace id)")
	lang := fl.String("lang", sandbox.DefaultLang, "language code")
	clientID := fl.String("client-id", "", "widget client id (default: the project id)")
	secretFile := fl.String("client-secret-file", "", "file holding the widget client secret")
	secretFlag := fl.String("client-secret", "", "widget client secret (prefer --client-secret-file or the environment)")
	widgetID := fl.String("widget-id", "", "widget id the token payload must name (empty: any)")
	widgetPath := fl.String("widget-token-path", sandbox.DefaultWidgetTokenPath, "path of the widget token endpoint")
	rateLimit := fl.Int("rate-limit", 100, "API requests per minute per token (0: unlimited)")
	latency := fl.Duration("latency", 0, "delay every answer by this much")
	publicURL := fl.String("public-url", "", "KB site base for article URLs (default: this server)")
	verbose := fl.Bool("v", false, "log every request")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fl.Args())
	}
	if !strings.HasPrefix(*widgetPath, "/") || strings.ContainsAny(*widgetPath, " {}?#") {
		return fmt.Errorf("--widget-token-path %q: want an absolute path such as /connect/token", *widgetPath)
	}
	if err := sandboxcmd.CheckLoopback(*listen, false); err != nil {
		return err
	}

	token, err := secret(*tokenFile, "DOCUMENT360_SANDBOX_API_TOKEN", "", true)
	if err != nil {
		return fmt.Errorf("api token: %w", err)
	}
	if token == "" {
		return errors.New("no api token: give --api-token-file FILE or set DOCUMENT360_SANDBOX_API_TOKEN")
	}
	apiKey, err := secret(*keyFile, "DOCUMENT360_SANDBOX_API_KEY", "", false)
	if err != nil {
		return fmt.Errorf("api key: %w", err)
	}
	clientSecret, err := secret(*secretFile, "DOCUMENT360_SANDBOX_CLIENT_SECRET", *secretFlag, false)
	if err != nil {
		return fmt.Errorf("client secret: %w", err)
	}

	logger := sandboxcmd.Logger(os.Stderr, *verbose)
	srv := sandbox.New(sandbox.Options{
		APIToken: token, APIKey: apiKey,
		ProjectID: *project, VersionID: *version, Lang: *lang,
		ClientID: *clientID, ClientSecret: clientSecret, WidgetID: *widgetID, WidgetTokenPath: *widgetPath,
		RateLimit: *rateLimit, PublicURL: *publicURL, Logger: logger,
	})
	srv.SetLatency(*latency)

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	logger.Info("document360 sandbox listening", "url", "http://"+ln.Addr().String(),
		"project", *project, "version", *version, "v3", apiKey != "", "widget_tokens", clientSecret != "",
		"rate_limit_per_minute", *rateLimit)
	return sandboxcmd.Serve(context.Background(), ln, srv)
}

// secret reads a secret from file, else the environment variable env, else
// flagValue. With create, a missing file is created (0600) holding a random
// value.
func secret(file, env, flagValue string, create bool) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if errors.Is(err, fs.ErrNotExist) && create {
			buf := make([]byte, 24)
			if _, err := rand.Read(buf); err != nil {
				return "", err
			}
			v := hex.EncodeToString(buf)
			if err := os.WriteFile(file, []byte(v+"\n"), 0o600); err != nil {
				return "", err
			}
			return v, nil
		}
		if err != nil {
			return "", err
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", fmt.Errorf("%s is empty", file)
		}
		return v, nil
	}
	if v := strings.TrimSpace(os.Getenv(env)); v != "" {
		return v, nil
	}
	return strings.TrimSpace(flagValue), nil
}
