//go:build unix

package userdirs

import (
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// OwnerUID returns the uid that owns the file fi describes.
func OwnerUID(fi fs.FileInfo) (int, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}

// LoginRuntimeDir returns /run/user/UID when it exists as a directory (not
// a symbolic link) owned by this user and closed to others, else "".
func LoginRuntimeDir() string {
	d := filepath.Join("/run/user", strconv.Itoa(os.Getuid()))
	fi, err := os.Lstat(d)
	if err != nil || !fi.IsDir() || fi.Mode().Perm()&0o077 != 0 {
		return ""
	}
	if uid, ok := OwnerUID(fi); !ok || uid != os.Getuid() {
		return ""
	}
	return d
}
