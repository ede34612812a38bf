package keychain

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/zalando/go-keyring"
)

// DefaultTimeout bounds one call to the system keychain. A Secret Service
// that waits on an unlock prompt nobody can answer would otherwise block
// forever.
const DefaultTimeout = 15 * time.Second

// System returns the operating system's keychain.
//
// On Linux it refuses, with ErrUnavailable, when no session bus is known
// (DBUS_SESSION_BUS_ADDRESS unset and no /run/user/UID/bus socket), instead of
// letting the D-Bus library autolaunch a bus and keyring daemon that would
// outlive the process.
func System() Keychain {
	return systemKeychain{timeout: DefaultTimeout}
}

type systemKeychain struct {
	timeout time.Duration
}

func (s systemKeychain) Get(service, account string) (string, error) {
	var v string
	err := s.call(func() (err error) {
		v, err = keyring.Get(service, account)
		return err
	})
	return v, err
}

func (s systemKeychain) Set(service, account, value string) error {
	return s.call(func() error { return keyring.Set(service, account, value) })
}

func (s systemKeychain) Delete(service, account string) error {
	return s.call(func() error { return keyring.Delete(service, account) })
}

// call runs f after the platform precheck, bounded by the timeout, and
// classifies its error.
func (s systemKeychain) call(f func() error) error {
	if err := precheck(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- f() }()
	t := time.NewTimer(s.timeout)
	defer t.Stop()
	select {
	case err := <-done:
		return classify(err)
	case <-t.C:
		// The goroutine is left to finish on its own; its result is dropped.
		return unavailable("the keychain did not answer within %s (it may be locked and waiting for a password prompt: unlock it and retry)", s.timeout)
	}
}

// classify maps the error shapes go-keyring and godbus return onto
// ErrNotFound or a one-line ErrUnavailable.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, keyring.ErrNotFound) {
		return ErrNotFound
	}
	if errors.Is(err, keyring.ErrSetDataTooBig) {
		return fmt.Errorf("keychain: value too large for this keychain")
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "failed to unlock") ||
		strings.Contains(msg, "IsLocked") ||
		strings.Contains(msg, "Prompter") || strings.Contains(msg, "prompter"):
		return unavailable("the keychain is locked (unlock it: log in to the desktop session, or run `gnome-keyring-daemon --unlock`)")
	case strings.Contains(msg, "org.freedesktop.secrets"):
		return unavailable("no Secret Service keychain answers on the session bus (install and unlock gnome-keyring, or run inside a desktop session)")
	case strings.Contains(msg, "dbus-launch") ||
		strings.Contains(msg, "couldn't determine address of session bus"):
		return unavailable("no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is unset): run inside a desktop session, or under dbus-run-session with gnome-keyring unlocked, or opt in to the file keychain (LATCHKEY_KEYCHAIN=file)")
	case strings.Contains(msg, "dial unix") ||
		strings.Contains(msg, "no such file or directory") ||
		strings.Contains(msg, "connection refused"):
		return unavailable("the session bus named by DBUS_SESSION_BUS_ADDRESS does not answer (start a desktop session, or run under dbus-run-session with gnome-keyring unlocked)")
	}
	return unavailable("the keychain refused the request: %s", oneLine(msg))
}
