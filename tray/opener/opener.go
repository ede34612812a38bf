package opener

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os/exec"
	"strings"
	"time"

	secrets "github.com/latchkey/latchkey/internal/redact"
)

// settle is how long Open waits for the command to finish before leaving
// it running. xdg-open may run the browser in the foreground and only
// return when it closes; a quick failure (no handler) is still reported.
const settle = 3 * time.Second

// Open runs command with rawURL appended as the last argument and reports
// whether it failed. The URL must be absolute http or https (the menu's URL
// carries a one-time code, so it never appears in an error). A nil or empty
// command means Default(). If the command is still running after a few
// seconds (a browser in the foreground), Open returns nil and leaves it
// running; ctx cancels it only while Open waits.
func Open(ctx context.Context, command []string, rawURL string) error {
	return open(ctx, command, rawURL, settle)
}

// OpenApp opens rawURL as an app-style window (no tabs, no address bar) of
// browser, a Chromium-family browser (AppBrowser): browser --app=URL, with
// the same checks and error reporting as Open.
func OpenApp(ctx context.Context, browser []string, rawURL string) error {
	if len(browser) == 0 || browser[0] == "" {
		return errors.New("open: no app-window browser")
	}
	return run(ctx, browser, rawURL, "--app=", settle)
}

// AppBrowser is the first Chromium-family browser on PATH (they all take
// --app=URL), or nil when none is installed.
func AppBrowser() []string {
	for _, name := range appBrowsers {
		if p, err := exec.LookPath(name); err == nil {
			return []string{p}
		}
	}
	return nil
}

func open(ctx context.Context, command []string, rawURL string, settle time.Duration) error {
	return run(ctx, command, rawURL, "", settle)
}

// run runs command with prefix+rawURL as its last argument.
func run(ctx context.Context, command []string, rawURL, prefix string, settle time.Duration) error {
	if len(command) == 0 {
		command = Default()
	}
	if command[0] == "" {
		return errors.New("open: the open command is empty (set open_command or LATCHKEY_OPEN_COMMAND)")
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("open: refusing to open a URL that is not absolute http(s)")
	}
	args := append(append([]string(nil), command[1:]...), prefix+rawURL)
	cmd := exec.Command(command[0], args...)
	cmd.Env = secrets.ChildEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &limitWriter{w: &stderr, n: 4096}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("open: cannot run %s: %v (set open_command or LATCHKEY_OPEN_COMMAND)", command[0], unwrapExec(err))
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	timer := time.NewTimer(settle)
	defer timer.Stop()
	select {
	case err := <-done:
		if err == nil {
			return nil
		}
		msg := strings.TrimSpace(redact(stderr.String(), rawURL, u))
		if msg != "" {
			return fmt.Errorf("open: %s failed: %v: %s", command[0], err, msg)
		}
		return fmt.Errorf("open: %s failed: %v", command[0], err)
	case <-timer.C:
		return nil // still running (a foreground browser): fine
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		<-done
		return ctx.Err()
	}
}

// redact removes the URL (and its query and fragment alone, in case a tool
// prints them re-encoded or split) from a command's output.
func redact(s, raw string, u *url.URL) string {
	s = strings.ReplaceAll(s, raw, "<url>")
	for _, part := range []string{u.RawQuery, u.Fragment, u.EscapedPath()} {
		if len(part) > 1 {
			s = strings.ReplaceAll(s, part, "<redacted>")
		}
	}
	for _, vs := range u.Query() {
		for _, v := range vs {
			if len(v) >= 4 {
				s = strings.ReplaceAll(s, v, "<redacted>")
			}
		}
	}
	return s
}

func unwrapExec(err error) error {
	var ee *exec.Error
	if errors.As(err, &ee) {
		return ee.Err
	}
	return err
}

type limitWriter struct {
	w *bytes.Buffer
	n int
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if room := l.n - l.w.Len(); room > 0 {
		if len(p) > room {
			l.w.Write(p[:room])
		} else {
			l.w.Write(p)
		}
	}
	return len(p), nil
}
