//go:build (darwin && cgo) || windows

package hotkey

import (
	"context"
	"fmt"
	"runtime"

	xhotkey "golang.design/x/hotkey"
)

// Hotkey is a registered combo. Serve delivers its presses; Close releases it.
type Hotkey struct {
	combo Combo
	hk    *xhotkey.Hotkey
	stop  chan struct{}
	done  chan struct{}
}

func platformMods(c Combo) ([]xhotkey.Modifier, error) {
	var mods []xhotkey.Modifier
	for _, m := range c.Mods {
		x, ok := modFor(m)
		if !ok {
			return nil, fmt.Errorf("hotkey %s: modifier %s is not available on %s", c, m, runtime.GOOS)
		}
		mods = append(mods, x)
	}
	return mods, nil
}

// Grab parses combo and registers it with the OS. On macOS the process must
// be trusted for Accessibility (Input Monitoring), or registration fails.
func Grab(combo string) (*Hotkey, error) {
	c, err := Parse(combo)
	if err != nil {
		return nil, err
	}
	mods, err := platformMods(c)
	if err != nil {
		return nil, err
	}
	key, ok := keys[c.Key]
	if !ok {
		return nil, fmt.Errorf("hotkey %s: key %q is not available on %s", c, c.Key, runtime.GOOS)
	}
	hk := xhotkey.New(mods, key)
	if err := hk.Register(); err != nil {
		return nil, fmt.Errorf("hotkey %s: %v (is it taken by another application? choose another in the hotkey setting)", c, err)
	}
	return &Hotkey{combo: c, hk: hk, stop: make(chan struct{}), done: make(chan struct{})}, nil
}

// Combo is the grabbed combo.
func (h *Hotkey) Combo() Combo { return h.combo }

// Serve calls onPress each time the combo is pressed until ctx is done
// (then it returns nil) or Close is called.
func (h *Hotkey) Serve(ctx context.Context, onPress func()) error {
	defer close(h.done)
	for {
		select {
		case <-h.hk.Keydown():
			onPress()
		case <-ctx.Done():
			return nil
		case <-h.stop:
			return nil
		}
	}
}

// Close unregisters the combo.
func (h *Hotkey) Close() error {
	select {
	case <-h.stop:
		return nil
	default:
		close(h.stop)
	}
	return h.hk.Unregister()
}

// Listen grabs combo and calls onPress each time it is pressed, until ctx
// is done (then it returns nil).
func Listen(ctx context.Context, combo string, onPress func()) error {
	h, err := Grab(combo)
	if err != nil {
		return err
	}
	defer h.Close()
	return h.Serve(ctx, onPress)
}
