package vault

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/latchkey/latchkey/vault/envelope"
	"github.com/latchkey/latchkey/vault/store"
)

// SetSealedMeta seals value (a signing key, say) and stores it in the
// store's meta table under name, bound to (user, device, name). RotateKey
// re-seals every such entry with the records.
func (v *Vault) SetSealedMeta(ctx context.Context, name string, value []byte) error {
	if name == "" {
		return errors.New("vault: sealed meta needs a name")
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	s, err := envelope.Seal(v.cur.aes, v.cur.id, v.binding(name), value)
	if err != nil {
		return err
	}
	return v.st.SetMeta(ctx, name, s)
}

// GetSealedMeta opens the meta entry name stored by SetSealedMeta. Absent:
// store.ErrNotFound; under a key that is gone: envelope.ErrKeyMismatch.
func (v *Vault) GetSealedMeta(ctx context.Context, name string) ([]byte, error) {
	s, err := v.st.GetMeta(ctx, name)
	if err != nil {
		return nil, err
	}
	e, err := envelope.Parse(s)
	if err != nil {
		return nil, err
	}
	v.mu.RLock()
	k := v.keys[e.KeyID]
	v.mu.RUnlock()
	if k == nil {
		return nil, fmt.Errorf("%w: meta %s is sealed under key %s", envelope.ErrKeyMismatch, name, e.KeyID)
	}
	return envelope.Open(k.aes, k.id, v.binding(name), s)
}

// metaDeviceID is the meta key of the device id.
const metaDeviceID = "device_id"

// DeviceID returns this machine's stable device id for the user owning s,
// creating it (16 random bytes, hex) the first time.
func DeviceID(ctx context.Context, s MetaStore) (string, error) {
	id, err := s.GetMeta(ctx, metaDeviceID)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("vault: %w", err)
	}
	return s.SetMetaIfAbsent(ctx, metaDeviceID, hex.EncodeToString(b))
}
