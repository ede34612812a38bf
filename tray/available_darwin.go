//go:build darwin && cgo

package tray

// Available reports whether a tray can start here: always, on macOS with
// cgo (Run must then be called on the main goroutine).
func Available() (bool, string) { return true, "" }
