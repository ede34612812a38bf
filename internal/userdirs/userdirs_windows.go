package userdirs

import "io/fs"

// OwnerUID: Windows has no uid; the per-user profile directories latchkey
// uses are protected by their ACLs.
func OwnerUID(fs.FileInfo) (int, bool) { return 0, false }

// LoginRuntimeDir: Windows has no per-user runtime directory.
func LoginRuntimeDir() string { return "" }
