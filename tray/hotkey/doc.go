// Package hotkey owns latchkey's global keyboard shortcut: parsing a combo
// such as "ctrl+shift+e" and listening for it system-wide.
//
// On Linux (X11, cgo) it grabs the key with a small Xlib client of its own,
// so the latchkey binary never links golang.design/x/hotkey there (that
// package panics in init() when no X display opens). On macOS (cgo) and
// Windows it uses golang.design/x/hotkey. Any other build returns
// ErrUnavailable from Listen.
package hotkey
