package tray

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestCrossBuild builds the desktop packages for the other OSes and without
// cgo: the tray and hotkey must fall back to their stubs (or pure-Go
// Windows code) and the service installer must compile everywhere.
func TestCrossBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-builds skipped in -short mode")
	}
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		t.Skipf("no go tool at %s", goBin)
	}
	pkgs := []string{"./tray/...", "./daemon/service/..."}
	for _, target := range []struct{ goos, goarch string }{
		{"windows", "amd64"}, {"darwin", "arm64"}, {"linux", "amd64"}, {"freebsd", "amd64"},
	} {
		t.Run(target.goos, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, goBin, append([]string{"build"}, pkgs...)...)
			cmd.Dir = ".." // the module root
			cmd.Env = append(os.Environ(), "GOOS="+target.goos, "GOARCH="+target.goarch, "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("GOOS=%s CGO_ENABLED=0 go build %v: %v\n%s", target.goos, pkgs, err, out)
			}
		})
	}
}

// TestLinuxNeverLinksXHotkey guards the headless daemon: golang.design/x/hotkey
// panics in init() without an X display, so no Linux build may link it.
func TestLinuxNeverLinksXHotkey(t *testing.T) {
	if testing.Short() {
		t.Skip("go list skipped in -short mode")
	}
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		t.Skipf("no go tool at %s", goBin)
	}
	for _, cgo := range []string{"0", "1"} {
		cmd := exec.Command(goBin, "list", "-deps", "./tray/...", "./daemon/service/...")
		cmd.Dir = ".."
		cmd.Env = append(os.Environ(), "GOOS=linux", "CGO_ENABLED="+cgo)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go list: %v\n%s", err, out)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(line, "golang.design/x/hotkey") {
				t.Errorf("CGO_ENABLED=%s: a Linux build links %s", cgo, line)
			}
		}
	}
}
