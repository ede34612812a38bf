package vault

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/vault/envelope"
	"github.com/latchkey/latchkey/vault/store"
)

// Every seal carries a sequence inside the ciphertext; OpenNewer refuses a
// record that is older than the local one, or another record of the same
// sequence, and a reopened vault keeps sealing above what it holds.
func TestOpenNewerRefusesOlder(t *testing.T) {
	ctx := context.Background()
	kc := testKeychain(t)
	path := filepath.Join(t.TempDir(), "latchkey.db")
	st := openStore(t, path)
	v, _ := mustOpen(t, Options{Keychain: kc, Store: st, User: "alice"})
	if err := v.SaveToken(ctx, "docebo", &oauth2.Token{AccessToken: "at-1", RefreshToken: "rt-1"}, nil, false); err != nil {
		t.Fatal(err)
	}
	old, err := st.GetRecord(ctx, v.storeKey("docebo"))
	if err != nil {
		t.Fatal(err)
	}
	if err := v.SaveToken(ctx, "docebo", &oauth2.Token{AccessToken: "at-2", RefreshToken: "rt-2"}, nil, false); err != nil {
		t.Fatal(err)
	}
	cur, err := st.GetRecord(ctx, v.storeKey("docebo"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.OpenNewer(ctx, old); !errors.Is(err, ErrNotNewer) {
		t.Fatalf("an older record was accepted: %v", err)
	}
	// The record it holds itself is not "older".
	if tok, err := v.OpenNewer(ctx, cur); err != nil || tok.AccessToken != "at-2" {
		t.Fatalf("the local record itself: %v", err)
	}
	// A record with no sequence (sealed before sequences) is older than one
	// with a sequence, and still opens.
	pt, err := encodeToken(&oauth2.Token{AccessToken: "at-legacy"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := envelope.Seal(v.cur.aes, v.cur.id, v.binding("docebo"), pt)
	if err != nil {
		t.Fatal(err)
	}
	legacy := store.Record{Key: v.storeKey("docebo"), KeyID: v.cur.id, Envelope: s}
	if tok, err := v.OpenRecord(legacy); err != nil || tok.AccessToken != "at-legacy" {
		t.Fatalf("a record without a sequence does not open: %v", err)
	}
	if _, err := v.OpenNewer(ctx, legacy); !errors.Is(err, ErrNotNewer) {
		t.Fatalf("a record without a sequence replaced one with: %v", err)
	}
	// Another vault of this device (a restart) seals above the record it holds.
	st.Close()
	st2 := openStore(t, path)
	v2, _ := mustOpen(t, Options{Keychain: kc, Store: st2, User: "alice"})
	if v2.seq.Load() < v.seq.Load() {
		t.Fatalf("a reopened vault starts its sequence at %d, below the %d it holds", v2.seq.Load(), v.seq.Load())
	}
	newer, err := v2.Seal("docebo", &oauth2.Token{AccessToken: "at-3"})
	if err != nil {
		t.Fatal(err)
	}
	if tok, err := v2.OpenNewer(ctx, newer); err != nil || tok.AccessToken != "at-3" {
		t.Fatalf("a newer record was refused: %v", err)
	}
}
