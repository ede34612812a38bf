//go:build linux && cgo

// Package xdisplay checks that an X display opens, with XCB (which never
// ends the process on failure, unlike GTK).
package xdisplay

/*
#cgo pkg-config: xcb
#include <stdlib.h>
#include <xcb/xcb.h>

static int lk_xcb_check(const char *name) {
	xcb_connection_t *c = xcb_connect(name, NULL);
	int err = c == NULL ? -1 : xcb_connection_has_error(c);
	if (c != NULL) xcb_disconnect(c);
	return err;
}
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// Check opens and closes the X display name ("" = $DISPLAY).
func Check(name string) error {
	var cname *C.char
	if name != "" {
		cname = C.CString(name)
		defer C.free(unsafe.Pointer(cname))
	}
	if rc := C.lk_xcb_check(cname); rc != 0 {
		return fmt.Errorf("cannot open X display (xcb error %d)", int(rc))
	}
	return nil
}
