//go:build (linux && cgo) || (darwin && cgo) || windows

package tray

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/getlantern/systray"
)

// ran guards the one systray loop a process may run (systray's own state
// is process-global).
var ran atomic.Bool

// Run shows the tray and serves it until ctx is done or the user picks
// "Quit" (after calling d.Quit). It re-renders on every d.TrayChanges
// signal and after each action, and returns nil when the tray has closed.
//
// It checks Available first and returns ErrUnavailable instead of letting
// GTK end the process. The native loop owns the calling goroutine's OS
// thread while it runs; on macOS Cocoa requires that to be the main
// thread, so call Run from main there (on Linux and Windows any goroutine
// will do). Run works once per process; a second call returns
// ErrAlreadyRan.
func Run(ctx context.Context, d Daemon, opts Options) error {
	if ok, why := Available(); !ok {
		return fmt.Errorf("%w: %s", ErrUnavailable, why)
	}
	if err := ctx.Err(); err != nil {
		return nil
	}
	if !ran.CompareAndSwap(false, true) {
		return ErrAlreadyRan
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	r := &renderer{
		ctx:     ctx,
		d:       d,
		opts:    opts,
		log:     opts.logger().With("component", "tray"),
		stop:    make(chan struct{}),
		clicks:  make(chan int, 16),
		refresh: make(chan struct{}, 1),
	}
	exited := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			systray.Quit()
		case <-exited:
		}
	}()
	r.wg.Add(1)
	systray.Run(r.onReady, nil)
	close(exited)
	close(r.stop)
	r.wg.Wait()
	r.log.Debug("tray closed")
	return nil
}

// slot is one pre-allocated menu item: systray cannot remove items, so
// the menu is a fixed set of slots that are retitled, enabled, disabled,
// shown and hidden.
type slot struct {
	mi      *systray.MenuItem
	title   string
	enabled bool
	visible bool
	item    Item // what a click does now
}

func (s *slot) set(it *Item) {
	if it == nil {
		if s.visible {
			s.mi.Hide()
			s.visible = false
		}
		s.item = Item{}
		return
	}
	changed := false // any update re-shows the item
	if it.Title != s.title {
		s.mi.SetTitle(it.Title)
		s.title = it.Title
		changed = true
	}
	if it.Enabled != s.enabled {
		if it.Enabled {
			s.mi.Enable()
		} else {
			s.mi.Disable()
		}
		s.enabled = it.Enabled
		changed = true
	}
	if !changed && !s.visible {
		s.mi.Show()
	}
	s.visible = true
	s.item = *it
}

type renderer struct {
	ctx  context.Context
	d    Daemon
	opts Options
	log  *slog.Logger

	stop    chan struct{} // closed when the native loop has ended
	clicks  chan int      // slot index
	refresh chan struct{} // re-read the state
	wg      sync.WaitGroup

	// Owned by the loop goroutine.
	slots    []*slot
	icon     Icon
	iconSet  bool
	tooltip  string
	bodySize int
	last     State
}

func (r *renderer) onReady() {
	defer r.wg.Done()
	r.bodySize = r.opts.maxItems()
	for i := 0; i < r.bodySize; i++ {
		r.slots = append(r.slots, &slot{mi: systray.AddMenuItem("", ""), enabled: true, visible: true})
	}
	systray.AddSeparator()
	for i := 0; i < 2; i++ { // the footer: "Open menu", "Quit"
		r.slots = append(r.slots, &slot{mi: systray.AddMenuItem("", ""), enabled: true, visible: true})
	}
	for i, s := range r.slots {
		r.wg.Add(1)
		go r.forward(i, s.mi.ClickedCh)
	}
	r.render()
	changes := r.d.TrayChanges()
	for {
		select {
		case <-r.stop:
			return
		case <-r.ctx.Done():
			return
		case _, ok := <-changes:
			if !ok {
				changes = nil
			}
			r.render()
		case <-r.refresh:
			r.render()
		case i := <-r.clicks:
			r.click(i)
		}
	}
}

// forward passes one item's clicks to the loop. systray drops a click when
// nobody is receiving, so each item has a goroutine always receiving.
func (r *renderer) forward(i int, ch <-chan struct{}) {
	defer r.wg.Done()
	for {
		select {
		case <-ch:
			select {
			case r.clicks <- i:
			case <-r.stop:
				return
			}
		case <-r.stop:
			return
		}
	}
}

func (r *renderer) render() {
	ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
	st, err := r.d.TrayState(ctx)
	cancel()
	if err != nil {
		if r.ctx.Err() != nil {
			return
		}
		r.log.Warn("tray: reading the daemon state failed", "err", err)
		st = r.last
		st.Problem = "State unavailable (see the daemon log)"
	} else {
		r.last = st
	}
	m := BuildMenu(st, r.opts.HotkeyLabel).Fit(r.bodySize)
	if !r.iconSet || m.Icon != r.icon {
		systray.SetIcon(IconBytes(m.Icon, iconFormat))
		r.icon, r.iconSet = m.Icon, true
	}
	if m.Tooltip != r.tooltip {
		systray.SetTooltip(m.Tooltip)
		r.tooltip = m.Tooltip
	}
	for i := 0; i < r.bodySize; i++ {
		if i < len(m.Body) {
			r.slots[i].set(&m.Body[i])
		} else {
			r.slots[i].set(nil)
		}
	}
	for i, s := range r.slots[r.bodySize:] {
		if i < len(m.Footer) {
			s.set(&m.Footer[i])
		} else {
			s.set(nil)
		}
	}
}

func (r *renderer) click(i int) {
	it := r.slots[i].item
	if !it.Enabled {
		return
	}
	switch it.Action {
	case ActionConnect, ActionDisconnect:
		verb, call := "connect", r.d.Connect
		if it.Action == ActionDisconnect {
			verb, call = "disconnect", r.d.Disconnect
		}
		r.log.Info("tray: "+verb, "integration", it.Integration)
		go func() {
			if err := call(r.ctx, it.Integration); err != nil && r.ctx.Err() == nil {
				r.log.Warn("tray: "+verb+" failed", "integration", it.Integration, "err", err)
			}
			select {
			case r.refresh <- struct{}{}:
			default:
			}
		}()
	case ActionOpenMenu:
		go func() {
			if err := r.d.OpenMenu(r.ctx); err != nil && r.ctx.Err() == nil {
				r.log.Warn("tray: opening the menu failed", "err", err)
			}
		}()
	case ActionQuit:
		r.log.Info("tray: quit")
		r.d.Quit()
		systray.Quit()
	}
}
