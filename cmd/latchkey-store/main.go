package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/latchkey/latchkey/internal/manpages"
	"github.com/latchkey/latchkey/vault/storeserver"
)

// version and commit are set at build time with
// -ldflags "-X main.version=… -X main.commit=…" (make package does).
var (
	version = "dev"
	commit  = ""
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd(os.Stdout, os.Stderr, nil).ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "latchkey-store:", err)
		os.Exit(1)
	}
}

// newRootCmd builds the CLI. ready, when not nil, is passed to the server
// (tests learn the bound addresses from it): listener is "api" or
// "metrics".
func newRootCmd(stdout, stderr io.Writer, ready func(listener, addr string)) *cobra.Command {
	root := &cobra.Command{
		Use:           "latchkey-store",
		Short:         "latchkey's remote store: sealed token envelopes, ciphertext only",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(&cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if commit != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "latchkey-store %s (commit %s)\n", version, commit)
				return nil
			}
			fmt.Fprintln(cmd.OutOrStdout(), "latchkey-store", version)
			return nil
		},
	})

	var o storeserver.Options
	var logLevel, logFormat string
	serve := &cobra.Command{
		Use:   "serve",
		Short: "Serve the store API",
		Long: `Serve the store API.

Every flag has an environment equivalent: LATCHKEY_STORE_ followed by the flag
name in upper case with dashes as underscores (LATCHKEY_STORE_DB,
LATCHKEY_STORE_JWKS_URL, …). A flag on the command line wins.

Plain HTTP is served on loopback addresses only; anything else needs
--tls-cert and --tls-key.

Organisation integrations (PUT/GET/DELETE /v1/admin/integrations/NAME,
GET /v1/org/integrations) keep each client secret sealed at rest under a key
from --secrets-key-file: one base64 32-byte key per line, the current key
first (make one with "latchkey-store new-secrets-key"; the file must be
mode 0600). Without it a client secret is refused. To rotate: put a new key
on the first line, keep the old one below it, restart (every secret is
re-sealed under the new key at start-up; the log says how many), then remove
the old line.

The admin console (/admin) is on when --console-client-id is given: register
that client at --issuer with the redirect URI <--console-url>/admin/callback
(authorization code + PKCE). Administrators are those --admin-claim and
--admin-value mark, as for the admin API. It needs --secrets-key-file.

Prometheus metrics (/metrics) are not served on --listen: give
--metrics-listen ADDR to serve them on a listener of their own (same TLS and
loopback rule), reachable by whoever can reach that address.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := envDefaults(cmd.Flags()); err != nil {
				return err
			}
			log, err := newLogger(stderr, logLevel, logFormat)
			if err != nil {
				return err
			}
			o.Logger = log
			if ready != nil {
				o.Ready = func(a net.Addr) { ready("api", a.String()) }
				o.MetricsReady = func(a net.Addr) { ready("metrics", a.String()) }
			}
			return storeserver.Run(cmd.Context(), o)
		},
	}
	f := serve.Flags()
	f.StringVar(&o.Listen, "listen", storeserver.DefaultListen, "address to listen on (plain HTTP: loopback only)")
	f.StringVar(&o.DB, "db", "", "database: sqlite:///path/store.db or postgres://user@host/db (default: sqlite in $XDG_STATE_HOME/latchkey/store.db)")
	f.StringVar(&o.TLSCert, "tls-cert", "", "TLS certificate file (PEM)")
	f.StringVar(&o.TLSKey, "tls-key", "", "TLS private key file (PEM)")
	f.StringVar(&o.Issuer, "issuer", "", "identity provider issuer URL (OIDC discovery; tokens' iss must match)")
	f.StringVar(&o.JWKSURL, "jwks-url", "", "identity provider JWKS URL (instead of discovery)")
	f.StringVar(&o.Audience, "audience", "", "audience (aud) tokens must carry (required)")
	f.StringVar(&o.AdminClaim, "admin-claim", "", "token claim that marks administrators, e.g. groups")
	f.StringVar(&o.AdminValue, "admin-value", "", "value (or array element) of --admin-claim that marks administrators")
	f.StringVar(&o.MetricsListen, "metrics-listen", "", "serve Prometheus /metrics on this address of its own (default: not served; plain HTTP: loopback only)")
	f.StringVar(&o.SecretsKeyFile, "secrets-key-file", "", "file of keys sealing the org integrations' client secrets (current key first; see above)")
	f.StringVar(&o.ConsoleClientID, "console-client-id", "", "OIDC client id of the admin console at --issuer (turns /admin on)")
	f.StringVar(&o.ConsoleClientSecretFile, "console-client-secret-file", "", "file holding the admin console's OIDC client secret")
	f.StringVar(&o.ConsoleURL, "console-url", "", "the store's public URL, for the console's redirect URI (default: the --listen address)")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	f.StringVar(&logFormat, "log-format", "text", "log format: text or json")
	root.AddCommand(serve)
	root.AddCommand(manpages.Command(root, "latchkey-store "+version))
	root.AddCommand(&cobra.Command{
		Use:   "new-secrets-key",
		Short: "Print a new random key for --secrets-key-file",
		Long: `Print a new random 32-byte key, base64, for --secrets-key-file:

  latchkey-store new-secrets-key > secrets.key && chmod 600 secrets.key

To rotate, put the new key on the first line of the existing file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			line, err := storeserver.NewSecretsKeyLine()
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), line)
			return nil
		},
	})
	return root
}

// envDefaults fills every flag not given on the command line from its
// LATCHKEY_STORE_* variable.
func envDefaults(fs *pflag.FlagSet) error {
	var err error
	fs.VisitAll(func(fl *pflag.Flag) {
		if fl.Changed || err != nil {
			return
		}
		name := "LATCHKEY_STORE_" + strings.ToUpper(strings.ReplaceAll(fl.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok && v != "" {
			if e := fl.Value.Set(v); e != nil {
				err = fmt.Errorf("%s: %w", name, e)
			}
		}
	})
	return err
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", format)
	}
}
