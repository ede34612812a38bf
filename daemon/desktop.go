package daemon

import (
	"bytes"
	"context"
	"errors"
	"html/template"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/latchkey/latchkey/client/apitype"
	"github.com/latchkey/latchkey/injector"
	"github.com/latchkey/latchkey/injector/menu"
	"github.com/latchkey/latchkey/tray"
	"github.com/latchkey/latchkey/tray/hotkey"
	"github.com/latchkey/latchkey/tray/opener"
	"github.com/latchkey/latchkey/vault/store"
)

func menuHandler() http.Handler { return menu.Handler() }

// startDesktop starts the global hotkey when a display exists, and returns
// the tray's event loop for Run to run on its own goroutine (nil without a
// tray); without a display (or in a build without cgo) the daemon says so
// and keeps serving the API.
func (d *Daemon) startDesktop(ctx context.Context, wg *sync.WaitGroup, quit context.CancelFunc) (runTray func()) {
	d.writeMenuLauncher(ctx, wg)
	cfg := d.conf()
	if cfg.NoTray {
		d.extras.set("off: disabled by configuration", "off: disabled by configuration")
		return nil
	}
	if ok, reason := tray.Available(); !ok {
		d.extras.set("off: "+reason, "off: "+reason)
		d.log.Info("tray and hotkey are off", "reason", reason)
		fmtLine(d, "tray and hotkey are off: "+reason)
		d.watchForDisplay(ctx, wg, quit)
		return nil
	}
	label := ""
	combo, err := hotkey.Parse(cfg.Hotkey)
	if err != nil {
		d.extras.set("", "off: "+err.Error())
		d.log.Warn("hotkey is off", "err", err)
	} else {
		label = combo.Label(runtime.GOOS)
		d.extras.set("", "on: "+label)
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := hotkey.Listen(ctx, cfg.Hotkey, func() {
				if err := d.OpenMenu(ctx); err != nil {
					d.log.Warn("open the menu", "err", err)
				}
			})
			if err != nil && ctx.Err() == nil {
				d.extras.set("", "off: "+err.Error())
				d.log.Warn("hotkey is off", "err", err)
			}
		}()
	}
	d.extras.set("on", "")
	return func() {
		err := tray.Run(ctx, trayAdapter{d, quit}, tray.Options{HotkeyLabel: label, Logger: d.log})
		if err != nil && !errors.Is(err, context.Canceled) && ctx.Err() == nil {
			d.extras.set("off: "+err.Error(), "")
			d.log.Warn("tray is off", "err", err)
		}
	}
}

// MenuLauncherFile is the menu launcher the daemon writes while it runs:
// an HTML file (0600, in the 0700 runtime directory) that opens the menu
// with this run's launcher key each time it is opened, so a bookmark or a
// desktop shortcut to it never goes stale. Only the user can read it: the
// key opens a menu session.
func MenuLauncherFile(p Paths) string { return filepath.Join(p.RuntimeDir, "menu.html") }

var launcherTmpl = template.Must(template.New("launcher").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="referrer" content="no-referrer">
<meta http-equiv="refresh" content="0; url={{.}}"><title>latchkey menu</title></head>
<body><p><a href="{{.}}">Open the latchkey menu</a></p></body></html>
`))

// writeMenuLauncher writes MenuLauncherFile for this run and removes it when ctx ends.
func (d *Daemon) writeMenuLauncher(ctx context.Context, wg *sync.WaitGroup) {
	if d.inj == nil {
		return
	}
	path := MenuLauncherFile(d.paths)
	var b bytes.Buffer
	if err := launcherTmpl.Execute(&b, template.URL(d.inj.MenuLauncher())); err != nil {
		d.log.Warn("menu launcher", "err", err)
		return
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b.Bytes(), 0o600); err != nil {
		d.log.Warn("menu launcher", "err", err)
		return
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		d.log.Warn("menu launcher", "err", err)
		return
	}
	fmtLine(d, "menu launcher: file://"+path+" (opens the menu while the daemon runs)")
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-ctx.Done()
		_ = os.Remove(path)
	}()
}

func fmtLine(d *Daemon, s string) { _, _ = d.out.Write([]byte("latchkey: " + s + "\n")) }

// OpenMenu brings back the menu page that is open, or opens the menu with a
// fresh one-time code: in open_command when set, else as an app-style
// window of a Chromium-family browser when one is installed, else in the
// default browser.
func (d *Daemon) OpenMenu(ctx context.Context) error {
	if d.inj == nil {
		return errors.New("the daemon is not serving")
	}
	if d.inj.FocusMenu(ctx) {
		return nil
	}
	u := d.inj.NewMenuCode()
	cmd := d.conf().OpenCommand
	if len(cmd) == 0 {
		if app := opener.AppBrowser(); app != nil {
			err := opener.OpenApp(ctx, app, u)
			if err == nil {
				return nil
			}
			d.log.Info("no app window for the menu; using the default browser", "err", err)
		}
	}
	return opener.Open(ctx, cmd, u)
}

// trayAdapter is the daemon as the tray sees it.
type trayAdapter struct {
	d    *Daemon
	quit context.CancelFunc
}

func (a trayAdapter) TrayState(ctx context.Context) (tray.State, error) {
	st, err := a.d.StatusDoc(ctx)
	if err != nil {
		return tray.State{Problem: "daemon state unavailable"}, err
	}
	var ts tray.State
	for _, in := range st.Integrations {
		if !in.Configured {
			continue
		}
		ti := tray.Integration{Name: in.Name, DisplayName: injector.DisplayName(in.Name), State: in.State, APIToken: in.Connect == "api_token"}
		if in.DisplayName != "" {
			ti.DisplayName = in.DisplayName // the organisation's name for it
		}
		if in.State == apitype.StateNotConfigured {
			ti.State = string(store.StateDisconnected)
		}
		if in.Account != nil {
			ti.Account = firstNonEmpty(in.Account.Email, in.Account.Username, in.Account.Name)
		}
		ts.Integrations = append(ts.Integrations, ti)
	}
	return ts, nil
}

func (a trayAdapter) Connect(ctx context.Context, name string) error {
	u, err := a.d.StartConnect(ctx, name)
	if err != nil {
		return err
	}
	return opener.Open(ctx, a.d.conf().OpenCommand, u)
}

func (a trayAdapter) Disconnect(ctx context.Context, name string) error {
	return a.d.Disconnect(ctx, name)
}

func (a trayAdapter) OpenMenu(ctx context.Context) error { return a.d.OpenMenu(ctx) }
func (a trayAdapter) Quit()                              { a.quit() }
func (a trayAdapter) TrayChanges() <-chan struct{}       { return a.d.trayCh }

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
