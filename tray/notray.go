//go:build !((linux && cgo) || (darwin && cgo) || windows)

package tray

import (
	"context"
	"fmt"
	"runtime"
)

func reason() string {
	if runtime.GOOS == "linux" || runtime.GOOS == "darwin" {
		return "built without cgo"
	}
	return "not supported on " + runtime.GOOS
}

// Available reports whether a tray can start here: never, in this build.
func Available() (bool, string) { return false, reason() }

// Run returns ErrUnavailable at once: this build has no tray. The daemon
// keeps serving without one.
func Run(ctx context.Context, d Daemon, opts Options) error {
	return fmt.Errorf("%w: %s", ErrUnavailable, reason())
}
