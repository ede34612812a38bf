package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain makes the test binary double as the latchkey command: run as
// "latchkey" (by a script of TestScripts) it is the CLI itself, else it
// builds the binary for cli_test.go and runs the tests.
func TestMain(m *testing.M) {
	testscript.Main(buildFirst{m}, map[string]func(){
		"latchkey": func() { os.Exit(scriptMain()) },
	})
}

// scriptMain is main without its os.Exit, for testscript.
func scriptMain() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
}

// TestScripts runs testdata/script/*.txtar: what a user types and sees
// without a running daemon (help, version, usage errors and their exit
// codes, configure's checks, commands without a keychain). Each script has
// its own XDG directories under $WORK, no tray, and no keychain: the
// session bus named does not exist, and LATCHKEY_KEYCHAIN=file is a
// script's explicit opt-in. UPDATE_SCRIPTS=1 rewrites a script's expected
// files from what the commands print when a cmp fails.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		UpdateScripts:       os.Getenv("UPDATE_SCRIPTS") == "1",
		Setup: func(e *testscript.Env) error {
			for _, d := range []string{"state", "config", "data", "run"} {
				if err := os.MkdirAll(filepath.Join(e.WorkDir, d), 0o700); err != nil {
					return err
				}
			}
			e.Setenv("XDG_STATE_HOME", filepath.Join(e.WorkDir, "state"))
			e.Setenv("XDG_CONFIG_HOME", filepath.Join(e.WorkDir, "config"))
			e.Setenv("XDG_DATA_HOME", filepath.Join(e.WorkDir, "data"))
			e.Setenv("XDG_RUNTIME_DIR", filepath.Join(e.WorkDir, "run"))
			e.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path="+filepath.Join(e.WorkDir, "no-session-bus"))
			e.Setenv("LATCHKEY_NO_TRAY", "1")
			// Not the machine's /etc/latchkey/managed.toml: a script writes its own.
			e.Setenv("LATCHKEY_MANAGED_CONFIG", filepath.Join(e.WorkDir, "managed.toml"))
			return nil
		},
		Cmds: map[string]func(*testscript.TestScript, bool, []string){"exits": cmdExits},
	})
}

// cmdExits is the script command "exits CODES PROGRAM [ARG...]": it runs
// PROGRAM like exec and fails unless it exits with one of CODES (one code,
// or several separated by "|"). Its stdout and stderr are kept for the
// stdout and stderr commands that follow.
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits CODES PROGRAM [ARG...]")
	}
	want := map[int]bool{}
	for _, c := range strings.Split(args[0], "|") {
		n, err := strconv.Atoi(c)
		if err != nil {
			ts.Fatalf("exits: bad exit code %q", c)
		}
		want[n] = true
	}
	code := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("exits: %v", err)
		}
		code = ee.ExitCode()
	}
	if !want[code] {
		ts.Fatalf("%s exited %d, want %s", args[1], code, args[0])
	}
}
