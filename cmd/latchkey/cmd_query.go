package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/client/apitype"
	"github.com/latchkey/latchkey/integrations"
	"github.com/latchkey/latchkey/vault/keychain"
)

func newStatusCmd(env *cliEnv) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the keychain, the vault key id, the state directory, sync and each integration's state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := env.status(cmd.Context())
			if err != nil {
				return err
			}
			if env.jsonOut {
				err = printJSON(env.stdout, st)
			} else {
				printStatus(env, st)
			}
			if err == nil && !st.Keychain.Reachable {
				// Printed what it could; the exit code still says no keychain answers.
				err = fmt.Errorf("%w: status printed without the vault (see the keychain line)", keychain.ErrUnavailable)
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&env.jsonOut, "json", false, "print as JSON")
	return cmd
}

// status asks the running daemon, or computes the status offline.
func (e *cliEnv) status(ctx context.Context) (*apitype.Status, error) {
	st, err := e.ctl.Status(ctx)
	if err == nil {
		return st, nil
	}
	if !errors.Is(err, client.ErrNotRunning) {
		return nil, err
	}
	d, err := e.openOfflineReadOnly(ctx)
	if err != nil {
		if errors.Is(err, keychain.ErrUnavailable) {
			return e.statusWithoutKeychain(err)
		}
		return nil, err
	}
	defer d.Close()
	return d.StatusDoc(ctx)
}

// statusWithoutKeychain reports what can be known when no keychain answers.
func (e *cliEnv) statusWithoutKeychain(kerr error) (*apitype.Status, error) {
	p, c, err := e.setup()
	if err != nil {
		return nil, err
	}
	st := &apitype.Status{
		Version: version, StateDir: p.StateDir, StorePath: p.DBPath(), ConfigFile: p.ConfigFile(),
		Keychain:     apitype.KeychainStatus{Backend: c.Keychain, Error: kerr.Error()},
		Daemon:       apitype.DaemonStatus{Socket: p.SocketPath()},
		Integrations: []apitype.IntegrationStatus{},
		Sync:         apitype.SyncStatus{Remote: c.Store},
		Desktop:      apitype.DesktopStatus{Tray: "off: the daemon is not running", Hotkey: "off: the daemon is not running"},
	}
	for _, n := range newRegistry().Names() {
		is := apitype.IntegrationStatus{Name: n, State: apitype.StateNotConfigured}
		if ic, ok := c.Integrations[n]; ok {
			is.Configured, is.URL, is.State = true, ic.URL, "unknown"
		}
		st.Integrations = append(st.Integrations, is)
	}
	return st, nil
}

