package vault

import (
	"context"
	"errors"
	"fmt"

	"github.com/latchkey/latchkey/vault/keychain"
	"github.com/latchkey/latchkey/vault/store"
)

// metaKeychainAccount is the meta key naming the keychain account this
// store's salt and secrets are kept under.
const metaKeychainAccount = "vault.keychain_account"

// adoptItems copies this store's keychain items to v.account from where they
// were kept before: the account the store last recorded (the setup moved
// between the default state directory and another), or legacy when the
// store recorded none yet (it predates per-setup accounts). An item already
// under v.account is left alone, so a crash part-way is finished by the next
// Open; the old items are kept, as another setup of the same user may still
// use them. Once done, Open records v.account. It runs under the database
// lock and writes only to the keychain.
func (v *Vault) adoptItems(ctx context.Context, legacy string, secrets []string) error {
	from, err := v.st.GetMeta(ctx, metaKeychainAccount)
	switch {
	case errors.Is(err, store.ErrNotFound):
		from = legacy
	case err != nil:
		return err
	}
	if from == "" || from == v.account {
		return nil
	}
	items := []string{"", nextSuffix}
	for _, name := range secrets {
		if name != "" {
			items = append(items, ":"+name)
		}
	}
	for _, suffix := range items {
		if _, err := v.kc.Get(v.service, v.account+suffix); err == nil {
			continue
		} else if !errors.Is(err, keychain.ErrNotFound) {
			return fmt.Errorf("vault: read the keychain: %w", err)
		}
		val, err := v.kc.Get(v.service, from+suffix)
		if errors.Is(err, keychain.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("vault: read the keychain: %w", err)
		}
		if err := v.kc.Set(v.service, v.account+suffix, val); err != nil {
			return fmt.Errorf("vault: move the keychain item %s/%s to %s%s: %w", v.service, from+suffix, v.account, suffix, err)
		}
	}
	return nil
}

// SetSecret stores a secret (an integration's client secret, say) in the
// keychain under account "<user>:<name>".
func (v *Vault) SetSecret(name, value string) error {
	if name == "" {
		return errors.New("vault: secret needs a name")
	}
	return v.kc.Set(v.service, v.account+":"+name, value)
}

// GetSecret returns the secret name (keychain.ErrNotFound if absent).
func (v *Vault) GetSecret(name string) (string, error) {
	if name == "" {
		return "", errors.New("vault: secret needs a name")
	}
	return v.kc.Get(v.service, v.account+":"+name)
}

// DeleteSecret removes the secret name (keychain.ErrNotFound if absent).
func (v *Vault) DeleteSecret(name string) error {
	if name == "" {
		return errors.New("vault: secret needs a name")
	}
	return v.kc.Delete(v.service, v.account+":"+name)
}
