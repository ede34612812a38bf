package daemon

import (
	"context"
	"net/http"
	"sync"

	"github.com/latchkey/latchkey/injector/menu"
)

func menuHandler() http.Handler { return menu.Handler() }

// startDesktop starts the tray and the global hotkey when a display exists.
func (d *Daemon) startDesktop(ctx context.Context, wg *sync.WaitGroup, quit context.CancelFunc) {
	if d.conf().NoTray {
		d.extras.set("off: disabled by configuration", "off: disabled by configuration")
		return
	}
	d.startTray(ctx, wg, quit)
	d.startHotkey(ctx, wg)
}

// TEMPORARY until the tray package lands.
func (d *Daemon) startTray(ctx context.Context, wg *sync.WaitGroup, quit context.CancelFunc) {}
func (d *Daemon) startHotkey(ctx context.Context, wg *sync.WaitGroup)                         {}