func printStatus(env *cliEnv, st *apitype.Status) {
	if st.Daemon.Running {
		env.printf("latchkey %s: daemon running (pid %d) on http://%s\n", st.Version, st.Daemon.PID, st.Daemon.Listen)
	} else {
		env.printf("latchkey %s: daemon not running\n", st.Version)
	}
	if st.Keychain.Reachable {
		env.printf("keychain:  %s, reachable\n", st.Keychain.Backend)
	} else {
		env.printf("keychain:  %s, NOT reachable: %s\n", st.Keychain.Backend, st.Keychain.Error)
	}
	if st.KeyID != "" {
		env.printf("key id:    %s\n", st.KeyID)
	}
	if st.VaultNotice != "" {
		env.printf("vault:     %s\n", st.VaultNotice)
	}
	env.printf("state dir: %s\nstore:     %s\nconfig:    %s\n", st.StateDir, st.StorePath, st.ConfigFile)
	if st.Sync.Remote == "" {
		env.printf("sync:      local only (no remote store configured)\n")
	} else {
		line := fmt.Sprintf("sync:      %s, %d pending", st.Sync.Remote, st.Sync.Pending)
		if st.Sync.Down {
			line += ", store DOWN"
			if st.Sync.NextRetry != nil {
				line += " (next retry " + st.Sync.NextRetry.Local().Format(time.RFC3339) + ")"
			}
		}
		if st.Sync.LastSuccess != nil {
			line += ", last success " + st.Sync.LastSuccess.Local().Format(time.RFC3339)
		}
		if st.Sync.LastError != "" && (st.Sync.LastSuccess == nil || st.Sync.LastErrorAt == nil || st.Sync.LastErrorAt.After(*st.Sync.LastSuccess)) {
			line += ", last error: " + st.Sync.LastError // only while not recovered since
		}
		env.printf("%s\n", line)
		if st.Sync.Refused != "" {
			env.printf("sync:      rollback refused: %s\n", st.Sync.Refused)
		}
	}
	if st.Identity != nil {
		if st.Identity.SignedIn {
			env.printf("identity:  signed in to %s as %s\n", st.Identity.Issuer, firstNonEmpty(st.Identity.Email, st.Identity.Name, st.Identity.Subject))
		} else {
			env.printf("identity:  %s, not signed in (latchkey login)\n", st.Identity.Issuer)
		}
	}
	if st.Daemon.Running {
		env.printf("tray:      %s\nhotkey:    %s\n", st.Desktop.Tray, st.Desktop.Hotkey)
	}
	if len(st.Apps) > 0 {
		env.printf("apps with live grants (latchkey apps list):\n")
		for _, a := range st.Apps {
			env.printf("  %s  %s  %s, last used %s\n", a.ID, a.App, strings.Join(a.Integrations, ","), relTime(a.LastUsedAt, time.Now()))
		}
	}
	env.printf("integrations:\n")
	tw := tabwriter.NewWriter(env.stdout, 2, 4, 2, ' ', 0)
	for _, in := range st.Integrations {
		acct := ""
		if in.Account != nil {
			acct = firstNonEmpty(in.Account.Username, in.Account.Name, in.Account.ID)
			if in.Account.Email != "" && in.Account.Email != acct {
				acct += " <" + in.Account.Email + ">"
			}
		}
		extra := ""
		switch {
		case in.ConfigError != "":
			extra = "config error: " + in.ConfigError
		case in.Reason != "":
			extra = in.Reason
		case in.TokenExpiry != nil:
			extra = "token expires " + in.TokenExpiry.Local().Format(time.RFC3339)
		}
		if rb := in.RateBudget; rb != nil {
			budget := fmt.Sprintf("API budget %d left", rb.Remaining)
			if rb.Limit > 0 {
				budget = fmt.Sprintf("API budget %d/%d per minute left", rb.Remaining, rb.Limit)
			}
			extra = strings.TrimPrefix(extra+", "+budget, ", ")
		}
		if in.Managed {
			org := "managed by your organisation"
			if in.DisplayName != "" {
				org += " as \"" + in.DisplayName + "\""
			}
			extra = strings.TrimPrefix(extra+", "+org, ", ")
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", in.Name, statusWord(in.State), acct, extra)
	}
	tw.Flush()
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func newCoursesCmd(env *cliEnv) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "courses",
		Short: `List "My Courses": your enrollments in every connected LMS, in progress first`,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			doc, err := env.ctl.Courses(cmd.Context())
			if err != nil {
				return err
			}
			if env.jsonOut {
				if doc.Items == nil {
					doc.Items = []integrations.Course{}
				}
				if err := printJSON(env.stdout, map[string]any{"items": doc.Items, "errors": orEmpty(doc.Errors)}); err != nil {
					return err
				}
				return feedNeedsYou(doc.Errors)
			}
			printFeedErrors(env, doc.Errors)
			if len(doc.Items) == 0 {
				env.printf("No courses (is an LMS connected? latchkey status)\n")
				return feedNeedsYou(doc.Errors)
			}
			tw := tabwriter.NewWriter(env.stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "ID\tTITLE\tSTATUS\tPROGRESS\tURL\n")
			for _, c := range doc.Items {
				prog := ""
				if c.Progress != nil {
					prog = strconv.Itoa(int(*c.Progress+0.5)) + "%"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.ID, c.Title, statusWord(c.Status), prog, c.URL)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			return feedNeedsYou(doc.Errors)
		},
	}
	cmd.Flags().BoolVar(&env.jsonOut, "json", false, `print {"items": [...], "errors": [...]}`)
	return cmd
}

func orEmpty(e []apitype.FeedError) []apitype.FeedError {
	if e == nil {
		return []apitype.FeedError{}
	}
	return e
}

// feedNeedsYou is the error that makes a feed command exit 4 when an
// integration in its errors needs the user (reconnect, connect, configure);
// the errors themselves are already printed.
func feedNeedsYou(errs []apitype.FeedError) error {
	for _, e := range errs {
		switch e.Code {
		case "not_configured", "not_connected", "reconnect_needed", "config_error":
			return silentExit{code: exitNeedsAction}
		}
	}
	return nil
}

