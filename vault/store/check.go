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

// CheckChange refuses a change that is not one coherent write: both a put
// and a delete, a replacement without a put (or of the record it puts), a
// bad expected version, a push with no record, a connection change without
// an integration name, or a malformed record or key.
func CheckChange(c Change) error {
	switch {
	case c.Put != nil && c.Delete != nil:
		return errors.New("store: a change either puts or deletes a record, not both")
	case c.Replaces != nil && (c.Put == nil || *c.Replaces == c.Put.Key):
		return errors.New("store: a change replaces another record only when it puts one")
	case c.Put != nil:
		if err := CheckRecord(*c.Put); err != nil {
			return err
		}
		if c.Expect < AnyVersion {
			return fmt.Errorf("store: bad expected version %d", c.Expect)
		}
	case c.Delete != nil:
		if err := CheckKey(*c.Delete); err != nil {
			return err
		}
	case c.Push:
		return errors.New("store: a push needs a record to put or delete")
	case c.Conn != nil && c.Integration == "":
		return errors.New("store: a connection change needs an integration name")
	}
	return nil
}
