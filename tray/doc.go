// Package tray owns latchkey's notification-area icon and menu.
//
// The daemon implements Daemon; BuildMenu turns its State into a Menu (a
// pure function: icon, tooltip, one title line and one action per
// integration, "Open menu (Ctrl+Shift+E)", "Quit"), and Run renders that
// Menu with github.com/getlantern/systray, re-rendering on every change and
// dispatching clicks back to the Daemon. The tray never imports the vault
// or the daemon.
//
// Run needs cgo on Linux and macOS (GTK + ayatana-appindicator, Cocoa); a
// build without cgo has a Run that returns ErrUnavailable ("built without
// cgo") and the daemon keeps serving without a tray. On Linux, GTK ends the
// whole process when no display opens, so Available checks first and Run
// refuses when it says no.
package tray
