package vault

import (
	"context"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/latchkey/latchkey/vault/envelope"
	"github.com/latchkey/latchkey/vault/keychain"
)

// SaltLen is the length of the salt in bytes.
const SaltLen = 32

// nextSuffix names the keychain account of the salt a rotation moves to.
const nextSuffix = ".next"

// KeyIDOf returns the id of the key the salt stored in kc gives user (the
// primary salt, or the next one mid-rotation), without creating a salt or
// touching any record: for status displays. No salt: keychain.ErrNotFound.
func KeyIDOf(kc keychain.Keychain, service, user string) (string, error) {
	if service == "" {
		service = DefaultService
	}
	v := &Vault{kc: kc, service: service, user: user}
	salt, err := v.getSalt(user + nextSuffix)
	if err == nil && salt == nil {
		salt, err = v.getSalt(user)
	}
	if err != nil {
		return "", err
	}
	if salt == nil {
		return "", keychain.ErrNotFound
	}
	k, err := deriveKey(salt, user)
	if err != nil {
		return "", err
	}
	return k.id, nil
}

// key is one vault key: the AEAD key and its public id.
type key struct {
	id   string
	aes  []byte      // XChaCha20-Poly1305 key
	aead cipher.AEAD // built from aes once, for the per-request opens
}

// deriveKey derives the record key and its id from salt, bound to user.
func deriveKey(salt []byte, user string) (*key, error) {
	k, err := hkdf.Key(sha256.New, salt, nil, "latchkey/v1/record-key\x00"+user, 32)
	if err != nil {
		return nil, fmt.Errorf("vault: derive key: %w", err)
	}
	id, err := hkdf.Key(sha256.New, salt, nil, "latchkey/v1/key-id\x00"+user, envelope.KeyIDLen/2)
	if err != nil {
		return nil, fmt.Errorf("vault: derive key id: %w", err)
	}
	aead, err := envelope.NewAEAD(k)
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	return &key{id: hex.EncodeToString(id), aes: k, aead: aead}, nil
}

// KeyID returns the id of the key that seals (never the key); "" for a
// read-only vault opened without a salt.
func (v *Vault) KeyID() string {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.cur == nil {
		return ""
	}
	return v.cur.id
}

// CheckSalt reads the salt from the keychain again and, when it is gone
// (neither the salt nor a rotation's next one is there: keychain.ErrNotFound,
// not a keychain that does not answer, which is an error), handles it as a
// lost salt at once, as Open would at the next start: a new salt is made
// and seals from then on, and this device's records sealed under the lost
// key are deleted and their integrations marked reconnect-needed (the
// report lists them). A salt replaced by another process is taken up, and
// the records under no key it knows purged the same way. Nothing to do: an
// empty report.
func (v *Vault) CheckSalt(ctx context.Context) (*Report, error) {
	rep := &Report{}
	// The usual case, without the database lock: a salt this vault knows is
	// there (".next" first, as reload reads them).
	for _, account := range []string{v.account + nextSuffix, v.account} {
		s, err := v.getSalt(account)
		if err != nil {
			return nil, err
		}
		if s == nil {
			continue
		}
		k, err := deriveKey(s, v.user)
		if err != nil {
			return nil, err
		}
		v.mu.RLock()
		ok := v.keys[k.id] != nil
		v.mu.RUnlock()
		if ok {
			return rep, nil
		}
		break
	}
	var primary, next []byte
	err := v.st.Lock(ctx, func() error {
		var err error
		primary, next, rep.CreatedSalt, err = v.readOrCreateSalts()
		return err
	})
	if err != nil {
		return nil, err
	}
	known := true
	for _, s := range [][]byte{primary, next} {
		if s == nil {
			continue
		}
		k, err := deriveKey(s, v.user)
		if err != nil {
			return nil, err
		}
		v.mu.RLock()
		known = known && v.keys[k.id] != nil
		v.mu.RUnlock()
	}
	if known {
		return rep, nil
	}
	// The keys are now those of the salts in the keychain, and no other.
	keys, cur, err := v.saltKeys(primary, next)
	if err != nil {
		return nil, err
	}
	v.mu.Lock()
	v.keys, v.cur = keys, cur
	v.mu.Unlock()
	recs, err := v.ownRecords(ctx)
	if err != nil {
		return nil, err
	}
	if rep.Purged, err = v.purgeUnknown(ctx, recs); err != nil {
		return nil, err
	}
	return rep, nil
}

// readOrCreateSalts reads this vault's salts from the keychain (the primary
// and a rotation's next one) and makes and stores a primary one when neither
// is there (created). Callers hold the database lock.
func (v *Vault) readOrCreateSalts() (primary, next []byte, created bool, err error) {
	if primary, err = v.getSalt(v.account); err != nil {
		return nil, nil, false, err
	}
	if next, err = v.getSalt(v.account + nextSuffix); err != nil {
		return nil, nil, false, err
	}
	if primary == nil && next == nil {
		if primary, err = newSalt(); err != nil {
			return nil, nil, false, err
		}
		if err := v.setSalt(v.account, primary); err != nil {
			return nil, nil, false, err
		}
		created = true
	}
	return primary, next, created, nil
}

// saltKeys derives the keys of the given salts (nil ones skipped); cur is
// next's key when there is one (a rotation under way seals under it), else
// primary's.
func (v *Vault) saltKeys(primary, next []byte) (keys map[string]*key, cur *key, err error) {
	keys = map[string]*key{}
	for _, s := range [][]byte{primary, next} {
		if s == nil {
			continue
		}
		k, err := deriveKey(s, v.user)
		if err != nil {
			return nil, nil, err
		}
		keys[k.id], cur = k, k // next, when present, wins
	}
	return keys, cur, nil
}

// reload re-reads the salts from the keychain (another process may have
// rotated them) and adds their keys; the newest one seals from then on.
// ".next" is read before the primary: a rotation that completes between the
// two reads has already made its salt the primary, so the newest salt is
// seen either way, without taking the store's lock.
func (v *Vault) reload(ctx context.Context) error {
	next, err := v.getSalt(v.account + nextSuffix)
	if err != nil {
		return err
	}
	primary, err := v.getSalt(v.account)
	if err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, s := range [][]byte{primary, next} {
		if s == nil {
			continue
		}
		k, err := deriveKey(s, v.user)
		if err != nil {
			return err
		}
		v.keys[k.id], v.cur = k, k
	}
	return nil
}

// getSalt reads the salt under account, nil when there is none.
func (v *Vault) getSalt(account string) ([]byte, error) {
	s, err := v.kc.Get(v.service, account)
	if errors.Is(err, keychain.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("vault: read the salt: %w", err)
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != SaltLen {
		return nil, fmt.Errorf("vault: the keychain item %s/%s does not hold a latchkey salt (delete it to start over; every integration will need reconnecting)", v.service, account)
	}
	return b, nil
}

func (v *Vault) setSalt(account string, salt []byte) error {
	if err := v.kc.Set(v.service, account, base64.StdEncoding.EncodeToString(salt)); err != nil {
		return fmt.Errorf("vault: store the salt: %w", err)
	}
	return nil
}

func newSalt() ([]byte, error) {
	b := make([]byte, SaltLen)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	return b, nil
}
