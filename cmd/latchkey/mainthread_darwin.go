package main

import "runtime"

// The tray's event loop must run on the main thread on macOS. Locking the
// main goroutine to it here keeps it there through cobra into daemon.Run,
// which runs the tray loop on its own goroutine.
func init() { runtime.LockOSThread() }
