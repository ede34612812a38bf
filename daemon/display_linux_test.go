//go:build linux && cgo

package daemon

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/integrations/docebo/sandbox"
)

// Run by systemd before the desktop session exported a display, the daemon
// serves without a tray, and stops for a restart once the user manager's
// environment names a display.
func TestRestartWhenADisplayAppears(t *testing.T) {
	bin := t.TempDir()
	flag := filepath.Join(bin, "display-exported")
	script := "#!/bin/sh\n" +
		"[ \"$1 $2\" = \"--user show-environment\" ] || exit 2\n" +
		"echo HOME=/home/alice\n" +
		"if [ -e " + flag + " ]; then echo DISPLAY=:42; fi\n"
	if err := os.WriteFile(filepath.Join(bin, "systemctl"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("INVOCATION_ID", "0123456789abcdef")
	t.Setenv("DISPLAY", "")
	t.Setenv("WAYLAND_DISPLAY", "")

	h := newHarnessWith(t, sandbox.Options{}, func(h *harness) {
		h.desktop = true
		h.displayPoll = 10 * time.Millisecond
	})
	// Polls without a display leave it serving.
	if err := h.cl.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(flag, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-h.done:
		if !errors.Is(err, ErrRestartForDisplay) {
			t.Fatalf("Run returned %v, want ErrRestartForDisplay", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the daemon did not stop once a display appeared")
	}
	h.cancel = nil // Run is over: stop has nothing to wait for
	h.d.Close()
	if !strings.Contains(h.logs.String(), "a desktop session started") {
		t.Fatalf("no log line says why it stopped:\n%s", h.logs.String())
	}
}
