package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/client/apitype"
	"github.com/latchkey/latchkey/integrations"
	"github.com/latchkey/latchkey/tray/opener"
)

func newConnectCmd(env *cliEnv) *cobra.Command {
	var (
		noBrowser bool
		grant     string
		username  string
		timeout   time.Duration
	)
	cmd := &cobra.Command{
		Use:   "connect NAME",
		Short: "Connect an integration (OAuth consent in the browser, or another grant)",
		Long: `Connect an integration. With the authorization-code grant (the default) the
consent URL is opened in the browser (--no-browser prints it on a line of its
own) and the command waits until the provider redirects back to the daemon's
loopback listener, then exits 0. Ctrl+C or --timeout end the wait.

Other grants: --grant password (the password is prompted without echo and
never stored), --grant client_credentials, --grant jwt-bearer --username NAME
(after latchkey keys generate NAME).`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeIntegration(false),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := checkIntegration(name, false); err != nil {
				return err
			}
			if timeout <= 0 {
				return usageError{fmt.Sprintf("--timeout %v: give a positive duration, e.g. 10m", timeout)}
			}
			cl := &env.ctl
			ctx := cmd.Context()
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			req := apitype.GrantRequest{Grant: integrations.Grant(grant), Username: username}
			switch grant {
			case "", "authorization_code", "code":
				req.Grant = ""
			case "jwt-bearer", "jwt_bearer", string(integrations.GrantJWTBearer):
				if username == "" {
					return usageError{"--grant jwt-bearer needs --username (the user the key signs in as)"}
				}
				req.Grant = integrations.GrantJWTBearer
			case "password":
				if username == "" {
					return usageError{"--grant password needs --username"}
				}
				pw, err := env.readSecret(fmt.Sprintf("%s password for %s: ", name, username))
				if err != nil {
					return err
				}
				req.Password = pw
			case "client_credentials", "client-credentials":
				req.Grant = integrations.GrantClientCredentials
			default:
				return usageError{fmt.Sprintf("--grant %q: use authorization_code, password, client_credentials or jwt-bearer", grant)}
			}
			resp, err := cl.Connect(ctx, name, req)
			if err != nil {
				return err
			}
			if resp.URL == "" {
				env.printf("%s connected.\n", name)
				return nil
			}
			fmt.Fprintln(env.stdout, resp.URL)
			if !noBrowser {
				if err := openBrowser(ctx, env, resp.URL); err != nil {
					fmt.Fprintf(env.stderr, "Could not open a browser (%s): open the URL above yourself.\n", browserProblem(err))
				}
			}
			fmt.Fprintf(env.stderr, "Waiting for you to approve latchkey in the browser (Ctrl+C to cancel)…\n")
			if err := cl.WaitFlow(ctx, resp.Flow); err != nil {
				if errors.Is(err, context.DeadlineExceeded) {
					return fmt.Errorf("timed out waiting for the consent: %w", err)
				}
				if errors.Is(err, context.Canceled) {
					return fmt.Errorf("cancelled: %w", err)
				}
				return err
			}
			fmt.Fprintf(env.stderr, "%s connected.\n", name)
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&noBrowser, "no-browser", false, "print the consent URL instead of opening a browser")
	f.StringVar(&grant, "grant", "", "authorization_code (default), password, client_credentials or jwt-bearer")
	f.StringVar(&username, "username", "", "user name for the password and JWT-bearer grants")
	f.DurationVar(&timeout, "timeout", 10*time.Minute, "give up waiting after this long")
	return cmd
}

func newDisconnectCmd(env *cliEnv) *cobra.Command {
	return &cobra.Command{
		Use:               "disconnect NAME",
		Short:             "Disconnect an integration and delete its sealed tokens here and in the remote store",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeIntegration(false),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkIntegration(args[0], false); err != nil {
				return err
			}
			if err := env.ctl.Disconnect(cmd.Context(), args[0]); err != nil {
				return err
			}
			env.printf("%s disconnected.\n", args[0])
			return nil
		},
	}
}

// browserProblem is an opener's failure in a few words: "no browser is
// installed" for xdg-open's "no method available" (exit 3) and a missing
// command, else its first line.
func browserProblem(err error) string {
	s := err.Error()
	if strings.Contains(s, "exit status 3") || strings.Contains(s, "not found") || strings.Contains(s, "executable file not found") || strings.Contains(s, "cannot run") {
		return "no browser is installed here"
	}
	return oneLine(s)
}

// openOrPrint opens url in the browser, or, when that fails (no browser, no
// display), prints it on a line of its own for the user to open, as
// connect does; what tells the user is on stderr.
func openOrPrint(ctx context.Context, env *cliEnv, url, what string) error {
	if err := openBrowser(ctx, env, url); err != nil {
		fmt.Fprintln(env.stdout, url)
		fmt.Fprintf(env.stderr, "Could not open a browser (%s): open the %s above yourself.\n", browserProblem(err), what)
	}
	return nil
}

// openBrowser runs the configured opener (open_command /
// LATCHKEY_OPEN_COMMAND) or the platform default, without a shell.
func openBrowser(ctx context.Context, env *cliEnv, url string) error {
	_, c, err := env.setup()
	if err != nil {
		return err
	}
	return opener.Open(ctx, c.OpenCommand, url)
}
