package tray

import (
	"errors"
	"log/slog"
)

// ErrUnavailable is returned (wrapped, with the reason) by Run when this
// build or this session cannot show a tray.
var ErrUnavailable = errors.New("tray unavailable")

// ErrAlreadyRan is returned by a second Run in one process: systray's
// native loop can run only once.
var ErrAlreadyRan = errors.New("tray: Run was already called in this process (systray runs once per process)")

// Options configure Run.
type Options struct {
	// HotkeyLabel is the hotkey as the menu shows it ("Ctrl+Shift+E");
	// empty when the hotkey is off.
	HotkeyLabel string
	// Logger receives the tray's logs (never a secret); nil means
	// slog.Default().
	Logger *slog.Logger
	// MaxItems is how many lines the integrations part of the menu can
	// hold (two per integration; more are cut with "More in the menu…").
	// Zero means 24.
	MaxItems int
}

func (o Options) logger() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.Default()
}

func (o Options) maxItems() int {
	if o.MaxItems > 0 {
		return o.MaxItems
	}
	return 24
}
