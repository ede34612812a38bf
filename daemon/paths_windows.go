package daemon

import "io/fs"

// ownerUID: Windows has no uid; the per-user profile directories latchkey
// uses are protected by their ACLs.
func ownerUID(fs.FileInfo) (int, bool) { return 0, false }

// loginRuntimeDir: Windows has no per-user runtime directory.
func loginRuntimeDir() string { return "" }
