package keychain

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/latchkey/latchkey/internal/atomicfile"
)

// ErrBadPassphrase: the passphrase does not open the file keychain.
var ErrBadPassphrase = errors.New("keychain: wrong passphrase for the file keychain")

// fileFormat names the file keychain's on-disk format.
const fileFormat = "latchkey-file-keychain/1"

// KDFParams are the argon2id parameters of a file keychain, recorded in the
// file so that they can be raised later without breaking existing files.
type KDFParams struct {
	Time      uint32 `json:"time"`
	MemoryKiB uint32 `json:"memory_kib"`
	Threads   uint8  `json:"threads"`
}

// DefaultKDF returns what new file keychains use (RFC 9106's second
// recommended option: 64 MiB, three passes).
func DefaultKDF() KDFParams { return KDFParams{Time: 3, MemoryKiB: 64 << 10, Threads: 4} }

type fileKDF struct {
	Name string `json:"name"`
	Salt string `json:"salt"`
	KDFParams
}

type fileDoc struct {
	Format string            `json:"format"`
	KDF    fileKDF           `json:"kdf"`
	Check  string            `json:"check"`
	Items  map[string]string `json:"items"`
}

// fileKeychain is the opt-in passphrase-sealed file backend.
type fileKeychain struct {
	path string
	mu   sync.Mutex // serialises this process; the lock file serialises processes
	salt string     // the KDF salt the key was derived under (base64)
	key  []byte
}

// File opens (or creates) the file keychain at path, sealed under a key
// derived with argon2id from passphrase. The file is 0600 in a 0700 directory
// and is rewritten atomically; concurrent processes are serialised with a
// lock file beside it. A wrong passphrase fails with ErrBadPassphrase.
//
// It is for machines without a keychain, and only when the user asks for it.
func File(path string, passphrase []byte) (Keychain, error) {
	return openFile(path, passphrase, DefaultKDF())
}

// FileWithKDF is File with explicit argon2id parameters, recorded in a new
// file (an existing file keeps its own). Parameters below DefaultKDF are for
// tests only.
func FileWithKDF(path string, passphrase []byte, params KDFParams) (Keychain, error) {
	if params.Time == 0 || params.Threads == 0 || params.MemoryKiB < 8*uint32(params.Threads) {
		return nil, errors.New("keychain: argon2id parameters out of range")
	}
	return openFile(path, passphrase, params)
}

func openFile(path string, passphrase []byte, params KDFParams) (Keychain, error) {
	if len(passphrase) == 0 {
		return nil, errors.New("keychain: the file keychain needs a non-empty passphrase (set LATCHKEY_KEYCHAIN_PASSPHRASE)")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("keychain: %w", err)
	}
	k := &fileKeychain{path: path}
	err := k.locked(func() error {
		doc, err := k.read()
		if errors.Is(err, fs.ErrNotExist) {
			return k.create(passphrase, params)
		}
		if err != nil {
			return err
		}
		return k.unlock(doc, passphrase)
	})
	if err != nil {
		return nil, err
	}
	return k, nil
}

func (k *fileKeychain) create(passphrase []byte, params KDFParams) error {
	salt := make([]byte, 32)
	if _, err := rand.Read(salt); err != nil {
		return fmt.Errorf("keychain: %w", err)
	}
	k.salt = base64.StdEncoding.EncodeToString(salt)
	k.key = argon2.IDKey(passphrase, salt, params.Time, params.MemoryKiB, params.Threads, chacha20poly1305.KeySize)
	check, err := k.seal(checkAD(), []byte(fileFormat))
	if err != nil {
		return err
	}
	return k.write(&fileDoc{
		Format: fileFormat,
		KDF:    fileKDF{Name: "argon2id", Salt: k.salt, KDFParams: params},
		Check:  check,
		Items:  map[string]string{},
	})
}

func (k *fileKeychain) unlock(doc *fileDoc, passphrase []byte) error {
	p := doc.KDF.KDFParams
	if doc.KDF.Name != "argon2id" || p.Time == 0 || p.Threads == 0 || p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > 4<<20 {
		return fmt.Errorf("keychain: %s: unsupported key derivation parameters", k.path)
	}
	salt, err := base64.StdEncoding.DecodeString(doc.KDF.Salt)
	if err != nil || len(salt) < 16 {
		return fmt.Errorf("keychain: %s: malformed salt", k.path)
	}
	key := argon2.IDKey(passphrase, salt, p.Time, p.MemoryKiB, p.Threads, chacha20poly1305.KeySize)
	k.key, k.salt = key, doc.KDF.Salt
	pt, err := k.open(checkAD(), doc.Check)
	if err != nil || !bytes.Equal(pt, []byte(fileFormat)) {
		k.key = nil
		return ErrBadPassphrase
	}
	return nil
}

