package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// rotate-key with a keychain that no longer answers (here the opt-in file
// keychain removed under the running daemon) exits 5 with one line, like
// every other keychain failure, not 1.
func TestCLIRotateKeyKeychainGoneExits5(t *testing.T) {
	u := newUser(t, false)
	u.startDaemon(freeAddr(t))
	if _, errOut, code := u.run("", "status"); code != 0 {
		t.Fatalf("status: %d %s", code, errOut)
	}
	if err := os.Remove(filepath.Join(u.dir, "data", "latchkey", "keychain.sealed")); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := u.run("", "rotate-key")
	if code != exitKeychain || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "keychain") {
		t.Fatalf("rotate-key without a keychain: exit %d (want %d), stderr %q", code, exitKeychain, errOut)
	}
}
