package vault

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/latchkey/latchkey/vault/envelope"
	"github.com/latchkey/latchkey/vault/store"
)

// katVector is one entry of testdata/kat.json: the inputs of a seal (salt,
// user, device, integration, nonce, plaintext) and what they must give (the
// derived key and key id, the exact envelope, the token it decodes to). The
// file is written by testdata/kat_gen.py, an implementation independent of
// this package; every value in it is a test constant.
type katVector struct {
	Name        string `json:"name"`
	Salt        string `json:"salt"`
	User        string `json:"user"`
	Device      string `json:"device"`
	Integration string `json:"integration"`
	Nonce       string `json:"nonce"`
	Plaintext   string `json:"plaintext"`
	Key         string `json:"key"`
	KeyID       string `json:"key_id"`
	Envelope    string `json:"envelope"`
	Token       struct {
		AccessToken  string `json:"access_token"`
		TokenType    string `json:"token_type"`
		RefreshToken string `json:"refresh_token"`
		Expiry       string `json:"expiry"`
		ExpiresIn    int64  `json:"expires_in"`
		ExtraScope   string `json:"extra_scope"`
	} `json:"token"`
}

func loadKAT(t testing.TB) []katVector {
	t.Helper()
	b, err := os.ReadFile("testdata/kat.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Vectors []katVector }
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("testdata/kat.json: %v", err)
	}
	if len(f.Vectors) == 0 {
		t.Fatal("testdata/kat.json holds no vectors")
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

// TestKnownAnswerDerivation: the salt and user of each vector derive
// exactly its record key and key id. A change to the HKDF inputs (hash,
// info strings, lengths, which argument is the secret) fails here.
func TestKnownAnswerDerivation(t *testing.T) {
	t.Parallel()
	for _, v := range loadKAT(t) {
		k, err := deriveKey(unhex(t, v.Salt), v.User)
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		if got := hex.EncodeToString(k.aes); got != v.Key {
			t.Errorf("%s: record key %s, want %s", v.Name, got, v.Key)
		}
		if k.id != v.KeyID {
			t.Errorf("%s: key id %s, want %s", v.Name, k.id, v.KeyID)
		}
		// Sealing the vector's plaintext under the derived key with the
		// vector's nonce gives the very envelope (the envelope package's
		// own known-answer test checks the seal itself).
		pt, err := envelope.Open(k.aes, k.id, envelope.Binding{User: v.User, Device: v.Device, Integration: v.Integration}, v.Envelope)
		if err != nil {
			t.Errorf("%s: the envelope does not open under the derived key: %v", v.Name, err)
		} else if !bytes.Equal(pt, unhex(t, v.Plaintext)) {
			t.Errorf("%s: opened to %x, want %s", v.Name, pt, v.Plaintext)
		}
	}
}

// TestKnownAnswerVault: a vault opened on a keychain holding a vector's
// salt, for its user and device, has its key id and opens its envelope,
// stored as a record, to its token: records written by any earlier build
// in these formats stay readable.
func TestKnownAnswerVault(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, v := range loadKAT(t) {
		t.Run(v.Name, func(t *testing.T) {
			kc := testKeychain(t)
			if err := kc.Set(DefaultService, v.User, base64.StdEncoding.EncodeToString(unhex(t, v.Salt))); err != nil {
				t.Fatal(err)
			}
			st := openStore(t, t.TempDir()+"/store.db")
			vt, rep := mustOpen(t, Options{Keychain: kc, Store: st, User: v.User, Device: v.Device})
			if rep.CreatedSalt {
				t.Fatal("the vault made a new salt instead of using the keychain's")
			}
			if vt.KeyID() != v.KeyID {
				t.Fatalf("key id %s, want %s", vt.KeyID(), v.KeyID)
			}
			rec := store.Record{Key: store.Key{User: v.User, Device: v.Device, Integration: v.Integration}, KeyID: v.KeyID, Envelope: v.Envelope}
			if _, err := st.PutRecord(ctx, rec, store.CreateOnly); err != nil {
				t.Fatal(err)
			}
			tok, _, err := vt.LoadToken(ctx, v.Integration)
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			w := v.Token
			if tok.AccessToken != w.AccessToken || tok.TokenType != w.TokenType || tok.RefreshToken != w.RefreshToken || tok.ExpiresIn != w.ExpiresIn {
				t.Errorf("token fields differ from the vector's %+v", w)
			}
			if w.Expiry == "" {
				if !tok.Expiry.IsZero() {
					t.Errorf("expiry %v, want none", tok.Expiry)
				}
			} else if want, err := time.Parse(time.RFC3339Nano, w.Expiry); err != nil || !tok.Expiry.Equal(want) {
				t.Errorf("expiry %v, want %s (%v)", tok.Expiry, w.Expiry, err)
			}
			if got, _ := tok.Extra("scope").(string); got != w.ExtraScope {
				t.Errorf("extra scope %q, want %q", got, w.ExtraScope)
			}
			// Sealed again, the token opens to the same fields (the nonce is
			// fresh, so the envelope differs).
			again, err := vt.Seal(v.Integration, tok)
			if err != nil {
				t.Fatal(err)
			}
			if again.Envelope == v.Envelope {
				t.Error("a fresh seal reproduced the vector's envelope: the nonce is not random")
			}
			if tok2, err := vt.OpenRecord(again); err != nil || tok2.AccessToken != w.AccessToken {
				t.Errorf("re-sealed token: %v", err)
			}
		})
	}
}
