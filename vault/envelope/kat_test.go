package envelope

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"
)

// katVector is the part of an entry of ../testdata/kat.json (the vault's
// known-answer vectors, written by kat_gen.py from an independent
// implementation) that concerns the envelope: key, key id, binding, nonce
// and plaintext in, the exact envelope out. The vault's own test checks
// that the salt and user derive that key and id.
type katVector struct {
	Name        string `json:"name"`
	User        string `json:"user"`
	Device      string `json:"device"`
	Integration string `json:"integration"`
	Nonce       string `json:"nonce"`
	Plaintext   string `json:"plaintext"`
	Key         string `json:"key"`
	KeyID       string `json:"key_id"`
	Envelope    string `json:"envelope"`
}

func (v katVector) binding() Binding {
	return Binding{User: v.User, Device: v.Device, Integration: v.Integration}
}

func loadKAT(t testing.TB) []katVector {
	t.Helper()
	b, err := os.ReadFile("../testdata/kat.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Vectors []katVector }
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("kat.json: %v", err)
	}
	if len(f.Vectors) == 0 {
		t.Fatal("kat.json holds no vectors")
	}
	return f.Vectors
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestKnownAnswerSeal: sealing each vector's plaintext with its nonce gives
// exactly its envelope, and the envelope parses back to that nonce and
// opens to that plaintext. A change to the cipher, the associated data, the
// nonce placement or the text encoding fails here.
func TestKnownAnswerSeal(t *testing.T) {
	t.Parallel()
	for _, v := range loadKAT(t) {
		key, nonce, pt := unhex(t, v.Key), unhex(t, v.Nonce), unhex(t, v.Plaintext)
		got, err := sealNonce(key, v.KeyID, v.binding(), nonce, pt)
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		if got != v.Envelope {
			t.Errorf("%s: sealed\n  %s\nwant\n  %s", v.Name, got, v.Envelope)
		}
		e, err := Parse(v.Envelope)
		if err != nil {
			t.Fatalf("%s: parse: %v", v.Name, err)
		}
		if e.KeyID != v.KeyID || !bytes.Equal(e.Nonce, nonce) || len(e.Ciphertext) != len(pt)+16 {
			t.Errorf("%s: parsed to key id %s, nonce %x, %d bytes of ciphertext", v.Name, e.KeyID, e.Nonce, len(e.Ciphertext))
		}
		if opened, err := Open(key, v.KeyID, v.binding(), v.Envelope); err != nil || !bytes.Equal(opened, pt) {
			t.Errorf("%s: open: %v", v.Name, err)
		}
	}
}

func TestSealNonceRefusesBadNonce(t *testing.T) {
	t.Parallel()
	for _, n := range [][]byte{nil, make([]byte, 12), make([]byte, 25)} {
		if _, err := sealNonce(fuzzKey, fuzzKeyID, alice, n, plainT); err == nil {
			t.Errorf("a %d-byte nonce was accepted", len(n))
		}
	}
}
