package keychain

import (
	"errors"
	"fmt"
	"strings"
)

// Keychain stores small secret strings under (service, account).
type Keychain interface {
	// Get returns the value under (service, account), or ErrNotFound.
	Get(service, account string) (string, error)
	// Set stores value under (service, account), replacing any previous one.
	Set(service, account, value string) error
	// Delete removes the value under (service, account) (ErrNotFound if absent).
	Delete(service, account string) error
}

var (
	// ErrNotFound: the keychain answered and holds no such item.
	ErrNotFound = errors.New("keychain: item not found")
	// ErrUnavailable: no keychain answers. The wrapping error says, in one
	// line, what is missing and how to fix it.
	ErrUnavailable = errors.New("keychain unavailable")
)

// probeService and probeAccount name an item Probe looks up; it need not
// exist.
const (
	probeService = "latchkey"
	probeAccount = "latchkey-probe"
)

// Probe reports whether k answers: nil when it does (whether or not it holds
// anything), otherwise an error wrapping ErrUnavailable.
func Probe(k Keychain) error {
	if k == nil {
		return fmt.Errorf("%w: no keychain configured", ErrUnavailable)
	}
	_, err := k.Get(probeService, probeAccount)
	if err == nil || errors.Is(err, ErrNotFound) {
		return nil
	}
	if errors.Is(err, ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %v", ErrUnavailable, err)
}

// unavailable wraps ErrUnavailable with a one-line explanation.
func unavailable(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrUnavailable}, args...)...)
}

// oneLine shortens an error text from a lower layer to a single bounded line
// so that nothing resembling a stack reaches the user.
func oneLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	s = strings.TrimSpace(s)
	const max = 160
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}
