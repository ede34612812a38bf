//go:build unix

package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/userdirs"
)

// TestEnsureDirRefusesWhatIsNotPrivate: a directory latchkey uses must be a
// real directory of the current user; a too-open one of ours is tightened.
func TestEnsureDirRefusesWhatIsNotPrivate(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	mine := filepath.Join(base, "mine")
	if err := os.Mkdir(mine, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := ensureDir(mine, "XDG_STATE_HOME"); err != nil {
		t.Fatalf("own directory refused: %v", err)
	}
	if fi, _ := os.Stat(mine); fi.Mode().Perm() != 0o700 {
		t.Errorf("own directory left at %v, want 0700", fi.Mode().Perm())
	}
	created := filepath.Join(base, "a", "b", "latchkey")
	if err := ensureDir(created, "XDG_STATE_HOME"); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(created); fi.Mode().Perm() != 0o700 {
		t.Errorf("new directory made with %v, want 0700", fi.Mode().Perm())
	}

	link := filepath.Join(base, "link")
	if err := os.Symlink(mine, link); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(base, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{link: "is a symbolic link", file: "is not a directory"}
	if os.Getuid() == 0 {
		foreign := filepath.Join(base, "foreign")
		if err := os.Mkdir(foreign, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(foreign, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		cases[foreign] = "belongs to uid 65534"
	}
	for dir, want := range cases {
		err := ensureDir(dir, "XDG_RUNTIME_DIR")
		if err == nil || !strings.Contains(err.Error(), dir+" "+want) || !strings.Contains(err.Error(), "set XDG_RUNTIME_DIR") || strings.Contains(err.Error(), "\n") {
			t.Errorf("ensureDir(%s) = %v, want one line saying it %s and what to do", dir, err, want)
		}
	}
	if fi, _ := os.Lstat(link); fi.Mode()&os.ModeSymlink == 0 {
		t.Error("the symbolic link was replaced")
	}
}

// TestRuntimeDirFallbackIsNotShared: without XDG_RUNTIME_DIR the control
// socket's directory is not one another user can create first in the shared
// temporary directory.
func TestRuntimeDirFallbackIsNotShared(t *testing.T) {
	state := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", "")
	t.Setenv("XDG_STATE_HOME", state)
	p, err := DefaultPaths()
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(p.RuntimeDir, os.TempDir()+string(filepath.Separator)) && !strings.HasPrefix(p.RuntimeDir, state) {
		t.Fatalf("runtime dir %s is in the shared temporary directory", p.RuntimeDir)
	}
	if d := userdirs.LoginRuntimeDir(); d == "" && p.RuntimeDir != filepath.Join(state, "latchkey", "run") {
		t.Errorf("runtime dir %s, want %s", p.RuntimeDir, filepath.Join(state, "latchkey", "run"))
	}
}

// TestLoadConfigRefusesForeignDir: a configuration directory another user
// owns could point an integration at their server; it is refused, not read.
func TestLoadConfigRefusesForeignDir(t *testing.T) {
	t.Parallel()
	if os.Getuid() != 0 {
		t.Skip("needs root to make a directory another user's")
	}
	dir := filepath.Join(t.TempDir(), "latchkey")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(path, []byte("[integrations.docebo]\nurl = \"https://attacker.example\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	_, err := LoadConfig(path, func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), dir+" belongs to uid 65534") || !strings.Contains(err.Error(), "XDG_CONFIG_HOME") {
		t.Fatalf("LoadConfig = %v, want a refusal naming %s", err, dir)
	}
}
