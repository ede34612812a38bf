// Package envelope owns latchkey's sealed-record format: a versioned text
// envelope holding an XChaCha20-Poly1305 ciphertext whose associated data
// binds it to one (user, device, integration).
//
// Wire form (ASCII, safe in JSON, SQL and HTTP):
//
//	lk1.<key id: 16 lowercase hex>.<base64url, no padding: nonce(24) || ciphertext || tag(16)>
//
// The version prefix lets the format change without a flag day; the key id
// lets a reader tell a record sealed under another key without trying it.
package envelope

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"
)

// Version is the prefix of envelopes this package writes.
const Version = "lk1"

// KeyIDLen is the length of a key id in hex characters.
const KeyIDLen = 16

// MaxLen bounds an encoded envelope; anything longer is refused unparsed.
const MaxLen = 64 << 10

var (
	// ErrMalformed: not an envelope (bad shape, encoding or length).
	ErrMalformed = errors.New("envelope: malformed")
	// ErrUnsupportedVersion: an envelope of a version this build cannot read.
	ErrUnsupportedVersion = errors.New("envelope: unsupported version")
	// ErrKeyMismatch: sealed under another key (the key ids differ).
	ErrKeyMismatch = errors.New("envelope: sealed under another key")
	// ErrAuth: the ciphertext or its binding was altered, or the key is wrong.
	ErrAuth = errors.New("envelope: authentication failed")
)

// Binding is what a sealed record is bound to. A record sealed for one
// binding does not open under any other.
type Binding struct {
	User        string
	Device      string
	Integration string
}

// Envelope is a parsed envelope.
type Envelope struct {
	KeyID      string
	Nonce      []byte // 24 bytes
	Ciphertext []byte // includes the 16-byte tag
}

// Parse decodes the wire form without opening it. It never panics and
// returns ErrMalformed or ErrUnsupportedVersion (wrapped) on bad input.
func Parse(s string) (Envelope, error) {
	if len(s) > MaxLen {
		return Envelope{}, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, MaxLen)
	}
	ver, rest, ok := strings.Cut(s, ".")
	if !ok {
		return Envelope{}, fmt.Errorf("%w: no version prefix", ErrMalformed)
	}
	if ver != Version {
		if strings.HasPrefix(ver, "lk") && len(ver) <= 8 {
			return Envelope{}, fmt.Errorf("%w: %q", ErrUnsupportedVersion, ver)
		}
		return Envelope{}, fmt.Errorf("%w: unknown prefix", ErrMalformed)
	}
	kid, body, ok := strings.Cut(rest, ".")
	if !ok || !validKeyID(kid) {
		return Envelope{}, fmt.Errorf("%w: bad key id", ErrMalformed)
	}
	// The decoder skips CR and LF even in strict mode; refuse them (and
	// anything else outside the alphabet) so that only the canonical text
	// parses.
	if !validBody(body) {
		return Envelope{}, fmt.Errorf("%w: body is not base64url", ErrMalformed)
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(body)
	if err != nil {
		return Envelope{}, fmt.Errorf("%w: body is not base64url", ErrMalformed)
	}
	if len(raw) < chacha20poly1305.NonceSizeX+chacha20poly1305.Overhead {
		return Envelope{}, fmt.Errorf("%w: body too short", ErrMalformed)
	}
	return Envelope{
		KeyID:      kid,
		Nonce:      raw[:chacha20poly1305.NonceSizeX],
		Ciphertext: raw[chacha20poly1305.NonceSizeX:],
	}, nil
}

// Valid reports whether s is a well-formed envelope of a supported version.
// The remote store uses it to refuse anything that is not ciphertext.
func Valid(s string) bool {
	_, err := Parse(s)
	return err == nil
}

