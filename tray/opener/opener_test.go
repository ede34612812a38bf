package opener

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary stand in for a browser-opening command:
// with LK_OPENER_HELPER set it records its arguments and acts out a mode.
func TestMain(m *testing.M) {
	if mode := os.Getenv("LK_OPENER_HELPER"); mode != "" {
		helper(mode)
		return
	}
	os.Exit(m.Run())
}

func helper(mode string) {
	args := os.Args[1:]
	if i := indexOf(args, "--"); i >= 0 {
		args = args[i+1:]
	}
	if out := os.Getenv("LK_OPENER_OUT"); out != "" {
		os.WriteFile(out, []byte(strings.Join(args, "\x00")), 0o600)
	}
	switch mode {
	case "ok":
		os.Exit(0)
	case "env":
		// Record the environment the command was given instead.
		os.WriteFile(os.Getenv("LK_OPENER_OUT"), []byte(strings.Join(os.Environ(), "\x00")), 0o600)
		os.Exit(0)
	case "fail":
		// Like xdg-open: echo the URL back in the error.
		os.Stderr.WriteString("xdg-open: no method available for opening '" + args[len(args)-1] + "'\n")
		os.Exit(3)
	case "block":
		// Like a browser in the foreground: runs while the test's hold file
		// exists (t.TempDir removes it), a minute at most.
		for end := time.Now().Add(time.Minute); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
			if _, err := os.Stat(os.Getenv("LK_OPENER_HOLD")); err != nil {
				os.Exit(0)
			}
		}
		os.Exit(0)
	}
	os.Exit(2)
}

func indexOf(xs []string, s string) int {
	for i, x := range xs {
		if x == s {
			return i
		}
	}
	return -1
}

func helperCommand(t *testing.T, mode string, extra ...string) (cmd []string, out string) {
	t.Helper()
	out = filepath.Join(t.TempDir(), "argv")
	t.Setenv("LK_OPENER_HELPER", mode)
	t.Setenv("LK_OPENER_OUT", out)
	return append([]string{os.Args[0], "-test.run=^$", "--"}, extra...), out
}

func readArgv(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the open command did not run: %v", err)
	}
	return strings.Split(string(b), "\x00")
}

func TestOpenPassesURLVerbatimWithoutShell(t *testing.T) {
	cmd, out := helperCommand(t, "ok", "--new-window")
	marker := filepath.Join(t.TempDir(), "pwned")
	u := "http://127.0.0.1:8080/menu?code=abc$(touch " + marker + ");&b='c'`id`#frag"
	if err := Open(context.Background(), cmd, u); err != nil {
		t.Fatalf("Open: %v", err)
	}
	got := readArgv(t, out)
	if len(got) != 2 || got[0] != "--new-window" || got[1] != u {
		t.Fatalf("command got argv %q, want [--new-window %q]", got, u)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the URL went through a shell")
	}
}

func TestOpenRefusesNonHTTP(t *testing.T) {
	for _, u := range []string{"file:///etc/passwd", "-oProxyCommand=id", "javascript:alert(1)", "http:///nohost", "/relative", ""} {
		cmd, out := helperCommand(t, "ok")
		err := Open(context.Background(), cmd, u)
		if err == nil || !strings.Contains(err.Error(), "not absolute http(s)") {
			t.Errorf("Open(%q) = %v, want a refusal", u, err)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("Open(%q) ran the command", u)
		}
	}
}

func TestOpenFailureDoesNotLeakTheCode(t *testing.T) {
	cmd, _ := helperCommand(t, "fail")
	const code = "otc_5eCr3tOneTimeCode"
	err := Open(context.Background(), cmd, "http://127.0.0.1:9/menu/open?code="+code)
	if err == nil {
		t.Fatal("Open with a failing command returned nil")
	}
	if strings.Contains(err.Error(), code) {
		t.Fatalf("error leaks the one-time code: %v", err)
	}
	if !strings.Contains(err.Error(), "no method available") || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("error does not say what failed: %v", err)
	}
}

