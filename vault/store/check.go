package store

import (
	"errors"
	"fmt"

	"github.com/latchkey/latchkey/vault/envelope"
)

// CheckKey refuses a record key without a user, a device or an
// integration.
func CheckKey(k Key) error {
	if k.User == "" || k.Device == "" || k.Integration == "" {
		return errors.New("store: record key needs a user, a device and an integration")
	}
	return nil
}

// CheckRecord refuses anything that is not a well-formed envelope whose key
// id matches the record's: a local store never holds plaintext.
func CheckRecord(rec Record) error {
	if err := CheckKey(rec.Key); err != nil {
		return err
	}
	e, err := envelope.Parse(rec.Envelope)
	if err != nil {
		return fmt.Errorf("store: refusing a record that is not a sealed envelope: %w", err)
	}
	if e.KeyID != rec.KeyID {
		return fmt.Errorf("store: record key id %q does not match its envelope's", rec.KeyID)
	}
	return nil
}

// CheckConnection refuses a connection without an integration name or with
// an unknown state.
func CheckConnection(c Connection) error {
	if c.Integration == "" {
		return errors.New("store: connection needs an integration name")
	}
	switch c.State {
	case StateConnected, StateReconnectNeeded, StateDisconnected:
		return nil
	}
	return fmt.Errorf("store: unknown connection state %q", c.State)
}
