package testenv

import (
	"bufio"
	"context"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// XevKey is one KeyPress that xev (the focused client window) received.
type XevKey struct {
	State  string // "0x4"
	Keysym string // "e", "E", "a"
}

var xevKeyRE = regexp.MustCompile(`state (0x[0-9a-f]+), keycode \d+ \(keysym 0x[0-9a-f]+, ([^)]+)\)`)

// StartXev runs xev (x11-utils) in a window called name on the Display
// component, focuses that window and returns the KeyPress events it
// receives; the channel closes when xev exits. xev stops with ctx or at the
// end of the test.
func StartXev(t testing.TB, ctx context.Context, name string) <-chan XevKey {
	t.Helper()
	cmd := exec.CommandContext(ctx, "xev", "-event", "keyboard", "-name", name)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("xev: %v (install x11-utils)", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	keys := make(chan XevKey, 64)
	go func() {
		defer close(keys)
		sc := bufio.NewScanner(out)
		press := false
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "KeyPress event") {
				press = true
				continue
			}
			if strings.HasPrefix(line, "KeyRelease event") {
				press = false
				continue
			}
			if m := xevKeyRE.FindStringSubmatch(line); m != nil && press {
				keys <- XevKey{State: m[1], Keysym: m[2]}
				press = false
			}
		}
	}()
	Xdotool(t, "search", "--sync", "--name", name, "windowfocus", "--sync", "%1")
	return keys
}

// Xdotool runs xdotool with args on the Display component, failing t when
// it fails.
func Xdotool(t testing.TB, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "xdotool", args...).CombinedOutput(); err != nil {
		t.Fatalf("xdotool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}
