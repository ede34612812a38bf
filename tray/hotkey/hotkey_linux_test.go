//go:build linux && cgo

package hotkey

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/testenv"
)

func TestGrabWithoutDisplay(t *testing.T) {
	t.Setenv("DISPLAY", "")
	if _, err := Grab("ctrl+shift+e"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Grab with DISPLAY unset: err = %v, want ErrUnavailable", err)
	}
	// A display that does not exist: the process must survive and say so.
	t.Setenv("DISPLAY", "127.0.0.1:4242")
	err := Listen(context.Background(), "ctrl+shift+e", func() { t.Error("onPress called without a display") })
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "cannot open X display") {
		t.Fatalf("Listen on a missing display: err = %v, want ErrUnavailable (cannot open X display)", err)
	}
	if _, err := Grab("ctrl+nope"); err == nil || errors.Is(err, ErrUnavailable) {
		t.Fatalf("Grab(bad combo) = %v, want a parse error", err)
	}
}

// waitXev waits until xev reports want, failing on any key in forbidden.
func waitXev(t *testing.T, keys <-chan testenv.XevKey, want testenv.XevKey, forbidden ...testenv.XevKey) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case k, ok := <-keys:
			if !ok {
				t.Fatal("xev exited")
			}
			for _, f := range forbidden {
				if k == f {
					t.Fatalf("the focused window received %+v: the hotkey was not grabbed", k)
				}
			}
			if k == want {
				return
			}
		case <-deadline:
			t.Fatalf("xev never reported %+v", want)
		}
	}
}

func TestRealKeyPress(t *testing.T) {
	testenv.Require(t, testenv.Display)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	keys := testenv.StartXev(t, ctx, "latchkey-hotkey-test")

	h, err := Grab("ctrl+shift+e")
	if err != nil {
		t.Fatalf("Grab: %v", err)
	}
	presses := make(chan struct{}, 16)
	served := make(chan error, 1)
	go func() { served <- h.Serve(ctx, func() { presses <- struct{}{} }) }()
	noPress := func(when string) {
		t.Helper()
		select {
		case <-presses:
			t.Fatalf("onPress fired %s", when)
		default:
		}
	}
	press := func(when string) {
		t.Helper()
		select {
		case <-presses:
		case <-time.After(10 * time.Second):
			t.Fatalf("onPress did not fire %s", when)
		}
	}
	ctrlShiftE := []testenv.XevKey{{State: "0x5", Keysym: "e"}, {State: "0x5", Keysym: "E"}}

	// The near misses reach the focused window, not the grab (grabbed keys go
	// to the grabbing client only, so seeing them at xev proves we did not).
	testenv.Xdotool(t, "key", "ctrl+e", "shift+e", "a")
	waitXev(t, keys, testenv.XevKey{State: "0x4", Keysym: "e"})
	waitXev(t, keys, testenv.XevKey{State: "0x1", Keysym: "E"})
	waitXev(t, keys, testenv.XevKey{State: "0x0", Keysym: "a"})
	noPress("for ctrl+e, shift+e or a")

	testenv.Xdotool(t, "key", "ctrl+shift+e")
	press("for ctrl+shift+e")
	// A marker key after it: by then xev would have seen ctrl+shift+e had the
	// grab let it through.
	testenv.Xdotool(t, "key", "b")
	waitXev(t, keys, testenv.XevKey{State: "0x0", Keysym: "b"}, ctrlShiftE...)
	noPress("twice for one ctrl+shift+e")

	// NumLock on: still the hotkey.
	testenv.Xdotool(t, "key", "Num_Lock")
	testenv.Xdotool(t, "key", "ctrl+shift+e")
	testenv.Xdotool(t, "key", "Num_Lock")
	press("with NumLock on")

	// A second grab of the same combo is refused with a clear error.
	if h2, err := Grab("ctrl+shift+e"); err == nil {
		h2.Close()
		t.Fatal("a second Grab of a taken combo succeeded")
	} else if !strings.Contains(err.Error(), "already taken") {
		t.Fatalf("second Grab: %v, want 'already taken'", err)
	}

	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after ctx was cancelled")
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestCloseStopsServe(t *testing.T) {
	testenv.Require(t, testenv.Display)
	h, err := Grab("ctrl+alt+k")
	if err != nil {
		t.Fatalf("Grab: %v", err)
	}
	pressed := make(chan struct{}, 4)
	served := make(chan error, 1)
	go func() { served <- h.Serve(context.Background(), func() { pressed <- struct{}{} }) }()
	// A press proves Serve is running before Close.
	testenv.Xdotool(t, "key", "ctrl+alt+k")
	select {
	case <-pressed:
	case <-time.After(10 * time.Second):
		t.Fatal("onPress did not fire for ctrl+alt+k")
	}
	h.Close() // returns once Serve has released the grab
	// The grab is released: the combo can be grabbed again at once.
	h2, err := Grab("ctrl+alt+k")
	if err != nil {
		t.Fatalf("re-Grab after Close: %v", err)
	}
	h2.Close()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve after Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after Close")
	}
	if err := h2.Serve(context.Background(), func() {}); err == nil {
		t.Fatal("Serve on a closed Hotkey returned nil")
	}
}