func printFeedErrors(env *cliEnv, errs []apitype.FeedError) {
	for _, e := range errs {
		fmt.Fprintf(env.stderr, "latchkey: %s\n", prefixed(e.Integration, e.Message))
	}
}

func newSearchCmd(env *cliEnv) *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "search QUERY",
		Short: "Search every connected integration at once (courses, articles, …)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("limit") && limit < 1 {
				return usageError{fmt.Sprintf("--limit %d: give at least 1", limit)}
			}
			doc, err := env.ctl.Search(cmd.Context(), strings.Join(args, " "), limit)
			if err != nil {
				return err
			}
			if env.jsonOut {
				if doc.Results == nil {
					doc.Results = []integrations.SearchResult{}
				}
				if err := printJSON(env.stdout, map[string]any{"results": doc.Results, "errors": orEmpty(doc.Errors)}); err != nil {
					return err
				}
				return feedNeedsYou(doc.Errors)
			}
			printFeedErrors(env, doc.Errors)
			if len(doc.Results) == 0 {
				env.printf("No results.\n")
				return feedNeedsYou(doc.Errors)
			}
			tw := tabwriter.NewWriter(env.stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "INTEGRATION\tID\tKIND\tTITLE\tURL\n")
			for _, r := range doc.Results {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Integration, r.ID, r.Kind, r.Title, r.URL)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			return feedNeedsYou(doc.Errors)
		},
	}
	cmd.Flags().BoolVar(&env.jsonOut, "json", false, `print {"results": [...], "errors": [...]}`)
	cmd.Flags().IntVar(&limit, "limit", 0, "at most this many results (default: the daemon's)")
	return cmd
}

func newTokenCmd(env *cliEnv) *cobra.Command {
	var scope []string
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Print a local client JWT for scripts (alone on stdout)",
		Long: `Print a short-lived local client JWT, alone on stdout, for scripts calling the
injector: curl -H "Authorization: Bearer $(latchkey token)" http://127.0.0.1:7788/v1/courses
--integrations limits which integrations it may reach (default: all).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if ttl <= 0 || ttl > 24*time.Hour {
				return usageError{fmt.Sprintf("--ttl %v: give a lifetime above 0 and at most 24h", ttl)}
			}
			if err := checkIntegrations(scope); err != nil {
				return err
			}
			tok, err := env.ctl.Token(cmd.Context(), apitype.TokenRequest{Integrations: scope, TTL: ttl})
			if err != nil {
				return err
			}
			fmt.Fprintln(env.stdout, tok)
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&scope, "integrations", nil, "integrations the token may use (comma-separated; default all)")
	cmd.Flags().DurationVar(&ttl, "ttl", time.Hour, "lifetime (at most 24h)")
	return cmd
}

func newAuditCmd(env *cliEnv) *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Show the local audit trail of injected calls (never a token)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 1 {
				return usageError{fmt.Sprintf("--limit %d: give at least 1", limit)}
			}
			entries, err := env.ctl.Audit(cmd.Context(), limit)
			if err != nil {
				return err
			}
			doc := apitype.AuditLog{Entries: entries}
			if env.jsonOut {
				out := make([]map[string]any, 0, len(doc.Entries))
				for _, e := range doc.Entries {
					out = append(out, map[string]any{"time": e.Time, "caller": e.Caller, "integration": e.Integration,
						"method": e.Method, "path": e.Path, "status": e.Status, "duration_ms": float64(e.Duration) / 1e6})
				}
				return printJSON(env.stdout, map[string]any{"entries": out})
			}
			tw := tabwriter.NewWriter(env.stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "TIME\tCALLER\tINTEGRATION\tREQUEST\tSTATUS\tDURATION\n")
			now := time.Now()
			for _, e := range doc.Entries {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s %s\t%d\t%s\n", relTime(e.Time, now), e.Caller, e.Integration, e.Method, e.Path, e.Status, roundDuration(e.Duration))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&env.jsonOut, "json", false, "print as JSON")
	cmd.Flags().IntVar(&limit, "limit", 100, "newest entries to show")
	return cmd
}

// roundDuration shows a call's duration to three significant figures or
// so: 1.2s, 48ms, 343µs (not "0s" for a fast local call).
func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(100 * time.Microsecond)
	default:
		return d.Round(time.Microsecond)
	}
}
