package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/client/apitype"
	"github.com/latchkey/latchkey/daemon"
)

func addIdentityCmds(root *cobra.Command, env *cliEnv) {
	root.AddCommand(newLoginCmd(env), newLogoutCmd(env), newClientsCmd(env), newOpenCmd(env))
}

func newLoginCmd(env *cliEnv) *cobra.Command {
	var noBrowser bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Sign in to your organisation's OpenID Connect identity provider",
		Long: `Sign in to the identity provider configured in [identity] (issuer, client_id;
the client secret is in the keychain: latchkey configure identity --issuer URL
--client-id ID reads it from stdin). Authorization code with PKCE, state and
nonce checked, ID token verified against the provider's keys.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl := &env.ctl
			ctx := cmd.Context()
			resp, err := cl.Login(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintln(env.stdout, resp.URL)
			if !noBrowser {
				if err := openBrowser(ctx, env, resp.URL); err != nil {
					fmt.Fprintf(env.stderr, "Could not open a browser (%v): open the URL above yourself.\n", err)
				}
			}
			fmt.Fprintf(env.stderr, "Waiting for you to sign in in the browser (Ctrl+C to cancel)…\n")
			wctx := ctx
			if timeout > 0 {
				var cancel context.CancelFunc
				wctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			if err := cl.WaitFlow(wctx, resp.Flow); err != nil {
				return err
			}
			fmt.Fprintf(env.stderr, "Signed in.\n")
			return nil
		},
	}
	cmd.Flags().BoolVar(&noBrowser, "no-browser", false, "print the sign-in URL instead of opening a browser")
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Minute, "give up waiting after this long")
	return cmd
}

func newLogoutCmd(env *cliEnv) *cobra.Command {
	return &cobra.Command{
		Use:   "logout",
		Short: "Sign out: end the session at the identity provider and delete the identity tokens",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, err := env.ctl.Logout(cmd.Context())
			if err != nil {
				return err
			}
			if out.ProviderSession {
				env.printf("Signed out; the session at the identity provider is ended.\n")
			} else {
				env.printf("Signed out locally; %s\n", out.Note)
			}
			return nil
		},
	}
}

func newClientsCmd(env *cliEnv) *cobra.Command {
	clients := &cobra.Command{Use: "clients", Short: "Personal OAuth2 clients for scripts and SDKs"}
	var expires string
	var scope []string
	var force bool
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a personal client; its secret is printed once and never again",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := parseDays(expires)
			if err != nil {
				return usageError{err.Error()}
			}
			if err := checkIntegrations(scope); err != nil {
				return err
			}
			if !force {
				cs, err := env.ctl.ListClients(cmd.Context())
				if err != nil {
					return err
				}
				for _, c := range cs {
					if c.Name == args[0] && c.State == "active" {
						return fmt.Errorf("a client named %q exists already (%s): revoke it (latchkey clients revoke %s), or add --force to make a second one", args[0], c.ID, c.ID)
					}
				}
			}
			nc, err := env.ctl.CreateClient(cmd.Context(), apitype.CreateClientRequest{Name: args[0], Expires: d, Integrations: scope})
			if err != nil {
				return err
			}
			if env.jsonOut {
				return printJSON(env.stdout, nc)
			}
			env.printf("client_id:     %s\nclient_secret: %s\n", nc.ID, nc.Secret)
			listen := daemon.DefaultListen
			if st, err := env.status(cmd.Context()); err == nil && st.Daemon.Listen != "" {
				listen = st.Daemon.Listen
			}
			fmt.Fprintf(env.stderr, "The secret is shown only now. Exchange them for a token:\n  curl -u %s:SECRET -d grant_type=client_credentials http://%s/oauth2/token\n", nc.ID, listen)
			return nil
		},
	}
	create.Flags().StringVar(&expires, "expires", "30d", "lifetime: e.g. 12h, 30d; 0 = never")
	create.Flags().BoolVar(&force, "force", false, "make the client even when an active one has this name")
	create.Flags().StringSliceVar(&scope, "integrations", nil, "integrations the client may use (default all)")
	create.Flags().BoolVar(&env.jsonOut, "json", false, "print as JSON")
	list := &cobra.Command{
		Use:   "list",
		Short: "List personal clients",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cs, err := env.ctl.ListClients(cmd.Context())
			if err != nil {
				return err
			}
			out := apitype.ClientList{Clients: cs}
			if env.jsonOut {
				if out.Clients == nil {
					out.Clients = []apitype.ClientInfo{}
				}
				return printJSON(env.stdout, out)
			}
			tw := tabwriter.NewWriter(env.stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "ID\tNAME\tSTATE\tINTEGRATIONS\tEXPIRES\n")
			for _, c := range out.Clients {
				exp := "never"
				if c.ExpiresAt != nil {
					exp = c.ExpiresAt.Local().Format(time.RFC3339)
				}
				in := strings.Join(c.Integrations, ",")
				if in == "" {
					in = "all"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.ID, c.Name, c.State, in, exp)
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&env.jsonOut, "json", false, "print as JSON")
	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a personal client now",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := env.ctl.RevokeClient(cmd.Context(), args[0]); err != nil {
				return err
			}
			env.printf("Revoked %s.\n", args[0])
			return nil
		},
	}
	clients.AddCommand(create, list, revoke)
	return clients
}

func newOpenCmd(env *cliEnv) *cobra.Command {
	var printURL bool
	cmd := &cobra.Command{
		Use:   "open NAME COURSE_ID",
		Short: "Open a course (a Docebo learning plan: lp-<id>) in the integration's web app, already signed in (a fresh short-lived credential, never the vault's token)",
		Args:  cobra.ExactArgs(2),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) == 0 {
				return completeIntegration(false)(cmd, args, "")
			}
			if len(args) > 1 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return completeCourse(cmd.Context(), env, args[0])
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkIntegration(args[0], false); err != nil {
				return err
			}
			if err := env.checkCourse(cmd.Context(), args[0], args[1]); err != nil {
				return err
			}
			u, err := env.ctl.SignInURL(cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			if printURL {
				fmt.Fprintln(env.stdout, u)
				return nil
			}
			return openOrPrint(cmd.Context(), env, u, "signed-in link (valid once, for a short time)")
		},
	}
	cmd.Flags().BoolVar(&printURL, "print-url", false, "print the signed-in URL instead of opening it (it holds a short-lived credential)")
	return cmd
}

// parseDays parses a duration that may end in d (days).
func parseDays(s string) (time.Duration, error) {
	if s == "0" || s == "" {
		return 0, nil
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days <= 0 {
			return 0, fmt.Errorf("--expires %q: use e.g. 30d or 12h", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("--expires %q: use e.g. 30d or 12h", s)
	}
	return d, nil
}
