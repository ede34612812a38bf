package storeserver

import (
	"bufio"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/latchkey/latchkey/vault/envelope"
)

// SecretsKeySize is the length of a server secrets key in bytes.
const SecretsKeySize = 32

// ErrNoSecretsKey is returned when a client secret is to be sealed or opened
// and the server was started without --secrets-key-file.
var ErrNoSecretsKey = errors.New("storeserver: no secrets key: start latchkey-store with --secrets-key-file (LATCHKEY_STORE_SECRETS_KEY_FILE) to store client secrets")

// SecretsKeys seal the organisation's client secrets at rest: envelope
// encryption (XChaCha20-Poly1305, vault/envelope) under a server key that is
// never in the database. Every sealed secret names the id of the key that
// sealed it. The first key is the current one and seals; the others only
// open, so a key can be rotated: put the new key first, restart (Reseal then
// re-seals every secret under it), and drop the old line afterwards.
type SecretsKeys struct {
	keys []secretsKey // keys[0] seals
}

type secretsKey struct {
	id  string
	key []byte
}

// NewSecretsKeys builds a key ring from raw 32-byte keys, current first.
func NewSecretsKeys(keys ...[]byte) (*SecretsKeys, error) {
	if len(keys) == 0 {
		return nil, errors.New("storeserver: the secrets key file holds no key")
	}
	k := &SecretsKeys{}
	seen := map[string]bool{}
	for i, raw := range keys {
		if len(raw) != SecretsKeySize {
			return nil, fmt.Errorf("storeserver: secrets key %d is %d bytes, want %d", i+1, len(raw), SecretsKeySize)
		}
		id := secretsKeyID(raw)
		if seen[id] {
			return nil, fmt.Errorf("storeserver: secrets key %d appears twice", i+1)
		}
		seen[id] = true
		k.keys = append(k.keys, secretsKey{id: id, key: append([]byte(nil), raw...)})
	}
	return k, nil
}

// LoadSecretsKeys reads a key file: one base64 (standard encoding) 32-byte
// key per line, the current key first; blank lines and lines starting with
// # are ignored. The file must not be readable by group or others.
func LoadSecretsKeys(path string) (*SecretsKeys, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("storeserver: secrets key file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("storeserver: secrets key file %s is readable by others (mode %04o): chmod 600 it", path, fi.Mode().Perm())
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("storeserver: secrets key file: %w", err)
	}
	defer f.Close()
	var keys [][]byte
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(raw) != SecretsKeySize {
			// Never echo the line: it is key material.
			return nil, fmt.Errorf("storeserver: secrets key file %s line %d: not a base64 %d-byte key (make one with `latchkey-store new-secrets-key`)", path, line, SecretsKeySize)
		}
		keys = append(keys, raw)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("storeserver: secrets key file: %w", err)
	}
	return NewSecretsKeys(keys...)
}

// NewSecretsKeyLine returns a fresh random key in the key file's line form.
func NewSecretsKeyLine() (string, error) {
	raw := make([]byte, SecretsKeySize)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(raw), nil
}

// secretsKeyID derives a key's public id (never the key itself).
func secretsKeyID(key []byte) string {
	sum := sha256.Sum256(append([]byte("latchkey-store secrets key id\x00"), key...))
	return hex.EncodeToString(sum[:])[:envelope.KeyIDLen]
}

// CurrentID is the id of the key that seals.
func (k *SecretsKeys) CurrentID() string { return k.keys[0].id }

// secretBinding binds a sealed client secret to its integration: a sealed
// value copied to another integration's row does not open.
func secretBinding(integration string) envelope.Binding {
	return envelope.Binding{User: "latchkey-store:org", Device: "client_secret", Integration: integration}
}

// Seal seals an integration's client secret under the current key.
func (k *SecretsKeys) Seal(integration, secret string) (string, error) {
	if k == nil {
		return "", ErrNoSecretsKey
	}
	cur := k.keys[0]
	return envelope.Seal(cur.key, cur.id, secretBinding(integration), []byte(secret))
}

// Open opens a sealed client secret with whichever key sealed it.
func (k *SecretsKeys) Open(integration, sealed string) (string, error) {
	if k == nil {
		return "", ErrNoSecretsKey
	}
	env, err := envelope.Parse(sealed)
	if err != nil {
		return "", fmt.Errorf("storeserver: sealed client secret of %s: %w", integration, err)
	}
	for _, sk := range k.keys {
		if sk.id == env.KeyID {
			pt, err := env.Open(sk.key, sk.id, secretBinding(integration))
			if err != nil {
				return "", fmt.Errorf("storeserver: sealed client secret of %s: %w", integration, err)
			}
			return string(pt), nil
		}
	}
	return "", fmt.Errorf("storeserver: the client secret of %s is sealed under key %s, which is not in the secrets key file", integration, env.KeyID)
}

// sessionKey derives the key that seals the console's cookies, so that any
// replica holding the same key file accepts them.
func (k *SecretsKeys) sessionKey() []byte {
	key, err := hkdf.Key(sha256.New, k.keys[0].key, nil, "latchkey-store console session", 32)
	if err != nil {
		panic(err) // only for an impossible length
	}
	return key
}

// sealedKeyID is the key id a sealed value names ("" when it is malformed).
func sealedKeyID(sealed string) string {
	env, err := envelope.Parse(sealed)
	if err != nil {
		return ""
	}
	return env.KeyID
}
