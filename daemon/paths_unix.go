//go:build unix

package daemon

import (
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// ownerUID returns the uid that owns the file fi describes.
func ownerUID(fi fs.FileInfo) (int, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}

// loginRuntimeDir returns /run/user/UID when it exists as a directory (not a
// symbolic link) owned by this user and closed to others, else "".
func loginRuntimeDir() string {
	d := filepath.Join("/run/user", strconv.Itoa(os.Getuid()))
	fi, err := os.Lstat(d)
	if err != nil || !fi.IsDir() || fi.Mode().Perm()&0o077 != 0 {
		return ""
	}
	if uid, ok := ownerUID(fi); !ok || uid != os.Getuid() {
		return ""
	}
	return d
}
