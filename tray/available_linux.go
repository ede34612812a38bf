//go:build linux && cgo

package tray

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/latchkey/latchkey/tray/internal/xdisplay"
)

// Available reports whether a tray can start here, and if not, why. On
// Linux GTK ends the whole process when it cannot open a display, so this
// opens one first: the X display of $DISPLAY, or the Wayland socket of
// $WAYLAND_DISPLAY (unless GDK_BACKEND insists on x11).
func Available() (bool, string) {
	display, wayland := os.Getenv("DISPLAY"), os.Getenv("WAYLAND_DISPLAY")
	backend := os.Getenv("GDK_BACKEND")
	if display == "" && wayland == "" {
		return false, "no display (neither DISPLAY nor WAYLAND_DISPLAY is set)"
	}
	var reasons []string
	if wayland != "" && (backend == "" || strings.Contains(backend, "wayland")) {
		if err := dialWayland(wayland); err == nil {
			return true, ""
		} else {
			reasons = append(reasons, "Wayland display "+wayland+": "+err.Error())
		}
	}
	if display != "" && (backend == "" || strings.Contains(backend, "x11")) {
		if err := xdisplay.Check(""); err == nil {
			return true, ""
		} else {
			reasons = append(reasons, "X display "+display+": "+err.Error())
		}
	}
	if len(reasons) == 0 {
		return false, "GDK_BACKEND=" + backend + " names no display that is set"
	}
	return false, strings.Join(reasons, "; ")
}

func dialWayland(name string) error {
	path := name
	if !filepath.IsAbs(path) {
		dir := os.Getenv("XDG_RUNTIME_DIR")
		if dir == "" {
			return errString("XDG_RUNTIME_DIR is not set")
		}
		path = filepath.Join(dir, name)
	}
	c, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		return errString("cannot connect")
	}
	return c.Close()
}

type errString string

func (e errString) Error() string { return string(e) }
