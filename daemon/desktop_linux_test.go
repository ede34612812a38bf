//go:build linux && cgo

package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/injector"
	"github.com/latchkey/latchkey/integrations/docebo/sandbox"
	"github.com/latchkey/latchkey/internal/testenv"
	"github.com/latchkey/latchkey/tray/snwatcher"
)

// trayTestRuns: the tray can be started once per test binary.
var trayTestRuns atomic.Bool

// The daemon's real tray and hotkey under Xvfb: the stand-in StatusNotifier
// host reads the tray's menu over D-Bus and clicks it; xdotool presses real
// keys. The configurable opener is a script that records the URLs.
func TestDaemonTrayAndHotkey(t *testing.T) {
	testenv.Require(t, testenv.Display)
	if !trayTestRuns.CompareAndSwap(false, true) {
		t.Fatal("systray runs once per process (tray.ErrAlreadyRan): run this test with -count=1")
	}
	w, err := snwatcher.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	opened := filepath.Join(t.TempDir(), "opened")
	script := filepath.Join(t.TempDir(), "open.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nprintf '%s\\n' \"$1\" >> "+opened+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	h := newHarnessWith(t, sandbox.Options{}, func(h *harness) {
		h.desktop, h.openCommand = true, []string{script}
	})
	h.connect()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	item, err := w.WaitItem(ctx)
	if err != nil {
		t.Fatal(err)
	}
	find := func(n *snwatcher.Node, label string) *snwatcher.Node {
		for _, c := range n.Shown() {
			if c.Label == label {
				return c
			}
		}
		return nil
	}
	hasDocebo := func(state string) func(n *snwatcher.Node) bool {
		return func(n *snwatcher.Node) bool {
			for _, c := range n.Shown() {
				if strings.HasPrefix(c.Label, "Docebo — ") && strings.HasSuffix(c.Label, " — "+state) {
					return true
				}
			}
			return false
		}
	}
	menu, err := item.WaitLayout(ctx, hasDocebo("Connected"))
	if err != nil {
		t.Fatalf("tray never showed docebo connected: %v", err)
	}
	if find(menu, "Open menu (Ctrl+Shift+E)") == nil || find(menu, "Quit") == nil {
		t.Fatalf("tray menu %q", menu.Labels())
	}
	disc := find(menu, "Disconnect Docebo")
	if disc == nil {
		t.Fatalf("no Disconnect in %q", menu.Labels())
	}
	if err := item.Click(ctx, disc.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := item.WaitLayout(ctx, func(n *snwatcher.Node) bool { return find(n, "Connect Docebo…") != nil }); err != nil {
		t.Fatalf("tray after Disconnect: %v", err)
	}
	if got := h.state("docebo"); got != "disconnected" {
		t.Fatalf("docebo after the tray's Disconnect: %q", got)
	}
	st, _ := h.d.StatusDoc(ctx)
	if !strings.HasPrefix(st.Desktop.Tray, "on") || !strings.HasPrefix(st.Desktop.Hotkey, "on") {
		t.Fatalf("desktop status %+v", st.Desktop)
	}

	// A focused client window, so keys that are not the hotkey go to it.
	keys := testenv.StartXev(t, ctx, "latchkey-daemon-test")
	testenv.Xdotool(t, "key", "ctrl+shift+e")
	waitLines(t, opened, 1)
	// ctrl+e and shift+e are not grabbed: the focused window receives both,
	// and the menu is not opened again.
	testenv.Xdotool(t, "key", "ctrl+e", "shift+e")
	for got := 0; got < 2; {
		select {
		case k, ok := <-keys:
			if !ok {
				t.Fatal("xev exited")
			}
			if k.Keysym == "e" || k.Keysym == "E" {
				got++
			}
		case <-ctx.Done():
			t.Fatalf("the focused window got %d of the 2 non-hotkey presses: they were grabbed", got)
		}
	}
	waitLines(t, opened, 1)
	testenv.Xdotool(t, "key", "ctrl+shift+e")
	lines := waitLines(t, opened, 2)
	for _, l := range lines {
		if !strings.Contains(l, "/menu#code=") {
			t.Fatalf("opened %q, want the menu with a one-time code", l)
		}
	}
	if lines[0] == lines[1] {
		t.Fatal("two menu openings reused one code")
	}

	// An open menu page waits on the daemon: the hotkey brings it back
	// (the page is told, and acknowledges) instead of opening another.
	sess := menuSession(t, h)
	base := "http://" + h.d.listenAddr
	told := make(chan bool, 1)
	go func() {
		req, _ := http.NewRequest("GET", base+injector.MenuFocusPath, nil)
		req.Header.Set(injector.MenuSessionHeader, sess)
		var a struct {
			Focus bool   `json:"focus"`
			Ack   string `json:"ack"`
		}
		if r, err := http.DefaultClient.Do(req); err == nil {
			json.NewDecoder(r.Body).Decode(&a)
			r.Body.Close()
		}
		if a.Focus {
			req, _ := http.NewRequest("POST", base+injector.MenuFocusPath, strings.NewReader(`{"ack":"`+a.Ack+`"}`))
			req.Header.Set(injector.MenuSessionHeader, sess)
			req.Header.Set("Origin", base)
			req.Header.Set("Content-Type", "application/json")
			if r, err := http.DefaultClient.Do(req); err == nil {
				r.Body.Close()
			}
		}
		told <- a.Focus
	}()
	for h.d.inj.MenuPagesOpen() == 0 {
		if ctx.Err() != nil {
			t.Fatal("the menu page's poll never reached the daemon")
		}
		runtime.Gosched()
	}
	testenv.Xdotool(t, "key", "ctrl+shift+e")
	select {
	case ok := <-told:
		if !ok {
			t.Fatal("the open menu page was not asked to come back")
		}
	case <-ctx.Done():
		t.Fatal("the hotkey did not reach the open menu page")
	}
	waitLines(t, opened, 2) // no third opening
}

// waitLines polls the opener's record until it has n lines (and fails if
// it has more).
func waitLines(t *testing.T, path string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var lines []string
		if f, err := os.Open(path); err == nil {
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				lines = append(lines, sc.Text())
			}
			f.Close()
		}
		if len(lines) > n {
			t.Fatalf("opener ran %d times, want %d: %q", len(lines), n, lines)
		}
		if len(lines) == n {
			return lines
		}
		if time.Now().After(deadline) {
			t.Fatalf("opener ran %d times, want %d", len(lines), n)
		}
		time.Sleep(20 * time.Millisecond) // polling an observable condition, bounded
	}
}