func TestOpenMissingCommand(t *testing.T) {
	err := Open(context.Background(), []string{"/nonexistent/latchkey-opener"}, "https://example.com/")
	if err == nil || !strings.Contains(err.Error(), "cannot run /nonexistent/latchkey-opener") {
		t.Fatalf("Open(missing command) = %v", err)
	}
	if err := Open(context.Background(), []string{""}, "https://example.com/"); err == nil {
		t.Fatal("Open with an empty command name returned nil")
	}
}

func TestOpenLeavesAForegroundBrowserRunning(t *testing.T) {
	cmd, out := helperCommand(t, "block")
	hold := filepath.Join(t.TempDir(), "hold")
	if err := os.WriteFile(hold, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("LK_OPENER_HOLD", hold)
	// settle 0: the command is still running when the timer fires.
	if err := open(context.Background(), cmd, "http://127.0.0.1/", 0); err != nil {
		t.Fatalf("open with a command still running: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(out); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the command never started")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestOpenCancel(t *testing.T) {
	cmd, _ := helperCommand(t, "block")
	hold := filepath.Join(t.TempDir(), "hold")
	if err := os.WriteFile(hold, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("LK_OPENER_HOLD", hold)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := open(ctx, cmd, "http://127.0.0.1/", time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("open with a cancelled ctx = %v, want context.Canceled", err)
	}
}

func TestDefault(t *testing.T) {
	if d := Default(); len(d) == 0 || d[0] == "" {
		t.Fatalf("Default() = %q", d)
	}
}

// TestOpenDoesNotPassTheKeychainPassphrase: the opened program (a browser
// the user chose) never sees the file keychain's passphrase.
func TestOpenDoesNotPassTheKeychainPassphrase(t *testing.T) {
	t.Setenv("LATCHKEY_KEYCHAIN_PASSPHRASE", "file keychain passphrase 4711")
	t.Setenv("LK_OPENER_KEEP", "kept")
	cmd, out := helperCommand(t, "env")
	if err := Open(context.Background(), cmd, "http://127.0.0.1:1/menu"); err != nil {
		t.Fatalf("Open: %v", err)
	}
	env := readArgv(t, out)
	kept := false
	for _, kv := range env {
		if strings.HasPrefix(kv, "LATCHKEY_KEYCHAIN_PASSPHRASE=") || strings.Contains(kv, "passphrase 4711") {
			t.Errorf("the open command was given %q", kv)
		}
		kept = kept || kv == "LK_OPENER_KEEP=kept"
	}
	if !kept {
		t.Errorf("the open command lost the rest of the environment: %q", env)
	}
}

func TestOpenAppGivesTheURLAsAppWindow(t *testing.T) {
	cmd, out := helperCommand(t, "ok")
	u := "http://127.0.0.1:8080/menu#code=abc"
	if err := OpenApp(context.Background(), cmd, u); err != nil {
		t.Fatalf("OpenApp: %v", err)
	}
	if got := readArgv(t, out); len(got) != 1 || got[0] != "--app="+u {
		t.Fatalf("browser got argv %q, want [--app=%s]", got, u)
	}
	// The same checks as Open: a browser never gets a non-http(s) URL.
	cmd, out = helperCommand(t, "ok")
	if err := OpenApp(context.Background(), cmd, "file:///etc/passwd"); err == nil {
		t.Fatal("OpenApp opened a file: URL")
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("OpenApp ran the browser for a refused URL")
	}
	// A failure names neither the URL nor its code.
	cmd, _ = helperCommand(t, "fail")
	if err := OpenApp(context.Background(), cmd, u); err == nil || strings.Contains(err.Error(), "abc") {
		t.Fatalf("OpenApp failure = %v, want an error without the code", err)
	}
}
