package tray

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestCrossBuild builds the desktop packages for the other OSes and without
// cgo: the tray and hotkey must fall back to their stubs (or pure-Go
// Windows code) and the service installer must compile everywhere.
func TestCrossBuild(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("cross-builds skipped in -short mode")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("no go tool on PATH: %v", err)
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