// String encodes e in the wire form.
func (e Envelope) String() string {
	raw := make([]byte, 0, len(e.Nonce)+len(e.Ciphertext))
	raw = append(raw, e.Nonce...)
	raw = append(raw, e.Ciphertext...)
	return Version + "." + e.KeyID + "." + base64.RawURLEncoding.EncodeToString(raw)
}

// Seal encrypts plaintext under key (32 bytes) with a fresh random nonce,
// bound to b, and returns the wire form.
func Seal(key []byte, keyID string, b Binding, plaintext []byte) (string, error) {
	nonce := make([]byte, chacha20poly1305.NonceSizeX, chacha20poly1305.NonceSizeX+len(plaintext)+chacha20poly1305.Overhead)
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("envelope: nonce: %w", err)
	}
	return sealNonce(key, keyID, b, nonce, plaintext)
}

// sealNonce is Seal with the nonce given (24 bytes; the ciphertext is
// appended to it when it has the capacity). Seal is its only caller outside
// the known-answer tests, which need a fixed nonce.
func sealNonce(key []byte, keyID string, b Binding, nonce, plaintext []byte) (string, error) {
	if !validKeyID(keyID) {
		return "", fmt.Errorf("envelope: bad key id")
	}
	if len(nonce) != chacha20poly1305.NonceSizeX {
		return "", fmt.Errorf("envelope: nonce is %d bytes, not %d", len(nonce), chacha20poly1305.NonceSizeX)
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return "", fmt.Errorf("envelope: %w", err)
	}
	sealed := aead.Seal(nonce, nonce, plaintext, associatedData(keyID, b))
	return Envelope{KeyID: keyID, Nonce: sealed[:len(nonce)], Ciphertext: sealed[len(nonce):]}.String(), nil
}

// Open parses s and decrypts it under key, which must be the key named
// keyID. A record sealed under another key id fails with ErrKeyMismatch
// without being tried; any alteration fails with ErrAuth.
func Open(key []byte, keyID string, b Binding, s string) ([]byte, error) {
	e, err := Parse(s)
	if err != nil {
		return nil, err
	}
	return e.Open(key, keyID, b)
}

// Open decrypts a parsed envelope, as the function Open does once it has
// parsed one.
func (e Envelope) Open(key []byte, keyID string, b Binding) ([]byte, error) {
	if e.KeyID != keyID {
		return nil, ErrKeyMismatch
	}
	aead, err := NewAEAD(key)
	if err != nil {
		return nil, err
	}
	return e.OpenAEAD(aead, keyID, b, nil)
}

// NewAEAD returns the cipher of key (32 bytes) for OpenAEAD. It holds its
// own copy of the key and is safe for concurrent use: build it once per key
// rather than per record.
func NewAEAD(key []byte) (cipher.AEAD, error) {
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	return aead, nil
}

// OpenAEAD is Open with a cipher from NewAEAD for the key named keyID. The
// plaintext is appended to dst[:0] (nil: a new slice), so a caller may
// reuse, and wipe, one buffer.
func (e Envelope) OpenAEAD(aead cipher.AEAD, keyID string, b Binding, dst []byte) ([]byte, error) {
	if e.KeyID != keyID {
		return nil, ErrKeyMismatch
	}
	pt, err := aead.Open(dst[:0], e.Nonce, e.Ciphertext, associatedData(keyID, b))
	if err != nil {
		return nil, ErrAuth
	}
	return pt, nil
}

// associatedData is an unambiguous, length-prefixed encoding of the version,
// the key id and the binding.
func associatedData(keyID string, b Binding) []byte {
	fields := [...]string{Version, keyID, b.User, b.Device, b.Integration}
	n := 0
	for _, f := range fields {
		n += 4 + len(f)
	}
	ad := make([]byte, 0, n)
	for _, f := range fields {
		ad = binary.BigEndian.AppendUint32(ad, uint32(len(f)))
		ad = append(ad, f...)
	}
	return ad
}

func validKeyID(s string) bool {
	if len(s) != KeyIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func validBody(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