func (k *fileKeychain) Get(service, account string) (string, error) {
	var v string
	err := k.locked(func() error {
		doc, err := k.readOwn()
		if err != nil {
			return err
		}
		s, ok := doc.Items[itemName(service, account)]
		if !ok {
			return ErrNotFound
		}
		pt, err := k.open(itemAD(service, account), s)
		if err != nil {
			return fmt.Errorf("keychain: %s: item %q/%q does not open (file altered?)", k.path, service, account)
		}
		v = string(pt)
		return nil
	})
	return v, err
}

func (k *fileKeychain) Set(service, account, value string) error {
	return k.locked(func() error {
		doc, err := k.readOwn()
		if err != nil {
			return err
		}
		s, err := k.seal(itemAD(service, account), []byte(value))
		if err != nil {
			return err
		}
		doc.Items[itemName(service, account)] = s
		return k.write(doc)
	})
}

func (k *fileKeychain) Delete(service, account string) error {
	return k.locked(func() error {
		doc, err := k.readOwn()
		if err != nil {
			return err
		}
		name := itemName(service, account)
		if _, ok := doc.Items[name]; !ok {
			return ErrNotFound
		}
		delete(doc.Items, name)
		return k.write(doc)
	})
}

// locked runs f holding both the in-process mutex and the cross-process
// lock file.
func (k *fileKeychain) locked(f func() error) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	unlock, err := lockFile(k.path + ".lock")
	if err != nil {
		return fmt.Errorf("keychain: lock %s: %w", k.path, err)
	}
	defer unlock()
	return f()
}

func (k *fileKeychain) read() (*fileDoc, error) {
	b, err := os.ReadFile(k.path)
	if err != nil {
		return nil, err
	}
	var doc fileDoc
	if err := json.Unmarshal(b, &doc); err != nil || doc.Format != fileFormat {
		return nil, fmt.Errorf("keychain: %s is not a latchkey file keychain", k.path)
	}
	if doc.Items == nil {
		doc.Items = map[string]string{}
	}
	return &doc, nil
}

// readOwn reads the file and checks it is still the one this key opens.
func (k *fileKeychain) readOwn() (*fileDoc, error) {
	doc, err := k.read()
	if errors.Is(err, fs.ErrNotExist) {
		return nil, unavailable("the file keychain %s was removed", k.path)
	}
	if err != nil {
		return nil, err
	}
	if doc.KDF.Salt != k.salt {
		return nil, fmt.Errorf("keychain: %s was replaced by another file keychain; restart to unlock it", k.path)
	}
	return doc, nil
}

// write replaces the file atomically (temporary file, fsync, rename).
func (k *fileKeychain) write(doc *fileDoc) error {
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("keychain: %w", err)
	}
	if err := atomicfile.WriteFile(k.path, b, 0o600); err != nil {
		return fmt.Errorf("keychain: %w", err)
	}
	return nil
}

func (k *fileKeychain) seal(ad, pt []byte) (string, error) {
	aead, err := chacha20poly1305.NewX(k.key)
	if err != nil {
		return "", fmt.Errorf("keychain: %w", err)
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(pt)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("keychain: %w", err)
	}
	return base64.StdEncoding.EncodeToString(aead.Seal(nonce, nonce, pt, ad)), nil
}

func (k *fileKeychain) open(ad []byte, s string) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	aead, err := chacha20poly1305.NewX(k.key)
	if err != nil {
		return nil, err
	}
	if len(raw) < aead.NonceSize()+aead.Overhead() {
		return nil, errors.New("short")
	}
	return aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], ad)
}

func itemName(service, account string) string { return service + "\x00" + account }

func checkAD() []byte { return lengthPrefixed(fileFormat, "check") }

func itemAD(service, account string) []byte {
	return lengthPrefixed(fileFormat, "item", service, account)
}

func lengthPrefixed(fields ...string) []byte {
	var b []byte
	for _, f := range fields {
		b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	return b
}
