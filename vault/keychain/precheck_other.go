//go:build !linux

package keychain

// precheck has nothing to check outside Linux: the macOS Keychain and the
// Windows Credential Manager need no bus.
func precheck() error { return nil }
