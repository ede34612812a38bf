//go:build !((linux && cgo) || (darwin && cgo) || windows)

package hotkey

import (
	"context"
	"fmt"
	"runtime"
)

// Hotkey is a grabbed combo; this build has none.
type Hotkey struct{ combo Combo }

func unavailable() error {
	if runtime.GOOS == "linux" || runtime.GOOS == "darwin" {
		return fmt.Errorf("%w: built without cgo", ErrUnavailable)
	}
	return fmt.Errorf("%w: not supported on %s", ErrUnavailable, runtime.GOOS)
}

// Grab parses combo and fails with ErrUnavailable: this build has no
// global hotkey.
func Grab(combo string) (*Hotkey, error) {
	if _, err := Parse(combo); err != nil {
		return nil, err
	}
	return nil, unavailable()
}

// Combo is the grabbed combo.
func (h *Hotkey) Combo() Combo { return h.combo }

// Serve fails with ErrUnavailable.
func (h *Hotkey) Serve(ctx context.Context, onPress func()) error { return unavailable() }

// Close does nothing.
func (h *Hotkey) Close() error { return nil }

// Listen fails with ErrUnavailable: this build has no global hotkey.
func Listen(ctx context.Context, combo string, onPress func()) error {
	_, err := Grab(combo)
	return err
}
