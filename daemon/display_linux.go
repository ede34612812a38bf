//go:build linux && cgo

package daemon

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/latchkey/latchkey/internal/redact"
)

// A systemd user service may start before the desktop session has exported
// DISPLAY or WAYLAND_DISPLAY to the user manager (the unit is wanted by
// default.target); the tray then stays off. Under systemd, with no display
// at all, the daemon looks at the manager's environment for a while and,
// once a display is there, stops with ErrRestartForDisplay: systemd restarts
// it (Restart=on-failure) with the manager's environment, display included.

const (
	defaultDisplayPoll = 3 * time.Second
	displayWatchFor    = 10 * time.Minute
)

func (d *Daemon) watchForDisplay(ctx context.Context, wg *sync.WaitGroup, stop context.CancelFunc) {
	if os.Getenv("INVOCATION_ID") == "" || os.Getenv("DISPLAY") != "" || os.Getenv("WAYLAND_DISPLAY") != "" {
		return // not a systemd service, or a display that is set but unusable
	}
	poll := d.displayPoll
	if poll <= 0 {
		poll = defaultDisplayPoll
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(poll)
		defer t.Stop()
		for deadline := time.Now().Add(displayWatchFor); time.Now().Before(deadline); {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if managerHasDisplay(ctx) {
				d.log.Info("a desktop session started: stopping so that systemd restarts the daemon with its display")
				d.restartForDisplay.Store(true)
				stop()
				return
			}
		}
	}()
}

// managerHasDisplay reports whether the systemd user manager's environment
// names a display.
func managerHasDisplay(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "systemctl", "--user", "show-environment")
	cmd.Env = redact.ChildEnv()
	out, err := cmd.Output()
	if err != nil {
		return false
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), "=")
		if (k == "DISPLAY" || k == "WAYLAND_DISPLAY") && v != "" {
			return true
		}
	}
	return false
}
