// Package keychain owns where latchkey keeps its few secrets outside the
// database: the vault salt (and, during a key rotation, the next salt) and
// integration client secrets.
//
// [System] is the operating system's keychain (Secret Service on Linux, the
// macOS Keychain, the Windows Credential Manager) through go-keyring. When no
// keychain answers it fails with [ErrUnavailable] and one line that says what
// is missing and how to fix it; it never starts a D-Bus session bus on its own.
//
// [File] is an explicit opt-in for machines without a keychain: a 0600 file
// whose values are sealed under a key derived from a passphrase with argon2id.
// Nothing ever falls back to it silently.
package keychain
