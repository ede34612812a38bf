package service

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeLatchkey is an executable standing in for the latchkey binary, in a
// directory whose name has a space and a percent sign.
func fakeLatchkey(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "my apps 100%")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "latchkey")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\nexit 0\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	return exe
}

// TestUnitVerifies runs systemd-analyze verify on the rendered unit. It
// needs the systemd package (scripts/deps.sh verify); under CI=true a
// missing systemd-analyze is a failure.
func TestUnitVerifies(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("systemd-analyze not found and CI=true: install the systemd package (scripts/deps.sh verify)")
		}
		t.Skip("systemd-analyze not found (apt-get install systemd)")
	}
	o := testOptions(t, fakeLatchkey(t))
	unit, err := renderUnit(o)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, Name+".service")
	if err := os.WriteFile(path, unit, 0o600); err != nil {
		t.Fatal(err)
	}
	verify := func(path string) string {
		rt := filepath.Join(t.TempDir(), "run")
		os.MkdirAll(rt, 0o700)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, sa, "--user", "verify", path)
		cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+rt, "SYSTEMD_LOG_COLOR=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			return strings.TrimSpace(string(out)) + " (" + err.Error() + ")"
		}
		return strings.TrimSpace(string(out))
	}
	if out := verify(path); out != "" {
		t.Fatalf("systemd-analyze verify:\n%s\nunit:\n%s", out, unit)
	}
	// The check can fail: a unit with a missing executable does not verify.
	bad := bytes.ReplaceAll(unit, []byte(strings.ReplaceAll(o.Executable, "%", "%%")), []byte("/nonexistent/latchkey"))
	badPath := filepath.Join(t.TempDir(), Name+".service")
	os.WriteFile(badPath, bad, 0o600)
	if out := verify(badPath); !strings.Contains(out, "/nonexistent/latchkey") {
		t.Fatalf("systemd-analyze accepted a unit with a missing executable: %q", out)
	}
}

// fakeSystemctl puts a systemctl on PATH that records its arguments, and a
// user manager socket in XDG_RUNTIME_DIR, so Install takes the "manager
// running" path without touching the real systemd.
func fakeSystemctl(t *testing.T, fail string) (log string) {
	t.Helper()
	bin := t.TempDir()
	log = filepath.Join(bin, "calls")
	script := "#!/bin/sh\necho \"$*\" >> '" + log + "'\n"
	if fail != "" {
		script += "case \"$*\" in *'" + fail + "'*) echo 'Failed to " + fail + ": Unit latchkey.service has a bad setting.' >&2; exit 1;; esac\n"
	}
	if err := os.WriteFile(filepath.Join(bin, "systemctl"), []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	rt := t.TempDir()
	os.MkdirAll(filepath.Join(rt, "systemd"), 0o700)
	ln, err := net.Listen("unix", filepath.Join(rt, "systemd", "private"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	t.Setenv("XDG_RUNTIME_DIR", rt)
	return log
}

func readCalls(t *testing.T, log string) []string {
	t.Helper()
	b, err := os.ReadFile(log)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

func TestInstallWithUserManager(t *testing.T) {
	cfg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", cfg)
	log := fakeSystemctl(t, "")
	exe := fakeLatchkey(t)
	var out bytes.Buffer
	path, err := Install(Options{Executable: exe, Env: map[string]string{"LATCHKEY_LISTEN": "127.0.0.1:7777"}, Out: &out})
	if err != nil {
		t.Fatalf("Install: %v", err)
	}
	if want := filepath.Join(cfg, "systemd", "user", "latchkey.service"); path != want {
		t.Fatalf("Install path = %s, want %s", path, want)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("unit file mode %v, want 0600", fi.Mode().Perm())
	}
	unit, _ := os.ReadFile(path)
	if !strings.Contains(string(unit), `ExecStart="`+strings.ReplaceAll(exe, "%", "%%")+`" "daemon"`) ||
		!strings.Contains(string(unit), `Environment="LATCHKEY_LISTEN=127.0.0.1:7777"`) {
		t.Errorf("installed unit:\n%s", unit)
	}
	want := []string{"--user daemon-reload", "--user enable latchkey.service", "--user restart latchkey.service"}
	if got := readCalls(t, log); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("systemctl calls = %q, want %q", got, want)
	}
	if !strings.Contains(out.String(), "Enabled and started latchkey.service") {
		t.Errorf("Install said %q", out.String())
	}

	os.Remove(log)
	if err := Uninstall(); err != nil {
		t.Fatalf("Uninstall: %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("unit file still there after Uninstall: %v", err)
	}
	want = []string{"--user disable --now latchkey.service", "--user daemon-reload"}
	if got := readCalls(t, log); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("systemctl calls on uninstall = %q, want %q", got, want)
	}
	if err := Uninstall(); !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("second Uninstall = %v, want ErrNotInstalled", err)
	}
}

func TestInstallSystemctlFailureIsReported(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	fakeSystemctl(t, "restart")
	_, err := Install(Options{Executable: fakeLatchkey(t)})
	if err == nil || !strings.Contains(err.Error(), "bad setting") || !strings.Contains(err.Error(), "journalctl --user -u latchkey") {
		t.Fatalf("Install with a failing systemctl = %v", err)
	}
}

func TestInstallWithoutUserManager(t *testing.T) {
	cfg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", cfg)
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir()) // no systemd/private socket
	var out bytes.Buffer
	path, err := Install(Options{Executable: fakeLatchkey(t), Out: &out})
	if err != nil {
		t.Fatalf("Install: %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "systemctl --user enable --now latchkey.service") {
		t.Errorf("Install did not say how to start the unit: %q", out.String())
	}
	// Installing again replaces the unit (new args), atomically.
	if _, err := Install(Options{Executable: fakeLatchkey(t), Args: []string{"daemon", "--no-tray"}}); err != nil {
		t.Fatal(err)
	}
	unit, _ := os.ReadFile(path)
	if !strings.Contains(string(unit), `"daemon" "--no-tray"`) {
		t.Errorf("reinstalled unit:\n%s", unit)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("leftover files next to the unit: %v", entries)
	}
	if err := Uninstall(); err != nil {
		t.Fatal(err)
	}
}
