//go:build linux && cgo

package hotkey

/*
#cgo pkg-config: xcb x11
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <errno.h>
#include <xcb/xcb.h>
#include <X11/Xlib.h>
#include <X11/keysym.h>

// XCB reports errors per request and never exits the process, unlike Xlib's
// default error handlers; Xlib is used only for XStringToKeysym, which needs
// no connection.

#define LK_MAX_CODES 8

typedef struct {
	xcb_connection_t *c;
	xcb_window_t root;
	xcb_keycode_t codes[LK_MAX_CODES];
	int ncodes;
	uint16_t mods;
	uint16_t extras[4];
	int nextras;
	int down;
	xcb_timestamp_t last_release;
} lk_grab;

static uint16_t lk_numlock_mask(xcb_connection_t *c, const xcb_setup_t *setup, xcb_get_keyboard_mapping_reply_t *km) {
	xcb_keycode_t min = setup->min_keycode;
	int per = km->keysyms_per_keycode;
	xcb_keysym_t *syms = xcb_get_keyboard_mapping_keysyms(km);
	int n = xcb_get_keyboard_mapping_keysyms_length(km);
	xcb_keycode_t numlock = 0;
	for (int i = 0; i < n; i++) {
		if (syms[i] == XK_Num_Lock) { numlock = min + i / per; break; }
	}
	if (numlock == 0) return XCB_MOD_MASK_2;
	xcb_get_modifier_mapping_reply_t *mm = xcb_get_modifier_mapping_reply(c, xcb_get_modifier_mapping(c), NULL);
	if (mm == NULL) return XCB_MOD_MASK_2;
	xcb_keycode_t *codes = xcb_get_modifier_mapping_keycodes(mm);
	int k = mm->keycodes_per_modifier;
	uint16_t mask = 0;
	for (int mod = 0; mod < 8 && mask == 0; mod++) {
		for (int j = 0; j < k; j++) {
			if (codes[mod * k + j] == numlock) { mask = (uint16_t)(1 << mod); break; }
		}
	}
	free(mm);
	return mask ? mask : XCB_MOD_MASK_2;
}

static void lk_ungrab(lk_grab *g) {
	for (int i = 0; i < g->ncodes; i++)
		for (int e = 0; e < g->nextras; e++)
			xcb_ungrab_key(g->c, g->codes[i], g->root, g->mods | g->extras[e]);
	xcb_flush(g->c);
}

// lk_open connects, finds the key's keycodes and grabs them with every
// NumLock/CapsLock variant. It returns 0, or: 1 no display, 2 unknown key,
// 3 key not on the keyboard, 4 grab refused (taken), 5 protocol error.
static int lk_open(const char *keyname, uint16_t mods, lk_grab **out, int *xerr) {
	*out = NULL;
	*xerr = 0;
	int screen = 0;
	xcb_connection_t *c = xcb_connect(NULL, &screen);
	if (c == NULL || xcb_connection_has_error(c)) {
		if (c) xcb_disconnect(c);
		return 1;
	}
	KeySym ks = XStringToKeysym(keyname);
	if (ks == NoSymbol) { xcb_disconnect(c); return 2; }
	const xcb_setup_t *setup = xcb_get_setup(c);
	xcb_screen_iterator_t it = xcb_setup_roots_iterator(setup);
	for (int i = 0; i < screen && it.rem; i++) xcb_screen_next(&it);
	if (!it.rem) { xcb_disconnect(c); return 1; }

	lk_grab *g = calloc(1, sizeof(lk_grab));
	g->c = c;
	g->root = it.data->root;
	g->mods = mods;

	int count = setup->max_keycode - setup->min_keycode + 1;
	xcb_get_keyboard_mapping_reply_t *km = xcb_get_keyboard_mapping_reply(c,
		xcb_get_keyboard_mapping(c, setup->min_keycode, count), NULL);
	if (km == NULL) { xcb_disconnect(c); free(g); return 5; }
	int per = km->keysyms_per_keycode;
	xcb_keysym_t *syms = xcb_get_keyboard_mapping_keysyms(km);
	int n = xcb_get_keyboard_mapping_keysyms_length(km);
	for (int i = 0; i < n && g->ncodes < LK_MAX_CODES; i++) {
		int col = i % per;
		if (col < 2 && syms[i] == ks) {
			xcb_keycode_t kc = setup->min_keycode + i / per;
			if (g->ncodes == 0 || g->codes[g->ncodes - 1] != kc) g->codes[g->ncodes++] = kc;
		}
	}
	uint16_t numlock = lk_numlock_mask(c, setup, km);
	free(km);
	if (g->ncodes == 0) { xcb_disconnect(c); free(g); return 3; }

	g->extras[0] = 0;
	g->extras[1] = XCB_MOD_MASK_LOCK;
	g->extras[2] = numlock;
	g->extras[3] = XCB_MOD_MASK_LOCK | numlock;
	g->nextras = 4;

	xcb_void_cookie_t cookies[LK_MAX_CODES * 4];
	int nc = 0;
	for (int i = 0; i < g->ncodes; i++)
		for (int e = 0; e < g->nextras; e++)
			cookies[nc++] = xcb_grab_key_checked(c, 1, g->root, mods | g->extras[e], g->codes[i],
				XCB_GRAB_MODE_ASYNC, XCB_GRAB_MODE_ASYNC);
	int rc = 0;
	for (int i = 0; i < nc; i++) {
		xcb_generic_error_t *err = xcb_request_check(c, cookies[i]);
		if (err != NULL) {
			if (rc == 0) { *xerr = err->error_code; rc = err->error_code == XCB_ACCESS ? 4 : 5; }
			free(err);
		}
	}
	if (rc != 0) {
		lk_ungrab(g);
		xcb_disconnect(c);
		free(g);
		return rc;
	}
	*out = g;
	return 0;
}

#define LK_MOD_MASK (XCB_MOD_MASK_CONTROL | XCB_MOD_MASK_SHIFT | XCB_MOD_MASK_1 | XCB_MOD_MASK_4)

static int lk_is_ours(lk_grab *g, xcb_keycode_t kc, uint16_t state) {
	if ((state & LK_MOD_MASK) != g->mods) return 0;
	for (int i = 0; i < g->ncodes; i++)
		if (g->codes[i] == kc) return 1;
	return 0;
}

// lk_wait returns 1 when the combo is pressed, 0 when stopfd becomes
// readable, -1 when the X connection is lost.
static int lk_wait(lk_grab *g, int stopfd) {
	for (;;) {
		xcb_generic_event_t *ev;
		while ((ev = xcb_poll_for_event(g->c)) != NULL) {
			int pressed = 0;
			switch (ev->response_type & ~0x80) {
			case XCB_KEY_PRESS: {
				xcb_key_press_event_t *kp = (xcb_key_press_event_t *)ev;
				// X auto-repeat sends release+press pairs with one timestamp.
				if (lk_is_ours(g, kp->detail, kp->state) &&
					!(g->down && kp->time == g->last_release)) pressed = 1;
				g->down = 1;
				break;
			}
			case XCB_KEY_RELEASE: {
				xcb_key_release_event_t *kr = (xcb_key_release_event_t *)ev;
				g->last_release = kr->time;
				break;
			}
			}
			free(ev);
			if (pressed) return 1;
		}
		if (xcb_connection_has_error(g->c)) return -1;
		struct pollfd fds[2] = {
			{ .fd = xcb_get_file_descriptor(g->c), .events = POLLIN },
			{ .fd = stopfd, .events = POLLIN },
		};
		int r = poll(fds, 2, -1);
		if (r < 0 && errno != EINTR) return -1;
		if (fds[1].revents) return 0;
		if (fds[0].revents & (POLLERR | POLLHUP | POLLNVAL)) return -1;
	}
}

static void lk_close(lk_grab *g) {
	if (g == NULL) return;
	if (!xcb_connection_has_error(g->c)) lk_ungrab(g);
	xcb_disconnect(g->c);
	free(g);
}
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"unsafe"
)

// x11Keysym maps a canonical key name to its X keysym name.
func x11Keysym(key string) string {
	switch key {
	case "space":
		return "space"
	case "enter":
		return "Return"
	case "tab":
		return "Tab"
	case "escape":
		return "Escape"
	}
	if key[0] == 'f' && len(key) > 1 {
		return "F" + key[1:]
	}
	return key
}

func x11Mods(c Combo) C.uint16_t {
	var m C.uint16_t
	for _, x := range c.Mods {
		switch x {
		case Ctrl:
			m |= C.XCB_MOD_MASK_CONTROL
		case Shift:
			m |= C.XCB_MOD_MASK_SHIFT
		case Alt:
			m |= C.XCB_MOD_MASK_1
		case Super:
			m |= C.XCB_MOD_MASK_4
		}
	}
	return m
}

// Hotkey is a grabbed combo. Serve delivers its presses; Close releases it.
type Hotkey struct {
	combo Combo
	g     *C.lk_grab
	stopR *os.File
	stopW *os.File

	mu      sync.Mutex
	serving bool
	closed  bool
	done    chan struct{}
}

// Grab parses combo and grabs it on the X display named by DISPLAY. When
// Grab returns nil the grab is in place: the X server delivers the combo to
// this process only. It fails with ErrUnavailable when no display opens and
// with a clear error when another application holds the combo.
func Grab(combo string) (*Hotkey, error) {
	c, err := Parse(combo)
	if err != nil {
		return nil, err
	}
	if os.Getenv("DISPLAY") == "" {
		return nil, fmt.Errorf("%w: DISPLAY is not set (no X session)", ErrUnavailable)
	}
	name := C.CString(x11Keysym(c.Key))
	defer C.free(unsafe.Pointer(name))
	var g *C.lk_grab
	var xerr C.int
	switch rc := C.lk_open(name, x11Mods(c), &g, &xerr); rc {
	case 0:
	case 1:
		return nil, fmt.Errorf("%w: cannot open X display %q", ErrUnavailable, os.Getenv("DISPLAY"))
	case 2, 3:
		return nil, fmt.Errorf("hotkey %s: the key is not on this keyboard", c)
	case 4:
		return nil, fmt.Errorf("hotkey %s is already taken by another application: choose another (the hotkey setting)", c)
	default:
		return nil, fmt.Errorf("hotkey %s: X server refused the grab (X error %d)", c, int(xerr))
	}
	r, w, err := os.Pipe()
	if err != nil {
		C.lk_close(g)
		return nil, fmt.Errorf("hotkey: %w", err)
	}
	return &Hotkey{combo: c, g: g, stopR: r, stopW: w, done: make(chan struct{})}, nil
}

// Combo is the grabbed combo.
func (h *Hotkey) Combo() Combo { return h.combo }

// Serve calls onPress (on Serve's goroutine; keep it short) each time the
// combo is pressed, until ctx is done (it returns nil) or the X connection
// is lost. It releases the grab when it returns. Serve runs at most once.
func (h *Hotkey) Serve(ctx context.Context, onPress func()) error {
	h.mu.Lock()
	if h.closed || h.serving {
		h.mu.Unlock()
		return errors.New("hotkey: Serve called on a closed or already served Hotkey")
	}
	h.serving = true
	h.mu.Unlock()
	defer close(h.done)
	defer h.release()

	stop := context.AfterFunc(ctx, h.signalStop)
	defer stop()
	fd := C.int(h.stopR.Fd())
	for {
		switch C.lk_wait(h.g, fd) {
		case 1:
			onPress()
		case 0:
			return nil
		default:
			return fmt.Errorf("hotkey %s: lost the X display connection", h.combo)
		}
	}
}

func (h *Hotkey) signalStop() { _, _ = h.stopW.Write([]byte{0}) }

func (h *Hotkey) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.g != nil {
		C.lk_close(h.g)
		h.g = nil
	}
	h.closed = true
}

// Close releases the grab; if Serve is running it makes Serve return and
// waits for it. Close is safe to call more than once.
func (h *Hotkey) Close() error {
	h.mu.Lock()
	serving := h.serving
	h.mu.Unlock()
	if serving {
		h.signalStop()
		<-h.done
	} else {
		h.release()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopR != nil {
		h.stopR.Close()
		h.stopW.Close()
		h.stopR, h.stopW = nil, nil
	}
	return nil
}

// Listen grabs combo and calls onPress each time it is pressed, until ctx
// is done (then it returns nil). It returns an error wrapping
// ErrUnavailable when there is no display to grab keys on.
func Listen(ctx context.Context, combo string, onPress func()) error {
	h, err := Grab(combo)
	if err != nil {
		return err
	}
	defer h.Close()
	return h.Serve(ctx, onPress)
}
