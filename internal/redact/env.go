package redact

import (
	"os"
	"strings"
)

// SecretEnv lists the environment variables that hold a secret latchkey
// reads itself and never hands down: the passphrase of the opt-in file
// keychain.
var SecretEnv = []string{"LATCHKEY_KEYCHAIN_PASSPHRASE"}

// ChildEnv returns this process's environment without the SecretEnv
// variables: the environment for every program latchkey starts (the URL
// opener, systemctl, launchctl).
func ChildEnv() []string {
	env := os.Environ()
	out := env[:0:0]
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		secret := false
		for _, s := range SecretEnv {
			if k == s {
				secret = true
			}
		}
		if !secret {
			out = append(out, kv)
		}
	}
	return out
}
