// Command latchkey is the per-user latchkey daemon and its CLI: it keeps a
// person's OAuth tokens for SaaS tools sealed in a vault whose key lives in
// the OS keychain, and lets desktop apps use those tools through a loopback
// token injector without ever seeing the tokens.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/client/apitype"
	"github.com/latchkey/latchkey/daemon"
	"github.com/latchkey/latchkey/integrations"
	"github.com/latchkey/latchkey/internal/manpages"
	"github.com/latchkey/latchkey/vault/keychain"
)

// version and commit are set at build time with
// -ldflags "-X main.version=… -X main.commit=…" (make package does).
var (
	version = "dev"
	commit  = ""
)

// Exit codes (documented in the README).
const (
	exitOK          = 0
	exitError       = 1
	exitUsage       = 2
	exitNotRunning  = 3
	exitNeedsAction = 4 // not configured, not connected, reconnect needed
	exitKeychain    = 5
	exitCancelled   = 6 // timed out or interrupted
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes the CLI and returns the exit code; it prints errors as one
// line on stderr.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	env := &cliEnv{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv}
	root := newRootCmd(env)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	var ue usageError
	if errors.As(err, &ue) || strings.HasPrefix(err.Error(), "unknown command") || strings.HasPrefix(err.Error(), "unknown flag") || strings.HasPrefix(err.Error(), "unknown shorthand flag") ||
		strings.HasPrefix(err.Error(), "accepts ") || strings.HasPrefix(err.Error(), "requires ") || strings.Contains(err.Error(), "flag needs an argument") ||
		strings.HasPrefix(err.Error(), "invalid argument") {
		fmt.Fprintf(stderr, "latchkey: %s (see %s --help)\n", usageLine(err.Error()), helpPath(cmd))
		return exitUsage
	}
	var se silentExit
	if errors.As(err, &se) {
		return se.code
	}
	msg := oneLine(err.Error())
	if errors.Is(err, client.ErrNotRunning) {
		if alt := elsewhere(env); alt != "" {
			msg = alt
		}
	}
	fmt.Fprintf(stderr, "latchkey: %s\n", msg)
	return exitCode(ctx, err)
}

// usageLine is cobra's usage error on one line: an unknown command's
// suggestions ("Did you mean this?\n\tstatus") become "; did you mean status?".
func usageLine(s string) string {
	first := oneLine(s)
	if _, rest, ok := strings.Cut(s, "Did you mean this?"); ok {
		var sugg []string
		for _, l := range strings.Split(rest, "\n") {
			if l = strings.TrimSpace(l); l != "" {
				sugg = append(sugg, l)
			}
		}
		if len(sugg) > 0 {
			first += "; did you mean " + strings.Join(sugg, " or ") + "?"
		}
	}
	return first
}

// helpPath is the command whose --help a usage error points at: the verb
// that failed, or latchkey itself.
func helpPath(cmd *cobra.Command) string {
	if cmd == nil {
		return "latchkey"
	}
	return cmd.CommandPath()
}

// elsewhere is what to say instead, when no daemon answers on this user's control socket, that
// one answers on the configured loopback port all the same (a daemon of
// other XDG directories, as `make run` starts: `source .demo/env` first).
func elsewhere(env *cliEnv) string {
	_, c, err := env.setup()
	addr := daemon.DefaultListen
	if err == nil && c.Listen != "" {
		addr = c.Listen
	}
	hc := &http.Client{Timeout: 500 * time.Millisecond}
	resp, err := hc.Get("http://" + addr + "/healthz")
	if err != nil {
		return ""
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return ""
	}
	return fmt.Sprintf("the latchkey daemon of these directories is not running, but one answers on %s: it runs with other XDG directories (for the demo: source .demo/env first)", addr)
}

// silentExit ends a command with code once it has said everything itself.
type silentExit struct{ code int }

func (e silentExit) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func exitCode(ctx context.Context, err error) int {
	var ae *client.APIError
	switch {
	case errors.Is(err, client.ErrNotRunning):
		return exitNotRunning
	case errors.Is(err, keychain.ErrUnavailable):
		return exitKeychain
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded), ctx.Err() != nil:
		return exitCancelled
	case errors.Is(err, integrations.ErrNotConnected), errors.Is(err, integrations.ErrReconnectNeeded), errors.Is(err, daemon.ErrNotConfigured):
		return exitNeedsAction
	case errors.As(err, &ae):
		switch ae.Code {
		case apitype.CodeNotConfigured, apitype.CodeNotConnected, apitype.CodeReconnectNeeded:
			return exitNeedsAction
		case apitype.CodeKeychainUnavailable:
			return exitKeychain
		}
	}
	return exitError
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// cliEnv is what every command reads and writes; no globals.
type cliEnv struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string

	// ctl talks to the running daemon (zero value: the user's control
	// socket).
	ctl client.Client

	// flags shared by every command
	listen  string
	jsonOut bool
}

func newRootCmd(env *cliEnv) *cobra.Command {
	root := &cobra.Command{
		Use:   "latchkey",
		Short: "Keep your SaaS tokens sealed, and let desktop apps use them without seeing them",
		Long: `latchkey is a per-user daemon that holds your OAuth tokens for SaaS tools
(Docebo, Document360, …) sealed with a key from your OS keychain, and serves
them to desktop apps through a loopback token injector, enterprise search and
a "My Courses" feed.

Settings come from flags, then LATCHKEY_* environment variables, then the
TOML file in the user config directory ($XDG_CONFIG_HOME/latchkey/config.toml).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	root.SetVersionTemplate("latchkey {{.Version}}\n")
	root.AddCommand(
		newDaemonCmd(env), newConfigureCmd(env), newConnectCmd(env), newDisconnectCmd(env),
		newStatusCmd(env), newCoursesCmd(env), newSearchCmd(env), newTokenCmd(env), newAuditCmd(env),
		newInstallCmd(env), newUninstallCmd(env), newVersionCmd(env), newRotateKeyCmd(env),
		newKeysCmd(env), newMenuCmd(env), newAppsCmd(env), newMCPCmd(env),
	)
	addIdentityCmds(root, env)
	root.AddCommand(newProvisionCmd(env))
	root.AddCommand(manpages.Command(root, "latchkey "+version))
	return root
}
